"""Datasets: readers, class scenarios, grouped splits, the synthetic set and the decode cache.

The training engine needs one call::

    prepared = prepare_data(cfg.data, cfg.input_size, fold=None, progress=print)
    x = normalize_batch(prepared.train.images[idx].to(device), cfg.data.normalize)
"""

from __future__ import annotations

from ablate.data.cache import cache_key, cache_root, decode_all
from ablate.data.datasets import (
    CacheReport,
    PreparedData,
    Split,
    cache_dataset,
    dataset_hash,
    load_samples,
    normalize_batch,
    prepare_data,
    scan_folder,
)
from ablate.data.images import load_image
from ablate.data.samples import Sample, read_manifest, write_manifest
from ablate.data.scenarios import SCENARIOS, apply_scenario, canonical_label
from ablate.data.splits import kfold_indices, make_splits
from ablate.data.synthetic import generate_synthetic

__all__ = [
    "SCENARIOS",
    "CacheReport",
    "PreparedData",
    "Sample",
    "Split",
    "apply_scenario",
    "cache_dataset",
    "cache_key",
    "cache_root",
    "canonical_label",
    "dataset_hash",
    "decode_all",
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
