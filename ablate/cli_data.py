"""`ablate data ...`: the synthetic set and the decode cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

data_app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


@data_app.command()
def synthetic(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (class folders + manifest.csv)")],
    n_per_class: Annotated[int, typer.Option(help="Images per class")] = 300,
    size: Annotated[int, typer.Option(help="Image side in pixels")] = 96,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes)")] = 0,
) -> None:
    """Write the synthetic five-class chest-X-ray-like dataset."""
    from ablate.data import generate_synthetic

    manifest = generate_synthetic(out, n_per_class, size, seed)
    console.print(f"wrote {5 * n_per_class} images and {manifest}")


@data_app.command()
def cache(
    path: Annotated[str, typer.Argument(help="'synthetic', a class-per-folder tree or a manifest CSV")],
    size: Annotated[int, typer.Option("--size", help="Input size the trials will use")] = 299,
    fmt: Annotated[str, typer.Option("--format", help="auto | folder | manifest | covidx | covidx-ct")] = "auto",
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Drop unreadable images instead of failing")] = False,
    cache_dir: Annotated[Optional[str], typer.Option(help="Cache folder (default $ABLATE_CACHE_DIR or ~/.cache/ablate)")] = None,
) -> None:
    """Decode a dataset once at a size into the memory-mapped cache that trials read."""
    from ablate.config import DataConfig
    from ablate.data.cache import decode_all
    from ablate.data.datasets import _drop_or_fail, load_samples
    from ablate.errors import ConfigError

    try:
        cfg = DataConfig(path=path, format=fmt, skip_bad=skip_bad, cache_dir=cache_dir)
    except ValueError as e:
        raise ConfigError(str(e).splitlines()[0]) from None
    samples, desc = load_samples(cfg)
    images, bad, hit = decode_all(samples, size, cache_dir=cfg.cache_dir, workers=cfg.decode_workers,
                                  progress=lambda m: console.print(f"[dim]{m}[/]"))
    _, skipped = _drop_or_fail(samples, bad, skip_bad)
    state = "already cached" if hit else "cached"
    console.print(f"{desc}: {len(samples)} images {state} at {size} px ({images.nbytes / 1e6:.1f} MB), {len(skipped)} unreadable")


@data_app.command()
def build(
    dataset: Annotated[str, typer.Argument(help="The dataset to build: cxr5 (the paper's Table 1)")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: manifest.csv, images/, skipped.csv, build.json")],
    source: Annotated[Optional[list[str]], typer.Option("--source", help="A source folder, repeatable: ds1=PATH ... ds7=PATH")] = None,
    test_per_class: Annotated[int, typer.Option(help="Patient-grouped test images per class")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the sampling and the test split")] = 0,
    link: Annotated[bool, typer.Option("--link/--copy", help="Symlink the images (default) or copy them")] = True,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Leave unreadable images out (listed in skipped.csv)")] = False,
    cap: Annotated[Optional[list[str]], typer.Option("--cap", help="Override a Table 1 cap: --cap ds7.bacterial=100")] = None,
) -> None:
    """Build a dataset from the public sources in their native layouts; prints what is short."""
    from rich.console import Console as Stdout

    from ablate.data.build import build_cxr5, parse_caps, parse_sources
    from ablate.errors import ConfigError

    if dataset.lower() != "cxr5":
        raise ConfigError(f"unknown dataset {dataset!r}; `ablate data build` builds: cxr5")
    report = build_cxr5(parse_sources(source or []), out, test_per_class=test_per_class, seed=seed, link=link,
                        skip_bad=skip_bad, caps=parse_caps(cap or []), progress=lambda m: console.print(f"[dim]{m}[/]"))
    Stdout().print(report.table())
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    short = report.short_lines()
    console.print("short of Table 1: " + ("; ".join(short) if short else "nothing"))
    console.print(f"wrote {report.manifest} ({len(report.skipped)} unreadable skipped, listed in skipped.csv)")


@data_app.command()
def audit(
    path: Annotated[str, typer.Argument(help="A dataset folder (manifest.csv or class folders), a manifest CSV, a COVIDx folder")],
    out: Annotated[Path, typer.Option("--out", help="Markdown report; <stem>.json and <stem>-pairs.parquet go beside it")] = Path("audit.md"),
    threshold: Annotated[int, typer.Option(help="Near-duplicate: Hamming distance of 256-bit dHashes at most this")] = 10,
    fmt: Annotated[str, typer.Option("--format", help="auto | folder | manifest | covidx | covidx-ct")] = "auto",
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
