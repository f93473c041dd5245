"""`ablate weights ...`: fetch pretrained weights where there is internet, list a weights folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ablate.errors import AblateError
from ablate.models.weightfile import ENV

weights_app = typer.Typer(help="Pretrained weights: fetch (where there is internet), list.", no_args_is_help=True)
console = Console(stderr=True)
out = Console()

WeightsDirOpt = Annotated[Path | None, typer.Option(
    "--weights-dir", envvar=ENV, show_envvar=False,
    help=f"Folder of pretrained weights every node reads (default: ${ENV}, else torch.hub's cache); trials never download")]


def use_weights_dir(folder: Path | None) -> None:
    """Make `folder` the weights folder of this process and of the trials it starts: Ray's local
    workers inherit the environment, and joining a cluster forwards ``ABLATE_*`` variables."""
    if folder is not None:
        os.environ[ENV] = str(folder.expanduser().resolve())


@weights_app.command()
def fetch(
    targets: Annotated[list[str], typer.Argument(help="Sweep names/files (their backbones) or backbone names")],
    to: Annotated[Path | None, typer.Option("--to", help=f"Weights folder (default: ${ENV}, else torch.hub's cache)")] = None,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Base URL serving torchvision's file names")] = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Keep files whose SHA-256 differs from their name's")] = False,
) -> None:
    """Download the ImageNet weights of sweeps or backbones, hash-checked.

    Each file is torchvision's (its URL from the weights API), kept only when its SHA-256 starts with
    the prefix in its name (unless --no-verify).
    """
    from ablate.weights.fetch import Fetched, fetch_weights, targets_backbones

    backbones = targets_backbones(targets)
    if not backbones:
        console.print(f"{' '.join(targets)}: no configuration uses pretrained: imagenet; nothing to fetch")
        return

    def say(f: Fetched) -> None:
        style = {"refused": "red", "failed": "red", "unverified": "yellow"}.get(f.status, "green")
        console.print(f"[{style}]{f.status}[/] {f.backbone}: {f.path.name} {escape(f.detail)}", soft_wrap=True,
                      highlight=False)

    done = fetch_weights(backbones, to, mirror=mirror, verify=not no_verify, on_done=say)
    folder = done[0].path.parent
    bad = [f.backbone for f in done if f.status in ("refused", "failed")]
    if bad:
        raise AblateError(f"{len(bad)} of {len(done)} not fetched ({', '.join(bad)}); nothing of their downloads is "
                          f"kept in {folder}")
    console.print(f"weights folder: {folder}  (ablate run ... --weights-dir {folder})", soft_wrap=True, highlight=False)


@weights_app.command("list")
def list_(
    folder: Annotated[Path | None, typer.Argument(help=f"Weights folder (default: ${ENV}, else torch.hub's cache)")] = None,
    no_hash: Annotated[bool, typer.Option("--no-hash", help="Skip reading the files to check their hashes")] = False,
) -> None:
    """What a weights folder holds, and which sweeps it covers."""
    from ablate.weights.fetch import covered_sweeps, list_weights

    root, rows = list_weights(folder, check_hash=not no_hash)
    out.print(f"weights folder: {root}", highlight=False, soft_wrap=True)
    for r in rows:
        sha = "" if r.verified is None else ("  sha256 matches its name" if r.verified
                                             else "  sha256 DIFFERS from its name (not torchvision's file)")
        size = "missing" if r.mb is None else f"{r.mb:,.1f} MB"
        out.print(f"{r.backbone:<20} {r.file:<36} {size:>10}{sha}", highlight=False, soft_wrap=True)
    present = {r.backbone for r in rows if r.mb is not None}
    for name, lacks in covered_sweeps(present):
        out.print(f"sweep {name}: " + ("covered" if not lacks else f"lacks {', '.join(lacks)}"),
                  highlight=False, soft_wrap=True)
