"""Per-trial resources and concurrency, derived from the cluster's resources (no Ray calls)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from ablate.config import SweepConfig
from ablate.errors import ConfigError

log = logging.getLogger(__name__)
DRIVER_RESOURCE = "ablate_driver"  # custom resource of the node(s) that host the Tune trials of Train runs


@dataclass(frozen=True)
class Plan:
    """Resources of one trial and how many trials run at once."""

    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    concurrency: int
    placement: str = "PACK"  # Ray's strategy for a Train run's workers: PACK or SPREAD
    driver: dict[str, float] = field(default_factory=dict)  # what the Tune trial holds

    @property
    def inline(self) -> bool:
        """A single-worker trial trains inside its Tune trial (no Train worker group to start)."""
        return self.workers == 1

    @property
    def worker(self) -> dict[str, float]:
        """One worker's resources (the Tune trial's own when inline; each Train worker's otherwise)."""
        return {"CPU": float(self.cpus_per_worker), **({"GPU": self.gpus_per_worker} if self.gpus_per_worker else {})}

    @property
    def bundles(self) -> list[dict[str, float]]:
        """What the Tune trial requests: one worker's resources when it trains itself, else the light
        driver's (the Train run reserves its workers in a placement group of its own)."""
        return [dict(self.driver)]


def plan_resources(sweep: SweepConfig, cluster: dict[str, float], *, strict: bool) -> Plan:
    """Per-trial resources and concurrency from the cluster's resources and the sweep.

    Args:
        cluster: ``ray.cluster_resources()``.
        strict: raise when a trial cannot fit (a fixed local machine); else warn (autoscaling).
    """
    res = sweep.resources
    total_cpu, total_gpu = cluster.get("CPU", 0.0), cluster.get("GPU", 0.0)
    gpus = (1.0 if total_gpu > 0 else 0.0) if res.gpus_per_worker == "auto" else float(res.gpus_per_worker)
    if res.workers == 1:  # the Tune trial is the worker: it holds the worker's resources
        driver = {"CPU": float(res.cpus_per_worker), **({"GPU": gpus} if gpus else {})}
        trial_cpu = float(res.cpus_per_worker)
    else:  # a light driver (on the nodes that declare DRIVER_RESOURCE, else 0.01 CPU) + the Train workers
        driver = {DRIVER_RESOURCE: 1.0} if cluster.get(DRIVER_RESOURCE, 0) > 0 else {"CPU": 0.01}
        trial_cpu = res.workers * res.cpus_per_worker + driver.get("CPU", 0.0)
    fits = [math.floor(total_cpu / trial_cpu + 1e-9)]
    if gpus > 0:
        fits.append(math.floor(total_gpu / (res.workers * gpus) + 1e-9))
    fit = min(fits)
    if res.gpus_per_worker == "auto" and gpus == 0 and not strict:
        log.warning("no GPU in the cluster now: trials train on CPU; set resources.gpus_per_worker=1 "
                    "to wait for GPU nodes from an autoscaler")
    if fit < 1:
        msg = (f"one trial needs {res.workers} worker(s) x {res.cpus_per_worker:g} CPU"
               + (f" x {gpus:g} GPU" if gpus else "")
               + f" but the cluster has {total_cpu:g} CPU / {total_gpu:g} GPU; lower resources.*")
        if strict:
            raise ConfigError(msg)
        log.warning("%s (waiting for the autoscaler)", msg)
        fit = 1
    concurrency = min(fit, sweep.search.max_concurrent or fit)
    return Plan(res.workers, res.cpus_per_worker, gpus, concurrency, res.placement, driver)
