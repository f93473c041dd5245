"""The HTML report on planted results: one self-contained page with every section, note and figure,
and (where Debian's chromium is installed) the page as a browser shows it, offline."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ablate.report.cells import Section
from ablate.report.html import html_page
from ablate.report.legend import legend_section
from ablate.results.store import Results
from tests.chromium import chromium, open_page
from tests.unit.report.test_figures import _study


def _page(tmp_path: Path) -> tuple[Path, list[Path]]:
    """The page of a planted study (search, confirm, ablation) with robustness and gradient rows:
    the curves, robustness and gradient figures, the legend table and a table with paper columns."""
    from ablate.report.figures import gradient_figure, robustness_curves, validation_curves

    study = _study()
    ablated = study.trials[study.trials.stage == "ablation"].trial_id
    robustness = pd.DataFrame([{"trial_id": tid, "form": form, "n": n, "m": m, "accuracy": 0.6 - m / 200 - n / 20 - k / 50}
                               for k, tid in enumerate(ablated) for form, n, m in (("form1", 1, 0), ("form1", 1, 20), ("form1", 1, 40),
                                                                     ("form2", 1, 2), ("form2", 2, 2), ("form2", 4, 2))])
    gradients = pd.DataFrame([{"trial_id": tid, "epoch": e, "layer": "all", "abs_grad_mean": 1e-3 / e * (1 + k / 4),
                               "abs_grad_var": 1e-6 / e * (1 + k / 4)} for k, tid in enumerate(ablated) for e in (1, 2, 3)])
    res = Results({**study, "robustness": robustness, "gradients": gradients}, Path("."))
    figures = [f(res, tmp_path) for f in (validation_curves, robustness_curves, gradient_figure)]
    table = pd.DataFrame({"variant": ["base", "original"], "test_acc_%": [61.5, 26.5], "paper_test_acc_%": [None, 98.8],
                          "note": ["a <b> & 'c'", "x" * 40]})
    sections = [Section("ablation", "Ablation against 'base'", table, ["paired by `seed` on the same images"]),
                legend_section(res)]
    path = tmp_path / "report.html"
    path.write_text(html_page(sections, ["kfold: no matching results yet"], figures, "ablate report: <here>"))
    return path, figures


def test_one_page_holds_every_section_note_and_figure_and_fetches_nothing(tmp_path):
    path, figures = _page(tmp_path)
    page = path.read_text()
    # everything inside: no scripts, no stylesheets, fonts or images to fetch
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:|//|/)""", page) and "url(" not in page
    imgs = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(i) for i in imgs] == [f.read_bytes() for f in figures] and len(figures) == 3
    # the table of contents links every section, each figure and the missing list to anchors on the page
    anchors = set(re.findall(r'id="([^"]+)"', page))
    links = re.findall(r'href="#([^"]+)"', page)
    assert set(links) <= anchors and {"ablation", "legend", "figures", "missing"} <= set(links)
    assert len([a for a in links if a.startswith("fig-")]) == len(figures)
    # cells escaped, numbers as the Markdown writes them, the paper's columns shaded, notes with code spans
    assert "a &lt;b&gt; &amp; &#x27;c&#x27;" in page and "<title>ablate report: &lt;here&gt;</title>" in page
    assert '<th class=paper>paper_test_acc_%</th>' in page and '<td class="num paper">98.8</td>' in page
    assert f'<td class="long">{"x" * 40}</td>' in page
    colours = re.findall(r'<span class=swatch style="background:(#[0-9a-f]{6})"></span>', page)
    assert len(colours) == len(legend_section(_study()).table) == 9  # the legend table shows each line's colour
    assert "paired by <code>seed</code> on the same images" in page and "kfold: no matching results yet" in page


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_page_renders_in_headless_chromium_offline(tmp_path):
    path, figures = _page(tmp_path)
    page = open_page(path, tmp_path / "screen.png")  # the network is cut before the page loads
    assert len(page.images) == len(figures)
    assert all(i["naturalWidth"] > 100 and i["naturalHeight"] > 100 for i in page.images), page.images
    assert page.errors == []
    assert page.anchors == re.findall(r'href="(#[^"]+)"', path.read_text())  # every contents entry has its target
    with Image.open(page.screenshot) as im:
        gray = np.asarray(im.convert("L"), dtype=float)
    assert gray.shape == (900, 1280) and gray.std() > 10 and (gray < 200).mean() > 0.02  # text and tables, not blank
