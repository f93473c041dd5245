"""The HTML report on planted results: one self-contained page with every section, note and figure."""

from __future__ import annotations

import base64
import re

import pandas as pd

from ablate.report.cells import Section
from ablate.report.html import html_page
from tests.unit.report.test_figures import _study


def test_one_page_holds_every_section_note_and_figure_and_fetches_nothing(tmp_path):
    from ablate.report.figures import validation_curves

    figures = [validation_curves(_study(), tmp_path)]
    table = pd.DataFrame({"variant": ["base", "original"], "test_acc_%": [61.5, 26.5], "paper_test_acc_%": [None, 98.8],
                          "note": ["a <b> & 'c'", "x" * 40]})
    sections = [Section("ablation", "Ablation against 'base'", table, ["paired by `seed` on the same images"]),
                Section("legend", "Configurations in the figures", table.iloc[:1], [])]
    page = html_page(sections, ["kfold: no matching results yet"], figures, "ablate report: <here>")
    # everything inside: no scripts, no stylesheets, fonts or images to fetch
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:|//|/)""", page) and "url(" not in page
    imgs = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(i) for i in imgs] == [f.read_bytes() for f in figures] and figures
    # the table of contents links every section, the figures and the missing list to anchors on the page
    anchors = set(re.findall(r'id="([^"]+)"', page))
    links = re.findall(r'href="#([^"]+)"', page)
    assert set(links) <= anchors and {"ablation", "legend", "figures", "missing"} <= set(links)
    assert len([a for a in links if a.startswith("fig-")]) == len(figures)
    # cells escaped, numbers as the Markdown writes them, the paper's columns shaded, notes with code spans
    assert "a &lt;b&gt; &amp; &#x27;c&#x27;" in page and "<title>ablate report: &lt;here&gt;</title>" in page
    assert '<th class=paper>paper_test_acc_%</th>' in page and '<td class="num paper">98.8</td>' in page
    assert f'<td class="long">{"x" * 40}</td>' in page
    assert "paired by <code>seed</code> on the same images" in page and "kfold: no matching results yet" in page
