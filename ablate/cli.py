"""The `ablate` command: thin typer commands, each calling one function of `ablate.api`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ablate.cli_weights import WeightsDirOpt, use_weights_dir
from ablate.errors import AblateError

if TYPE_CHECKING:
    from ablate.study import Plan

app = typer.Typer(
    help="Hyperparameter and ablation sweeps for CNN image classifiers, with Parquet results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain click help: flags read `--skip-bad`, not `--skip-bad <bool>` (typer 0.29 rich panels)
)
console = Console(stderr=True)
out = Console()
_state = {"debug": False}

SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a config key: --set epochs=2 --set fusion.pcb_channels=32")]
DataOpt = Annotated[str | None, typer.Option("--data", help="'synthetic', a class-per-folder tree or a manifest CSV (sets data.path)")]
TrackOpt = Annotated[list[str] | None, typer.Option("--track", help="Also track each trial in mlflow[=URI] or wandb[=PROJECT] (repeatable)")]
ResultsOpt = Annotated[Path | None, typer.Option("--results", help="Results folder (default: results/<sweep name>)")]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors")] = False) -> None:
    _state["debug"] = debug


@app.command()
def trial(
    config: Annotated[str, typer.Argument(help="A sweep name (see `ablate list`) or a YAML file")],
    set_: SetOpt = None,
    data: DataOpt = None,
    results: ResultsOpt = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Drop unreadable images (recorded in the trial row)")] = False,
    variant: Annotated[list[str] | None, typer.Option("--variant", help="Ablation variant(s) of the sweep to run, or 'all'")] = None,
    weights_dir: WeightsDirOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and print the plan (trials, config ids); train nothing")] = False,
    track: TrackOpt = None,
) -> None:
    """Train one configuration here (one GPU or the CPU) and write its Parquet rows."""
    from ablate import api

    use_weights_dir(weights_dir)
    set_ = [*(set_ or []), *(["data.skip_bad=true"] if skip_bad else [])]
    if dry_run:
        _print_plan(api.plan("trial", config, overrides=set_, data=data, results=results, variants=variant, track=track))
        return
    outcomes = api.run_trials(config, overrides=set_, data=data, results=results, variants=variant, console=console,
                              track=track)
    for o in outcomes:
        row = o.trial_row
        cost = "" if row.get("latency_ms") is None else (
            f", {row['macs'] / 1e6:,.1f} MMACs, {row['latency_ms']:.2f} ms an image at batch 1 on {row['device']}")
        console.print(
            f"[bold]{o.trial_id}[/]: {row['status']} best epoch {row['best_epoch']} "
            f"val acc {row['val_acc']:.4f} test acc {row['test_acc']:.4f} ({row['wall_s']:.1f}s){cost}",
            soft_wrap=True,
        )
    folder = results or api.default_results_dir(api.load_with_data(config, set_, data, check_space=False))
    console.print(f"results: {folder}  (ablate.results.load({str(folder)!r}))", soft_wrap=True)
    failed = [o for o in outcomes if o.status != "ok"]
    if failed:
        raise AblateError(f"trial {failed[0].trial_id} failed: {failed[0].reason}")


@app.command()
def run(
    sweep: Annotated[str, typer.Argument(help="A sweep name (see `ablate list`) or a YAML file")],
    local: Annotated[bool, typer.Option("--local", help="Run on this machine with a local Ray instance")] = False,
    address: Annotated[str | None, typer.Option("--address", help="Join a Ray cluster: auto or ray://HOST:10001")] = None,
    storage: Annotated[str | None, typer.Option("--storage", help="Shared path or URI for checkpoints (multi-node)")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted sweep (errored trials retried)")] = False,
    set_: SetOpt = None,
    data: DataOpt = None,
    results: ResultsOpt = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Drop unreadable images (recorded in the trial rows)")] = False,
    variant: Annotated[list[str] | None, typer.Option("--variant", help="Run only these ablation variant(s) (repeatable)")] = None,
    weights_dir: WeightsDirOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and print the plan (stages, trials, config ids); start no Ray")] = False,
    track: TrackOpt = None,
) -> None:
    """Run a sweep's stages (probe, search, confirm, ablation): Ray Tune + Optuna + ASHA, each trial on 1+ DDP workers."""
    from ablate import api

    use_weights_dir(weights_dir)
    set_ = [*(set_ or []), *(["data.skip_bad=true"] if skip_bad else [])]
    if dry_run:
        _print_plan(api.plan("run", sweep, overrides=set_, data=data, results=results, variants=variant,
                             address=address, local=local, track=track))
        return
    api.run_sweep(sweep, overrides=set_, data=data, results=results, local=local, address=address,
                  storage=storage, resume=resume, variants=variant, console=console, track=track)


def _print_plan(plan: Plan) -> None:
    for line in plan.lines():
        out.print(line, highlight=False, soft_wrap=True, markup=False)


@app.command("list")
def list_() -> None:
    """The experiments in search_spaces/ with a one-line description."""
    from ablate import api

    table = Table("sweep", "description")
    for s in api.list_sweeps():
        table.add_row(s["name"], s["description"])
    out.print(table)


@app.command()
def backbones() -> None:
    """The registered backbones and their default taps for the modification."""
    from ablate.models.specs import backbone_info, backbone_names

    table = Table("backbone", "default taps", "candidate taps")
    for name in backbone_names():
        spec = backbone_info(name)
        table.add_row(name, ", ".join(spec.default_taps), ", ".join(spec.candidate_taps))
    out.print(table)


