"""Datasets: readers, class scenarios, grouped splits, the synthetic set and the decode cache."""

from __future__ import annotations

from ablate.data.datasets import PreparedData, Split, load_samples, normalize_batch, prepare_data, scan_folder
from ablate.data.images import load_image
from ablate.data.samples import Sample, read_manifest, write_manifest
from ablate.data.scenarios import SCENARIOS, apply_scenario
from ablate.data.splits import kfold_indices, make_splits
from ablate.data.synthetic import generate_synthetic

__all__ = [
    "SCENARIOS",
    "PreparedData",
    "Sample",
    "Split",
    "apply_scenario",
    "generate_synthetic",
    "kfold_indices",
    "load_image",
    "load_samples",
    "make_splits",
    "normalize_batch",
    "prepare_data",
    "read_manifest",
    "scan_folder",
    "write_manifest",
]
