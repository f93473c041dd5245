"""`ablate data ...`: the synthetic set, the decode cache, dataset builds and audits."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table

    from ablate.data.build_report import BuildReport

data_app = typer.Typer(
    help="Datasets: the synthetic set, the decoded-image cache, builds from sources, audits.",
    no_args_is_help=True,
)
console = Console(stderr=True)


@data_app.command()
def synthetic(
    out: Annotated[
        Path, typer.Option("--out", help="New folder to write (class folders + manifest.csv)")
    ],
    n_per_class: Annotated[int, typer.Option("--n-per-class", help="Images per class")] = 60,
    size: Annotated[int, typer.Option("--size", help="Image side in pixels")] = 96,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same bytes)")] = 0,
) -> None:
    """Write the synthetic five-class chest-X-ray-like dataset (train on it with --data OUT)."""
    from ablate.data import generate_synthetic

    manifest = generate_synthetic(out, n_per_class, size, seed)
    console.print(f"{5 * n_per_class} images at {size} px and {manifest}", soft_wrap=True)


@data_app.command()
def cache(
    path: Annotated[
        str, typer.Argument(help="'synthetic', a class-per-folder tree or a manifest CSV")
    ],
    size: Annotated[
        int,
        typer.Option(
            "--size", min=16, max=1024, help="The input size trials will use (trial input_size)"
        ),
    ] = 299,
    fmt: Annotated[
        str, typer.Option("--format", help="auto | folder | manifest | covidx | covidx-ct")
    ] = "auto",
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Drop unreadable images instead of failing")
    ] = False,
    cache_dir: Annotated[
        str | None,
        typer.Option("--cache-dir", help="Default: $ABLATE_CACHE_DIR or ~/.cache/ablate"),
    ] = None,
) -> None:
    """Decode a dataset once at a size into the memory-mapped cache that trials read."""
    from ablate.config import DataConfig
    from ablate.data import cache_dataset
    from ablate.errors import ConfigError

    try:
        cfg = DataConfig(path=path, format=fmt, skip_bad=skip_bad, cache_dir=cache_dir)
    except ValueError as e:
        raise ConfigError(
            f"--format must be auto, folder, manifest, covidx or covidx-ct, got {fmt!r}"
        ) from e
    rep = cache_dataset(cfg, size, progress=lambda m: console.print(f"[dim]{m}[/]", soft_wrap=True))
    state = "already cached" if rep.hit else "cached"
    console.print(
        f"{rep.source_desc}: {rep.n_images} images {state} at {size} px "
        f"({rep.nbytes / 1e6:.1f} MB) in {rep.path}"
        f"{f'; {len(rep.skipped)} unreadable skipped' if rep.skipped else ''}",
        soft_wrap=True,
    )


@data_app.command()
def build(
    dataset: Annotated[
        str, typer.Argument(help="The dataset to build: cxr5 (the paper's Table 1)")
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Output folder: manifest.csv, images/, skipped.csv, build.json"),
    ],
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="A source folder, repeatable: ds1=PATH ... ds7=PATH"),
    ] = None,
    test_per_class: Annotated[
        int, typer.Option(help="Patient-grouped test images per class")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the sampling and the test split")] = 0,
    link: Annotated[
        bool, typer.Option("--link/--copy", help="Symlink the images (default) or copy them")
    ] = True,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Leave unreadable images out (listed in skipped.csv)")
    ] = False,
    cap: Annotated[
        list[str] | None,
        typer.Option("--cap", help="Override a Table 1 cap: --cap ds7.bacterial=100"),
    ] = None,
) -> None:
    """Build a dataset from the public sources in their native layouts; prints what is short."""
    from rich.console import Console as Stdout

    from ablate.data.build import build_cxr5
    from ablate.errors import ConfigError

    if dataset.lower() != "cxr5":
        raise ConfigError(f"unknown dataset {dataset!r}; `ablate data build` builds: cxr5")
    report = build_cxr5(
        parse_sources(source or []),
        out,
        test_per_class=test_per_class,
        seed=seed,
        link=link,
        skip_bad=skip_bad,
        caps=parse_caps(cap or []),
        progress=lambda m: console.print(f"[dim]{m}[/]"),
    )
    Stdout().print(build_table(report))
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    short = report.short_lines()
    console.print("short of Table 1: " + ("; ".join(short) if short else "nothing"))
    console.print(
        f"wrote {report.manifest} ({len(report.skipped)} unreadable skipped, listed in skipped.csv)"
    )


def parse_sources(items: Iterable[str]) -> dict[str, Path]:
    """``["ds1=PATH", ...]`` -> ``{"ds1": Path}``; unknown keys and repeats are errors."""
    from ablate.data.sources import get_source, list_sources
    from ablate.errors import ConfigError

    out: dict[str, Path] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.strip():
            keys = list_sources()
            raise ConfigError(
                f"--source {item!r} must look like ds1=PATH (sources: {keys[0]}..{keys[-1]})"
            )
        spec = get_source(key)
        if spec.key in out:
            raise ConfigError(f"--source {spec.key} given twice; give each source once")
        out[spec.key] = Path(value.strip()).expanduser()
    return out


def parse_caps(items: Iterable[str]) -> dict[str, int]:
    """``["ds7.bacterial=100", "ds1=50"]`` -> ``{"ds7.bacterial": 100, "ds1": 50}`` (validated)."""
    from ablate.data.build import resolve_caps
    from ablate.errors import ConfigError

    out: dict[str, int] = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            n = int(value)
        except ValueError:
            n = -1
        if not sep or n < 0:
            raise ConfigError(
                f"--cap {item!r} must look like ds7.bacterial=100 "
                "(a source, optionally .class, = a count >= 0)"
            )
        out[key.strip()] = n
    resolve_caps(out)
    return out


def build_table(report: BuildReport) -> Table:
    """A rich table of a build: one row per (source, class), then the totals."""
    from rich.table import Table

    t = Table("source", "class", "available", "cap", "built", "test", "Table 1", "short", "note")
    for r in report.rows:
        short = f"[red]{r.short}[/]" if r.short else "0"
        t.add_row(
            r.source,
            r.label,
            str(r.available),
            str(r.target),
            str(r.built),
            str(r.test),
            str(r.table1),
            short,
            r.note,
        )
    built, test, table1 = (
        sum(getattr(r, a) for r in report.rows) for a in ("built", "test", "table1")
    )
    t.add_row("all", "", "", "", str(built), str(test), str(table1), "", "")
    return t


@data_app.command()
def audit(
    path: Annotated[
        str,
        typer.Argument(
            help="A dataset folder (manifest.csv or class folders), a manifest CSV, a COVIDx folder"
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Markdown report; <stem>.json and <stem>-pairs.parquet go beside it"
        ),
    ] = Path("audit.md"),
    threshold: Annotated[
        int, typer.Option(help="Near-duplicate: Hamming distance of 256-bit dHashes at most this")
    ] = 10,
    fmt: Annotated[
        str, typer.Option("--format", help="auto | folder | manifest | covidx | covidx-ct")
    ] = "auto",
) -> None:
    """Near-duplicates and patients across splits/sources, single-source classes, image stats."""
    from rich.console import Console as Stdout

    from ablate.data.audit import audit as run_audit
    from ablate.data.audit import load_samples_for_audit

    report = run_audit(load_samples_for_audit(path, fmt), threshold=threshold)
    Stdout().print(report.table())
    for line in report.summary_lines():
        console.print(line)
    written = report.write(out)
    console.print(f"wrote {', '.join(str(p) for p in written)}")
