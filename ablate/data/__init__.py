"""Datasets: readers, class scenarios, grouped splits, the synthetic set and the decode cache.

The names below load lazily (importing ``ablate.data.listing`` must not import torch). The
training engine needs one call::

    prepared = prepare_data(cfg.data, cfg.input_size, fold=None, progress=print)
    x = normalize_batch(prepared.train.images[idx].to(device), cfg.data.normalize)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "cache_key": "cache",
    "cache_root": "cache",
    "decode_all": "cache",
    "CacheReport": "datasets",
    "PreparedData": "datasets",
    "Split": "datasets",
    "cache_dataset": "datasets",
    "dataset_hash": "datasets",
    "load_samples": "listing",
    "normalize_batch": "datasets",
    "prepare_data": "datasets",
    "scan_folder": "listing",
    "load_image": "images",
    "Sample": "samples",
    "read_manifest": "samples",
    "write_manifest": "samples",
    "SCENARIOS": "scenarios",
    "apply_scenario": "scenarios",
    "canonical_label": "scenarios",
    "kfold_indices": "splits",
    "make_splits": "splits",
    "generate_synthetic": "synthetic",
}

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


def __getattr__(name: str) -> Any:
    """The names above load lazily: `ablate.data.listing` and the checks stay torch-free."""
    if name not in _HOMES:
        raise AttributeError(f"module 'ablate.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ablate.data.{_HOMES[name]}"), name)
