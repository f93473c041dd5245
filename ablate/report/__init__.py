"""Reports: the paper's tables with statistics (`tables`, `stats`), figures, Grad-CAM (`cam`),
rendering."""

from __future__ import annotations

from pathlib import Path

__all__ = ["make_report", "resolve_results"]


def resolve_results(target: str | Path) -> Path:
    """A results folder, or a sweep name whose results live in ``results/<name>``."""
    from ablate.errors import AblateError

    p = Path(target)
    for cand in (p, Path("results") / str(target)):
        if (cand / "trials").is_dir() or (cand / "probes").is_dir():  # probes: `ablate probe source`
            return cand
    raise AblateError(
        f"no results found at {target} (nor results/{target}); run `ablate trial` or `ablate run` first"
    )


def make_report(
    target: str | Path, fmt: str = "md", out: str | Path | None = None, alpha: float = 0.05
) -> tuple[list[Path], list[str]]:
    """Regenerate the tables and figures from a results folder.

    Args:
        target: a results folder or a sweep name.
        fmt: md, latex or csv.
        out: output folder (default ``<results>/report``).
        alpha: family-wise level of the ``significant`` flags (Holm within each table).

    Returns:
        (files written, lines saying what the results do not hold yet).
    """
    from ablate.errors import AblateError
    from ablate.report.figures import write_figures
    from ablate.report.render import render
    from ablate.report.tables import build_sections
    from ablate.results import load

    if fmt not in ("md", "latex", "csv"):
        raise AblateError(f"--format {fmt!r} is not one of md, latex, csv")
    root = resolve_results(target)
    res = load(root)
    out_dir = Path(out) if out is not None else root / "report"
    sections, missing = build_sections(res, alpha)
    figures = write_figures(res, out_dir / "figures") if fmt == "md" else []
    files = render(sections, missing, figures, fmt, out_dir, f"ablate report: {root}")
    return files + figures, missing
