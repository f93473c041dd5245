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
    target: str | Path, fmt: str = "md", out: str | Path | None = None, alpha: float = 0.05,
    pareto: str | None = None,
) -> tuple[list[Path], list[str]]:
    """Regenerate the tables and figures from a results folder.

    Args:
        target: a results folder or a sweep name.
        fmt: md, html (one self-contained page, figures embedded), latex or csv.
        out: output folder (default ``<results>/report``).
        alpha: family-wise level of the ``significant`` flags (Holm within each table).
        pareto: ``"x,y"``, two trials-row columns for the frontier figure (``latency_ms,test_acc``);
            None: the first cost objective of the sweep (else ``params``) against ``test_acc``.

    Returns:
        (files written, lines saying what the results do not hold yet).
    """
    from ablate.errors import AblateError
    from ablate.report.figures import write_figures
    from ablate.report.render import render
    from ablate.report.tables import build_sections
    from ablate.results import load

    if fmt not in ("md", "html", "latex", "csv"):
        raise AblateError(f"--format {fmt!r} is not one of md, html, latex, csv")
    pair = _pareto_pair(pareto) if pareto is not None else None
    root = resolve_results(target)
    res = load(root)
    out_dir = Path(out) if out is not None else root / "report"
    sections, missing = build_sections(res, alpha)
    figures = write_figures(res, out_dir / "figures", pair) if fmt in ("md", "html") else []
    files = render(sections, missing, figures, fmt, out_dir, f"ablate report: {root}")
    return files + figures, missing


def _pareto_pair(text: str) -> tuple[str, str]:
    """``"latency_ms,test_acc"`` -> the frontier figure's (x, y) columns.

    Raises:
        AblateError: not two numeric trials-row columns (one line, with the choices).
    """
    from ablate.errors import AblateError
    from ablate.search.objectives import trial_columns

    cols = [c.strip() for c in text.split(",")]
    allowed = trial_columns()
    if len(cols) != 2 or any(c not in allowed for c in cols):
        raise AblateError(f"--pareto {text!r} must be two columns x,y of a trial's row (e.g. latency_ms,test_acc); "
                          f"choose from {', '.join(allowed)}")
    return cols[0], cols[1]