@app.command()
def report(
    target: Annotated[str, typer.Argument(help="A results folder or a sweep name (results/<name>)")],
    fmt: Annotated[str, typer.Option("--format", help="md | html (one page, figures embedded) | latex | csv")] = "md",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder (default RESULTS/report)")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Family-wise level of 'significant' (Holm per table)")] = 0.05,
    pareto: Annotated[str | None, typer.Option("--pareto", help="Frontier figure's columns x,y (latency_ms,test_acc)")]
    = None,
) -> None:
    """Regenerate the paper's tables (with CIs and paired tests) and figures from results."""
    from ablate.report import make_report

    files, missing = make_report(target, fmt, out_dir, alpha=alpha, pareto=pareto)
    for m in missing:
        console.print(f"[yellow]not in the report:[/] {m}", soft_wrap=True)  # a section without results, left-out trials
    for f in files:
        out.print(str(f))


@app.command()
def schema(
    trial: Annotated[bool, typer.Option("--trial", help="The schema of a bare trial file (no trial:/search: sections)")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write it to this file (default: print it)")] = None,
) -> None:
    """The JSON Schema of a sweep file, for editors (yaml-language-server) and validators."""
    from ablate.config.schema import schema_text

    text = schema_text("trial" if trial else "sweep")
    if output is None:
        sys.stdout.write(text)
        return
    from ablate.atomic import atomic_write_text

    atomic_write_text(output, text)
    console.print(f"wrote {output}")


@app.command()
def robustness(
    results: Annotated[str, typer.Argument(help="A results folder or sweep name")],
    trial: Annotated[list[str] | None, typer.Option("--trial", help="Trial id(s); default: every saved model")] = None,
    level: Annotated[list[str] | None, typer.Option("--level", help="Extra noise level n,m (a' = n*a + m*randn)")] = None,
    seed: Annotated[int, typer.Option(help="Noise seed")] = 0,
    data: DataOpt = None,
) -> None:
    """Test accuracy of saved models under the paper's pixel noise (Tables 15, 16)."""
    from ablate import api

    levels = []
    for lv in level or []:
        try:
            n, m = (float(v) for v in lv.split(","))
        except ValueError:
            raise AblateError(f"--level {lv!r} must be n,m (e.g. --level 1,20)") from None
        levels.append((n, m))
    api.robustness(results, trial_ids=trial, levels=levels, seed=seed, data=data, console=console)


@app.command()
def cam(
    results: Annotated[str, typer.Argument(help="A results folder or sweep name")],
    trial: Annotated[str, typer.Option("--trial", help="Trial id of a saved model")],
    layer: Annotated[str | None, typer.Option(help="Module name (default: the backbone's last conv)")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder (default RESULTS/cam/<trial>)")] = None,
    data: DataOpt = None,
) -> None:
    """Grad-CAM maps of one test image per class (Fig. 7)."""
    from ablate import api

    for p in api.cam(results, trial, layer=layer, out=out_dir, data=data, console=console):
        out.print(str(p))


@app.command()
def replay(
    sweep: Annotated[str, typer.Argument(help="The sweep to replay: a name (see `ablate list`) or a YAML file")],
    from_: Annotated[Path, typer.Option("--from", help="Results of a full grid over the sweep's space (complete curves)")],
    repeats: Annotated[int, typer.Option("--repeats", help="Replays per strategy, seeds search.seed + r")] = 20,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Trials at once (default: search.max_concurrent, else 4)")] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Found = within this of the grid's best (0.005: half a point)")] = 0.005,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write summary.csv, runs.csv, rungs.csv and anytime.png here")] = None,
    set_: SetOpt = None,
) -> None:
    """Search efficiency: replay TPE/random with and without ASHA, and the grid, on a grid's curves.

    Ray-free and simulated: epochs (and seconds) each strategy spends until its best is within
    the tolerance of the grid's best, median/IQR over repeats, and how well each epoch ranks.
    """
    from ablate.replay import run_replay

    run_replay(sweep, from_, overrides=set_, repeats=repeats, concurrency=concurrency,
               tolerance=tolerance, out=out_dir, console=out)


def _mount_optional() -> None:
    """Sub-commands that live in their own modules."""
    try:
        from ablate.cli_data import data_app
    except ImportError:
        return
    app.add_typer(data_app, name="data", help="Datasets: synthetic, cache, build, audit")
    from ablate.cli_probe import probe_app

    app.add_typer(probe_app, name="probe", help="Shortcut checks: source probe, leave-one-source-out")
    from ablate.cli_results import results_app

    app.add_typer(results_app, name="results", help="Results folders: compact")
    from ablate.cli_weights import weights_app

    app.add_typer(weights_app, name="weights", help="Pretrained weights: fetch (where there is internet), list")


_mount_optional()


def main() -> None:
    """Console entry point: one-line errors, non-zero exit, tracebacks with --debug.

    Typer 0.29 carries its own click (``typer._click``): its exceptions are caught through the
    public names typer exports (`typer.Exit`, `typer.Abort`, `typer.TyperException`), so a
    usage error (an unknown option, a missing argument) is click's usage message and exit 2.
    """
    try:
        app(standalone_mode=False, prog_name="ablate")
    except AblateError as e:
        if _state["debug"]:
            console.print_exception()
        console.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(getattr(e, "exit_code", 2))
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except typer.TyperException as e:  # click's UsageError, BadParameter, NoSuchOption, ...
        e.show()  # type: ignore[attr-defined]
        sys.exit(getattr(e, "exit_code", 2))
    except Exception as e:  # noqa: BLE001 - a plain click (not typer's) exception from a plug-in
        if not (hasattr(e, "show") and hasattr(e, "exit_code")):
            raise
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
