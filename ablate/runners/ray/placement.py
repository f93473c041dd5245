"""Removing the placement group of a Train run whose controller is gone.

A trial stopped by ASHA kills its driver, and with it the Train controller. Ray's
placement-group cleaner needs the dashboard's state API, so where that is missing
(``ray[tune,train]`` without ``ray[default]``) the workers' placement group would hold its
CPUs/GPUs until the sweep ends. The workers report their group's id with every result (``pg``)
and the recorder removes the group of every ended trial. Train runs never restart their worker
group (``FailureConfig(max_failures=0)``), so a removed group cannot come back.
"""

from __future__ import annotations

import logging

import ray
from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

log = logging.getLogger(__name__)
_LIVE_STATES = ("CREATED", "PENDING", "RESCHEDULING")


def free_placement_group(pg_hex: str | None) -> None:
    """Remove the placement group with this hex id if it still holds (or waits for) resources.

    Args:
        pg_hex: ``PlacementGroup.id.hex()`` as a worker reported it; empty or None: nothing to do.
    """
    if not pg_hex:
        return
    pg = PlacementGroup(ray.PlacementGroupID.from_hex(pg_hex))  # public: ray.__all__ exports the id type
    try:
        if placement_group_table(pg).get("state") in _LIVE_STATES:
            remove_placement_group(pg)
    except Exception as e:  # noqa: BLE001 - already removed by Ray's own cleaner
        log.debug("placement group %s: %s", pg_hex, e)
