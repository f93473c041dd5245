"""Writing report sections as Markdown, HTML (`ablate.report.html`), LaTeX or CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ablate.report.tables import Section

__all__ = ["markdown_table", "render"]


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown_table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def render(sections: list[Section], missing: list[str], figures: list[Path], fmt: str, out: Path, title: str) -> list[Path]:
    """Write the report into `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        paths = []
        for s in sections:
            p = out / f"{s.key}.csv"
            s.table.to_csv(p, index=False)
            paths.append(p)
        return paths
    if fmt == "html":
        from ablate.report.html import html_page

        p = out / "report.html"
        p.write_text(html_page(sections, missing, figures, title), encoding="utf-8")
        return [p]
    if fmt == "latex":
        parts = [f"% {title}"]
        for s in sections:
            parts.append(f"\\section*{{{s.title}}}")
            parts.append(s.table.to_latex(index=False, na_rep="", float_format="%.4g", escape=True))
            parts += [f"% {n}" for n in s.notes]
        parts += [f"% missing: {m}" for m in missing]
        p = out / "report.tex"
        p.write_text("\n".join(parts) + "\n")
        return [p]
    parts = [f"# {title}", ""]
    for s in sections:
        parts += [f"## {s.title}", "", markdown_table(s.table), ""]
        parts += [f"> {n}" for n in s.notes] + [""]
    if figures:
        parts += ["## Figures", ""] + [f"![{f.stem}]({f.relative_to(out) if f.is_relative_to(out) else f})" for f in figures] + [""]
    if missing:
        parts += ["## Not in these results (yet)", ""] + [f"- {m}" for m in missing] + [""]
    p = out / "report.md"
    p.write_text("\n".join(parts))
    return [p]
