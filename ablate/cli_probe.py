"""`ablate probe ...`: shortcut checks - the source probe and leave-one-source-out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

probe_app = typer.Typer(help="Shortcut checks: the source probe and leave-one-source-out.", no_args_is_help=True)
console = Console(stderr=True)
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a config key: --set epochs=4")]


@probe_app.command()
def source(
    data: Annotated[str, typer.Argument(help="A manifest CSV with a source column (or a dataset folder holding one)")],
    config: Annotated[str | None, typer.Option("--config", help="Probe with this sweep's model (default: source-probe)")] = None,
    within: Annotated[str | None, typer.Option("--within", help="Probe only this class's sources")] = None,
    set_: SetOpt = None,
    results: Annotated[Path, typer.Option("--results", help="Results folder")] = Path("results/probe"),
) -> None:
    """Train a model to tell the image sources apart; print its accuracy against chance."""
    from ablate.api import run_source_probe
    from ablate.probe.source import verdicts

    df = run_source_probe(data, config=config, within=within, overrides=set_, results=results,
                          say=lambda m: console.print(f"[dim]{m}[/]", soft_wrap=True))
    for line in verdicts(df):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    console.print(f"results: {results}  (table 'probes'; ablate report {results})", soft_wrap=True)


@probe_app.command()
def loso(
    config: Annotated[str, typer.Argument(help="A sweep name (see `ablate list`) or a YAML file")],
    data: Annotated[str | None, typer.Option("--data", help="Sets data.path")] = None,
    source_: Annotated[list[str] | None, typer.Option("--source", help="Hold out only these (default: every one that can be)")] = None,
    set_: SetOpt = None,
    results: Annotated[Path | None, typer.Option("--results", help="Results folder (default: results/<sweep name>)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the sources that can be held out; train nothing")] = False,
) -> None:
    """Leave-one-source-out: the configuration in distribution and with each source held out."""
    from ablate.api import loso_sources, run_leave_one_source_out

    if dry_run:
        ok, every = loso_sources(config, overrides=set_, data=data)
        console.print(f"sources: {', '.join(every)}; can be held out: {', '.join(ok) or 'none'} (a sweep axis: "
                      f"data.hold_out_source: {{grid: [null, {', '.join(ok)}]}})", soft_wrap=True, markup=False)
        return
    outcomes = run_leave_one_source_out(config, sources=source_, overrides=set_, data=data, results=results,
                                        console=console)
    for o in outcomes:
        row = o.trial_row
        held = row.get("cfg.data.hold_out_source") or "none (in distribution)"
        console.print(f"[bold]{o.trial_id}[/] held out {held}: {row['status']} test acc {row['test_acc']:.4f} "
                      f"on {row['n_test']} images", soft_wrap=True)
    console.print("the Shortcut checks section of `ablate report` puts them side by side", soft_wrap=True)
