"""The report as one self-contained HTML page: the same sections as the Markdown, figures embedded.

Everything is inside the file (CSS inline, figures as base64 PNG ``data:`` URIs, no scripts, no
fonts or links to fetch), so it opens the same from a laptop, a mail attachment or an air-gapped
cluster node. The paper's columns (``paper_*``) are shaded so they read apart from ours.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from ablate.report.cells import Section

__all__ = ["html_page"]

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1d1d1f;
       margin: 0 auto; padding: 1.5em 2em 4em; max-width: 1280px; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 .6em; }
h2 { font-size: 1.2em; margin: 2em 0 .5em; padding-top: .4em; border-top: 1px solid #ddd; }
nav { background: #f5f5f7; border-radius: 6px; padding: .6em 1.2em; display: inline-block; }
nav ol { margin: .3em 0; padding-left: 1.4em; }
nav a, a { color: #0b57d0; text-decoration: none; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 12.5px; margin: .4em 0; }
th, td { border: 1px solid #d6d6d6; padding: 3px 7px; text-align: left; vertical-align: top; white-space: nowrap; }
td.long { white-space: normal; min-width: 28ch; max-width: 70ch; }
th { background: #eef1f5; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) td { background: #fafafa; }
th.paper, td.paper, tbody tr:nth-child(even) td.paper { background: #fff4d6; }
p.note { color: #444; margin: .35em 0; max-width: 95ch; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; background: #f0f0f0; padding: 0 3px; border-radius: 3px; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
figcaption { color: #555; font-size: 12px; }
ul.missing { color: #555; }
.swatch { display: inline-block; width: 1.6em; height: .8em; margin-right: .4em; vertical-align: middle;
          border-radius: 2px; }
"""


_HEX = re.compile(r"#[0-9a-f]{6}")  # a colour cell (the figures' legend table): shown with its swatch
_LONG = 32  # a text cell longer than this wraps (within 28-70 characters' width); shorter ones stay on one line


def _text(s: str) -> str:
    """A note as HTML: escaped, `code` spans kept."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(s))


def _cell(v: object) -> tuple[str, bool]:
    """(cell text, is a number) as the Markdown table writes it: floats to 4 significant digits."""
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "", False
    if isinstance(v, bool):
        return str(v), False
    if isinstance(v, float):
        return f"{v:.4g}", True
    return str(v), isinstance(v, int)


def _table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    paper = [c.startswith("paper_") for c in cols]
    head = "".join(f'<th{" class=paper" if p else ""}>{html.escape(c)}</th>' for c, p in zip(cols, paper, strict=True))
    rows = []
    for row in df.itertuples(index=False):
        cells = []
        for v, p in zip(row, paper, strict=True):
            text, num = _cell(v.item() if hasattr(v, "item") else v)
            cls = " ".join(c for c, on in (("num", num), ("paper", p), ("long", len(text) > _LONG)) if on)
            attr = f' class="{cls}"' if cls else ""
            swatch = f'<span class=swatch style="background:{text}"></span>' if _HEX.fullmatch(text) else ""
            cells.append(f"<td{attr}>{swatch}{html.escape(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _caption(path: Path) -> str:
    return path.stem.replace("_", " ") if path.stem != "grid" else f"Grad-CAM {path.parent.name}"


def _figure(path: Path, anchor: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    name = _caption(path)
    return (f'<figure id="{anchor}"><img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'
            f"<figcaption>{html.escape(name)}</figcaption></figure>")


def html_page(sections: list[Section], missing: list[str], figures: list[Path], title: str) -> str:
    """The whole report page: a table of contents, each section's table and notes, the figures
    (embedded) and what the results do not hold yet."""
    figs = [(f"fig-{i}-{re.sub(r'[^a-z0-9]+', '-', p.stem.lower())}", p) for i, p in enumerate(figures)]
    toc = [f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections]
    if figs:
        toc.append('<li><a href="#figures">Figures</a>: ' + ", ".join(
            f'<a href="#{a}">{html.escape(_caption(p))}</a>' for a, p in figs) + "</li>")
    if missing:
        toc.append('<li><a href="#missing">Not in these results (yet)</a></li>')
    body = [f"<h1>{html.escape(title)}</h1>", f"<nav><strong>Contents</strong><ol>{''.join(toc)}</ol></nav>"]
    if any(str(c).startswith("paper_") for s in sections for c in s.table.columns):
        body.append('<p class=note>Shaded columns (<code>paper_*</code>): the paper\'s own values, beside ours.</p>')
    for s in sections:
        body.append(f'<h2 id="{s.key}">{html.escape(s.title)}</h2>')
        body.append(_table(s.table))
        body += [f"<p class=note>{_text(n)}</p>" for n in s.notes]
    if figs:
        body.append('<h2 id="figures">Figures</h2>')
        body += [_figure(p, anchor) for anchor, p in figs]
    if missing:
        body.append('<h2 id="missing">Not in these results (yet)</h2><ul class=missing>'
                    + "".join(f"<li>{_text(m)}</li>" for m in missing) + "</ul>")
    return ("<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f'<link rel=icon href="data:,"><title>{html.escape(title)}</title><style>{_CSS}</style></head>\n'
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")
