"""`ablate results ...`: housekeeping of a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

results_app = typer.Typer(help="Results folders: compact.", no_args_is_help=True)
console = Console(stderr=True)


@results_app.command()
def compact(
    results: Annotated[Path, typer.Argument(help="A results folder (RESULTS/<table>/*.parquet)")],
) -> None:
    """Merge the per-trial files into one file per table (pd.read_parquet reads it whole).

    Runs and `ablate trial` do this when they end; this is for a folder whose run was
    interrupted. Each table folder then holds compacted.parquet, every trial's columns in it.
    """
    from ablate import api

    merged = api.compact_results(results)
    done = ", ".join(f"{table} {n}" for table, n in merged.items()) or "none (already compacted)"
    console.print(f"{results}: per-trial files merged: {done}", soft_wrap=True, highlight=False)
