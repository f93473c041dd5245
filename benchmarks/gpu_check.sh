#!/usr/bin/env bash
# GPU check (issue 13): engine vs plain loop, fp32 vs AMP (bf16) + channels-last, MobileNetV3-small
# (modified) and ResNet18 (modified) at 299 px batch 128, the data path's share of a step, peak
# memory, and `ablate run --local` of two 1-epoch trials; with 2+ GPUs, the same with 2 workers
# per trial (Ray Train, NCCL; with one GPU it says so). Prints one table, writes JSON (--json, or
# results/gpu_check.json). About 3-5 minutes on one datacenter GPU (hard limit 8 minutes).
#
#   bash benchmarks/gpu_check.sh                          # on the GPU machine -> results/gpu_check.json
#   bash benchmarks/gpu_check.sh --dry-run --json /tmp/g.json   # CPU, tiny sizes, < 1 minute
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
exec timeout 480 "$PY" benchmarks/gpu_check.py "$@"
