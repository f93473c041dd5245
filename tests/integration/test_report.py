"""Reports, robustness and CAM from real result files of small real trials."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from PIL import Image

from ablate import api
from ablate.report import make_report
from ablate.results import load
from tests.conftest import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    common = [*TINY, "epochs=2", "input_size=32"]
    api.run_trials("cxr5-sweep", overrides=[*common, "seeds=[0, 1]", "analysis.gradients=true", "analysis.robustness=true"],
                   data="synthetic", results=root)
    api.run_trials("cxr5-sweep", overrides=[*common, "variant=original", "analysis.robustness=true"], data="synthetic", results=root)
    for variant in ("original", "modified"):
        api.run_trials("cxr5-sweep", overrides=[*common, "backbone=mobilenet_v3_small", f"variant={variant}"],
                       data="synthetic", results=root)
    api.run_trials("cxr5-sweep", overrides=[*common, "epochs=1", "data.folds=2", "backbone=squeezenet1_0"],
                   data="synthetic", results=root)
    return root


def test_every_table_builds_in_markdown(results, tmp_path):
    files, missing = make_report(results, "md", tmp_path)
    text = (tmp_path / "report.md").read_text()
    for title in ("Backbones (Table 2", "k-fold cross-validation (Table 4)", "Table 5", "(Table 6)", "Tables 15, 16"):
        assert title in text
    # synthetic data: the paper's columns are there but empty, and the notes say why
    assert "paper_test_acc_%" in text and "98.8" not in text and "Rows on the synthetic set have no paper" in text
    assert any(m.startswith("ablation") for m in missing) and any(m.startswith("search") for m in missing)
    pngs = [f for f in files if f.suffix == ".png"]
    assert {p.name for p in pngs} >= {"validation_curves.png", "accuracy_vs_params.png", "robustness.png", "gradients.png"}
    for p in pngs:
        with Image.open(p) as im:
            assert im.size[0] > 100


def test_latex_and_csv(results, tmp_path):
    make_report(results, "latex", tmp_path / "tex")
    tex = (tmp_path / "tex" / "report.tex").read_text()
    assert "\\begin{tabular}" in tex and "\\section*{Backbones" in tex
    make_report(results, "csv", tmp_path / "csv")
    b = pd.read_csv(tmp_path / "csv" / "backbones.csv")
    assert {"backbone", "variant", "test_acc_%", "ci_low_%", "ci_high_%", "paper_test_acc_%", "fp32_MB"} <= set(b.columns)
    assert set(b.dataset) == {"synthetic"} and b["paper_test_acc_%"].isna().all()
    r18 = b[(b.backbone == "resnet18") & (b.variant == "modified")].iloc[0]
    assert r18.seeds == 2 and r18.configs == 1 and "2 seeds averaged" in r18.ci
    assert ((0 <= b["ci_low_%"]) & (b["ci_high_%"] <= 100)).all()
    k = pd.read_csv(tmp_path / "csv" / "kfold.csv")
    assert {"fold1_val_%", "fold2_val_%", "selected_fold"} <= set(k.columns)
    files, _ = make_report(results, "html", tmp_path / "html")  # one page, the Markdown's figures inside
    page = (tmp_path / "html" / "report.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == len([f for f in files if f.suffix == ".png"]) >= 4
    assert '<h2 id="backbones">Backbones' in page and '<th class=paper>paper_test_acc_%</th>' in page


def test_robustness_rows_from_the_trial(results):
    res = load(results)
    r = res.robustness
    assert set(r.form) == {"clean", "form1", "form2"}
    for tid, g in r.groupby("trial_id"):
        clean = g[g.form == "clean"].accuracy.iloc[0]
        assert clean == pytest.approx(res.trials.set_index("trial_id").loc[tid, "test_acc"])
    g = res.gradients
    assert (g[g.layer == "all"].abs_grad_mean > 0).all() and g.epoch.max() == 2


def test_robustness_and_cam_commands_on_saved_models(results, tmp_path):
    tid = load(results).trials.query("variant == 'modified' and backbone == 'resnet18'").trial_id.iloc[0]
    run = lambda *a: subprocess.run([sys.executable, "-m", "ablate.cli", *a], capture_output=True, text=True, timeout=600, check=False)
    r = run("robustness", str(results), "--trial", tid, "--level", "1,255")
    assert r.returncode == 0, r.stderr
    rows = load(results).robustness.query("trial_id == @tid")
    assert len(rows) == 12 and (rows.form == "custom").sum() == 1
    r = run("cam", str(results), "--trial", tid, "--out", str(tmp_path / "cam"))
    assert r.returncode == 0, r.stderr
    for name in ("covid", "normal", "viral_pneumonia"):
        with Image.open(tmp_path / "cam" / f"{name}.png") as im:
            assert im.size == (32, 32)
    assert (tmp_path / "cam" / "grid.png").is_file()
    bad = run("cam", str(results), "--trial", "nope")
    assert bad.returncode != 0 and "no saved model for trial 'nope'" in bad.stderr


def test_report_on_missing_results_is_one_line():
    r = subprocess.run([sys.executable, "-m", "ablate.cli", "report", "no/such/dir"], capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "no results found at no/such/dir" in r.stderr


def test_ablation_table(tmp_path):
    sets = [*TINY, "epochs=2", "input_size=32", "backbone=mobilenet_v3_small", "seeds=[0, 1]",
            "data.synthetic.n_per_class=60", "data.test_per_class=12"]
    api.run_trials("cxr5-ablation", overrides=sets, data="synthetic", results=tmp_path,
                   variants=["base", "gate-uniform", "original"])
    t = load(tmp_path).trials
    assert sorted(t.ablation_variant.unique()) == ["base", "gate-uniform", "original"] and len(t) == 6
    make_report(tmp_path, "csv", tmp_path / "csv")
    a = pd.read_csv(tmp_path / "csv" / "ablation.csv").set_index("variant")
    assert a.loc["base", "seeds"] == 2 and pd.isna(a.loc["base", "diff_to_base_%"])
    assert {"diff_to_base_%", "diff_ci_%", "p", "p_holm", "significant", "mcnemar_p_per_seed"} <= set(a.columns)
    assert 0 <= a.loc["original", "p"] <= a.loc["original", "p_holm"] <= 1
    for v in ("gate-uniform", "original"):
        row = a.loc[v]
        assert row.seeds == 2 and row["diff_to_base_%"] == pytest.approx(row["test_acc_%"] - row["base_acc_%"], abs=0.011)
