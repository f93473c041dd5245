"""Ray start-up: the environment Ray reads, a local instance, or joining a cluster."""

from __future__ import annotations

import logging
import os

import ray

from ablate.errors import AblateError
from ablate.runners.ray.common import one_line
from ablate.runners.ray.resources import DRIVER_RESOURCE
from ablate.study.address import probe

_ENV = {  # read when Ray starts and when Tune/Train run (not at import); the user's values win
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # with verbose=0 the legacy reporter prints nothing
    "RAY_CHDIR_TO_TRIAL_DIR": "0",  # keep relative paths meaning what they meant
    # Tune's own per-trial result.json / progress.csv stay on (a few kB per trial), so Ray's tools
    # read the experiment: tune.ExperimentAnalysis(RESULTS/ray/<sweep>).dataframe(metric=..., mode=...)
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "0",
    "TUNE_GLOBAL_CHECKPOINT_S": "2",  # experiment state is small: save it often (resume)
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25",  # controller poll: 2 s default delays reports and shutdown
    "RAY_TRAIN_METRICS_ENABLED": "0",
    "RAY_TRAIN_ENABLE_CONTROLLER_STRUCTURED_LOGGING": "0",
    "RAY_TRAIN_ENABLE_WORKER_STRUCTURED_LOGGING": "0",
    "RAY_TRAIN_ENABLE_STATE_ACTOR_RECONCILIATION": "0",
}
_LOCAL_ENV = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}  # one actor less per trial; no spot nodes here


def apply_env(local: bool) -> None:
    """Set Ray's and Tune's environment defaults for a run (values already set are kept)."""
    for k, v in {**_ENV, **(_LOCAL_ENV if local else {})}.items():
        os.environ.setdefault(k, v)


def start_local_ray(num_cpus: int | None = None, num_gpus: int | None = None) -> None:
    """Start a local Ray instance tuned for quick start-up (no dashboard, quiet workers).

    Args:
        num_cpus: logical CPUs (default: all of this machine's).
        num_gpus: GPUs (default: Ray's detection).
    """
    apply_env(local=True)
    ray.init(
        address="local",  # a fresh instance even when RAY_ADDRESS points at a cluster
        num_cpus=num_cpus or os.cpu_count(),
        num_gpus=num_gpus,
        resources={DRIVER_RESOURCE: 1000},  # the Tune trials that launch Train runs (0 CPU each)
        include_dashboard=False,
        log_to_driver=_show_worker_logs(),
        logging_level=logging.ERROR,
        object_store_memory=512 * 2**20,  # results are small; images never travel through it
    )


def connect(address: str) -> None:
    """Join the Ray cluster at `address`, passing our Ray/Tune/ablate variables to its workers.

    Raises:
        AblateError: nothing answers at the address, or Ray cannot join it.
    """
    apply_env(local=False)
    probe(address)
    env = {k: os.environ[k] for k in sorted(os.environ) if k.startswith(("RAY_TRAIN_", "TUNE_", "ABLATE_"))}
    try:
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=_show_worker_logs(),
                 logging_level=logging.ERROR)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:
        ray.shutdown()
        raise AblateError(f"cannot join a Ray cluster at {address}: {one_line(e)}; start one "
                          "(`ray start --head`, or a file in cluster/) or run here with --local") from None


def _show_worker_logs() -> bool:
    return os.environ.get("ABLATE_RAY_LOGS", "0") == "1"
