"""The one place the Parquet result schemas live.

Each table has fixed, typed columns. A `trials` row is built by `ablate.results.record.trial_row`
(its fields: `ablate.results.record.TrialRecord`). The `trials` table also carries the flattened resolved
config (``cfg.*`` columns) and, in sweeps, the searched values (``space.*`` columns); those are
typed from their values. Every row of every table carries ``trial_id``.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

__all__ = ["SELF_COMMITTED", "TABLES", "TRIAL_STATUSES", "schema_for", "table_from_rows"]

TRIAL_STATUSES = ("ok", "failed", "stopped_early")

TABLES: dict[str, pa.Schema] = {
    "trials": pa.schema(
        [
            ("trial_id", pa.string()),
            ("sweep", pa.string()),
            ("name", pa.string()),
            ("seed", pa.int64()),
            ("fold", pa.int64()),  # k-fold: which fold was validation (null without k-fold)
            ("config_hash", pa.string()),
            ("config_json", pa.string()),  # the resolved TrialConfig, JSON
            ("status", pa.string()),  # ok | failed | stopped_early
            ("reason", pa.string()),  # why it failed / was stopped ('' when ok)
            ("backbone", pa.string()),
            ("variant", pa.string()),
            ("scenario", pa.string()),
            ("num_classes", pa.int64()),
            ("class_names", pa.string()),  # JSON list, in class-index order
            ("epochs_run", pa.int64()),
            ("best_epoch", pa.int64()),  # 1-based; -1 when no epoch finished
            ("val_acc", pa.float64()),  # at the best epoch
            ("val_loss", pa.float64()),
            ("test_acc", pa.float64()),  # best weights on the test set; NaN if not evaluated
            ("test_loss", pa.float64()),
            ("params", pa.int64()),
            ("fp32_mb", pa.float64()),  # params * 4 bytes / 1e6 (the paper's "MB")
            # inference cost of the best weights (`ablate.engine.cost`; null when not measured:
            # analysis.latency false, a trial that did not finish, a rank other than 0)
            ("macs", pa.int64()),  # multiply-adds of one forward pass of one image (conv, linear, matmul)
            ("flops", pa.int64()),  # FLOPs of that pass as FlopCounterMode counts them: 2 x macs
            ("latency_ms", pa.float64()),  # median ms of a batch-1 forward pass on the trial's device
            ("throughput_ips", pa.float64()),  # images/s of forward passes at the evaluation batch size
            ("latency_repeats", pa.int64()),  # timed batch-1 passes behind latency_ms
            ("wall_s", pa.float64()),
            ("train_images_per_s", pa.float64()),
            ("n_train", pa.int64()),
            ("n_val", pa.int64()),
            ("n_test", pa.int64()),
            ("dataset_hash", pa.string()),
            ("data_source", pa.string()),
            ("skipped_images", pa.string()),  # JSON list of dropped unreadable images
            ("train_batch_size", pa.int64()),  # per worker, as trained (small sets: below batch_size)
            ("train_bn_momentum", pa.float64()),  # BatchNorm momentum as trained
            ("device", pa.string()),
            ("world_size", pa.int64()),
            ("ablate_version", pa.string()),
            ("torch_version", pa.string()),
            ("torchvision_version", pa.string()),
            ("ray_version", pa.string()),  # '' when Ray is not installed
            ("git_sha", pa.string()),  # '' outside a git checkout
            ("host", pa.string()),
            ("finished_at", pa.timestamp("s", tz="UTC")),
            # the trial's tracked runs, JSON {"mlflow": run id, "wandb": entity/project/run id}; '' untracked
            ("tracking_ids", pa.string()),
        ]
    ),
    "epochs": pa.schema(
        [
            ("trial_id", pa.string()),
            ("epoch", pa.int64()),  # 1-based
            ("phase", pa.int64()),
            ("optimizer", pa.string()),
            ("lr", pa.float64()),  # at the end of the epoch
            ("train_loss", pa.float64()),
            ("train_acc", pa.float64()),
            ("val_loss", pa.float64()),
            ("val_acc", pa.float64()),
            ("images_per_s", pa.float64()),  # training throughput of this epoch
            ("epoch_s", pa.float64()),
        ]
    ),
    "class_metrics": pa.schema(
        [
            ("trial_id", pa.string()),
            ("split", pa.string()),  # val | test
            ("class_index", pa.int64()),
            ("class_name", pa.string()),
            ("precision", pa.float64()),
            ("sensitivity", pa.float64()),  # recall
            ("f1", pa.float64()),
            ("support", pa.int64()),
        ]
    ),
    "confusion": pa.schema(
        [
            ("trial_id", pa.string()),
            ("split", pa.string()),
            ("true_index", pa.int64()),
            ("true_class", pa.string()),
            ("pred_index", pa.int64()),
            ("pred_class", pa.string()),
            ("count", pa.int64()),
        ]
    ),
    "robustness": pa.schema(  # Tables 15/16: test accuracy under pixel noise
        [
            ("trial_id", pa.string()),
            ("form", pa.string()),  # clean | form1 (a + m*randn) | form2 (n*a + m*randn) | custom
            ("n", pa.float64()),
            ("m", pa.float64()),
            ("seed", pa.int64()),
            ("accuracy", pa.float64()),
            ("n_images", pa.int64()),
        ]
    ),
    "gradients": pa.schema(  # Fig. 6: |gradient| of the first eight conv layers, per epoch
        [
            ("trial_id", pa.string()),
            ("epoch", pa.int64()),
            ("layer", pa.string()),  # module name, or 'all'
            ("abs_grad_mean", pa.float64()),
            ("abs_grad_var", pa.float64()),
            ("n_params", pa.int64()),
        ]
    ),
    "predictions": pa.schema(  # per test image: what paired tests (McNemar) need
        [
            ("trial_id", pa.string()),
            ("split", pa.string()),
            ("image", pa.string()),  # path as the dataset gives it
            ("label", pa.int64()),
            ("pred", pa.int64()),
            ("correct", pa.bool_()),
        ]
    ),
}

# the source probe (`ablate probe source`): a trials row of the probe model plus what it found;
# its own commit marker (probe ids have no trials row)
TABLES["probes"] = pa.schema(
    list(TABLES["trials"])
    + [
        ("probe", pa.string()),  # what is predicted: source
        ("probe_task", pa.string()),  # the class whose sources are told apart, or 'all'
        ("probe_data", pa.string()),  # the dataset probed (its name, as the report's `dataset`)
        ("probe_labels", pa.string()),  # JSON list of the sources, in class-index order
        ("n_correct", pa.int64()),  # correct test predictions (of n_test)
        ("chance", pa.float64()),  # share of the test set's most common source
        ("chance_label", pa.string()),
        ("test_counts", pa.string()),  # JSON {source: test images}
    ]
)
SELF_COMMITTED = frozenset({"probes"})  # tables whose rows are complete without a trials row


def schema_for(table: str, rows: list[dict[str, Any]]) -> pa.Schema:
    """The table's fixed schema plus typed extra columns (``cfg.*``, ``space.*``) in row order."""
    if table not in TABLES:
        raise KeyError(f"unknown results table {table!r}; known: {', '.join(TABLES)}")
    base = TABLES[table]
    fields = list(base)
    known = set(base.names)
    for row in rows:
        for key in row:
            if key not in known:
                known.add(key)
                fields.append(pa.field(key, _arrow_type([r.get(key) for r in rows])))
    return pa.schema(fields)


def _arrow_type(values: list[Any]) -> pa.DataType:
    vals = [v for v in values if v is not None]
    if not vals:
        return pa.string()
    if all(isinstance(v, bool) for v in vals):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return pa.float64()
    return pa.string()


def table_from_rows(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows -> an Arrow table with the table's schema; missing fixed columns are an error."""
    schema = schema_for(table, rows)
    missing = [n for n in TABLES[table].names if any(n not in r for r in rows)]
    if missing:
        raise ValueError(f"{table} rows lack column(s) {missing}")
    cols = {}
    for field in schema:
        vals = [r.get(field.name) for r in rows]
        if pa.types.is_string(field.type):
            vals = [None if v is None else v if isinstance(v, str) else str(v) for v in vals]
        cols[field.name] = pa.array(vals, type=field.type)
    return pa.table(cols, schema=schema)
