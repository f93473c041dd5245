"""Runners: `local` (this process) and `ray` (Ray Tune, DDP peers as Ray actors; the only Ray imports)."""
