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
