"""Runners: `local` (this process) and `ray` (Ray Tune + Ray Train; the only Ray imports)."""
