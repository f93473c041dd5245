"""Every ``ablate ...`` command of the documentation (docs/**/*.md) and the README that is meant to
run on a CPU is executed here, so that editing a documented line is tested and a line cannot rot.

Commands are read from the fenced ``bash``/``sh`` blocks (a ``\\`` continues a line, ``#`` starts a
comment). Each block runs in a fresh checkout-like folder of its own (``search_spaces/``,
``benchmarks/`` and ``../shared`` reachable as in the repository), its commands in order, in
this process through the CLI's entry point (a ``--local`` run uses the module's Ray instance).
``DATA/`` (the docs' stand-in for the user's data folder) is ``../shared/data/cxr5-real/``.

What is not run is decided by `SKIP_RULES`, in order; the first rule that matches a command
skips it with that rule's reason (``-rs`` lists them). A command written again (the README's
quickstart repeats lines of the docs) runs once, where it first appears. Training commands are shrunk by appending
``--set``s (`shrink`); their own flags are parsed and applied first.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ablate.results import load
from tests.conftest import REPO, ablate_cli

pytestmark = pytest.mark.slow

DOCS = [*sorted((REPO / "docs").glob("**/*.md")), REPO / "README.md"]  # the README's repeats run in the docs
FENCE = re.compile(r"^\s*```\s*(\S*)\s*$")
SHELL = {"bash", "sh", "shell", "console"}
PLACEHOLDER_DATA = "DATA/"  # the docs' stand-in for the user's data folder
REAL_DATA = "../shared/data/cxr5-real/"  # what stands in for it here


@dataclass(frozen=True)
class Command:
    """One ``ablate`` line of a fenced shell block."""

    doc: Path
    line: int  # 1-based, where the command starts
    block: str  # ``docs/FILE.md:LINE`` of the block's fence
    argv: tuple[str, ...]  # without the leading ``ablate``

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"

    @property
    def text(self) -> str:
        return shlex.join(["ablate", *self.argv])


def read_commands(doc: Path) -> list[Command]:
    """The ``ablate`` commands of `doc`'s fenced shell blocks, continuation lines joined."""
    found, lang, block = [], None, ""
    lines = doc.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence:
            lang, block = (None, "") if lang is not None else (fence.group(1).lower(), f"{doc.relative_to(REPO)}:{i + 1}")
        elif lang in SHELL:
            start, text = i, lines[i].strip()
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1] + " " + lines[i].strip()
            argv = shlex.split(text, comments=True)
            if argv[:1] == ["ablate"]:
                found.append(Command(doc, start + 1, block, tuple(argv[1:])))
        i += 1
    return found


COMMANDS = [c for doc in DOCS for c in read_commands(doc)]


def _written_before(c: Command) -> str | None:
    """Where the same command (its comment aside) first runs, when that is not here: the first
    place no other rule skips (else its first place)."""
    same = [o for o in COMMANDS if o.text == c.text]
    others = [r for r in SKIP_RULES if r[0] is not _written_before]
    first = next((o for o in same if _skip_reason(o, others) is None), same[0])
    return first.id if first is not c else None


def _trains_with_the_files_settings(c: Command) -> bool:
    """A training command without ``--data``: the sweep file's own data and settings (the
    paper's 299 px, 40 epochs, 200 test images a class), which the docs call GPU work."""
    trains = c.argv[0] in ("trial", "run") or c.argv[:2] == ("probe", "loso")
    return trains and "--data" not in c.argv and "--resume" not in c.argv and "--dry-run" not in c.argv


def _needs_what_is_not_here(c: Command) -> str | None:
    for arg in c.argv:
        if arg.startswith(("/data/", "/shared/", "s3://")) or arg in ("STUDY.yaml", "TRIAL_ID"):
            return arg
    if "--from" in c.argv and not (REPO / c.argv[c.argv.index("--from") + 1]).exists():
        return c.argv[c.argv.index("--from") + 1]
    return None


def _reads_results_nothing_here_makes(c: Command) -> str | None:
    """A command reading ``results/X`` that no command run before it in its block writes."""
    if c.argv[0] not in ("report", "robustness", "cam") or not c.argv[1].startswith("results/"):
        return None
    before = [o for o in COMMANDS if o.block == c.block and o.line < c.line and _skip_reason(o) is None]
    made = {str(_results_dir(o, Path("."))) for o in before}
    return None if str(Path(c.argv[1])) in made else c.argv[1]


SKIP_RULES: list[tuple[Callable[[Command], object], str]] = [
    (lambda c: "--address" in c.argv or any(a.startswith("cluster/") for a in c.argv),
     "a cluster command (--address or cluster/): needs a Ray cluster"),
    (lambda c: c.argv[:2] == ("weights", "fetch") and "--mirror" not in c.argv,
     "downloads from torchvision's servers: no internet here (tests/integration/test_weights.py "
     "fetches from a mirror on 127.0.0.1)"),
    (_needs_what_is_not_here, "names data, results or a file that only a user has (a placeholder or the full set)"),
    (_trains_with_the_files_settings, "trains with the sweep file's own settings (299 px, 40 epochs): GPU work per the docs"),
    (_written_before, "the same command runs where it is written first"),
    (_reads_results_nothing_here_makes, "reads results that only a skipped command of its block makes"),
]

SHRINK = {"input_size": "32", "epochs": "1", "data.test_per_class": "20", "seeds": "[0]",
          "search.num_samples": "2", "confirm.seeds": "[1]"}


# Commands whose documented text says what they reach: they keep their epochs (only 32 px) and must
# beat chance (0.2) by this much. docs/trial.md: "the real-image line reached val 0.67 / test 0.66"
# (64 px); at 32 px, 3 epochs, seed 0: val 0.60, test 0.64.
LEARNS = {"ablate trial cxr5-sweep --data ../shared/data/cxr5-real/manifest.csv": 0.45}


def learns(c: Command) -> float | None:
    return next((v for k, v in LEARNS.items() if c.text.startswith(k)), None)


def shrink(c: Command) -> list[str]:
    """``--set``s appended to a training command: 32 px, 1 epoch, 20 test images a class (the
    real set's 120 COVID images are too few for a file's 200), one seed, 2 search samples."""
    probe = c.argv[:2] == ("probe", "source")
    trains = c.argv[0] in ("trial", "run") or c.argv[:2] == ("probe", "loso") or probe
    if not trains or "--resume" in c.argv or "--dry-run" in c.argv:
        return []
    given = {a.split("=", 1)[0] for a in c.argv if "=" in a}
    if learns(c) is not None:
        return ["--set", f"input_size={SHRINK['input_size']}"]
    keys = ["input_size", "epochs"]  # the probe's own model sets its test split (a fraction)
    if not probe:
        keys += ["data.test_per_class", *(["seeds"] if c.argv[0] != "run" else [])]
    keys += [k for k in SHRINK if k in given]  # what the command sets itself, smaller
    return [a for k in dict.fromkeys(keys) for a in ("--set", f"{k}={SHRINK[k]}")]


def _skip_reason(c: Command, rules: list | None = None) -> str | None:
    for rule, reason in SKIP_RULES if rules is None else rules:
        hit = rule(c)
        if hit:
            return f"{reason}{f': {hit}' if isinstance(hit, str) else ''}"
    return None


_BLOCK_DIRS: dict[str, Path] = {}


@pytest.fixture
def block_dir(tmp_path_factory) -> Callable[[str], Path]:
    """A folder laid out like the checkout, one per block: the docs' relative paths resolve."""

    def get(block: str) -> Path:
        if block not in _BLOCK_DIRS:
            root = tmp_path_factory.mktemp("readme-block")
            (root / "shared").symlink_to(REPO.parent / "shared")
            (root / "checkout").mkdir()
            for name in ("search_spaces", "benchmarks", "cluster"):
                (root / "checkout" / name).symlink_to(REPO / name)
            _BLOCK_DIRS[block] = root / "checkout"
        return _BLOCK_DIRS[block]

    return get


def _results_dir(c: Command, cwd: Path) -> Path | None:
    """Where a training command writes (``--results``, else ``results/<sweep name>``)."""
    if "--results" in c.argv:
        return cwd / c.argv[c.argv.index("--results") + 1]
    if c.argv[0] in ("trial", "run"):
        return cwd / "results" / Path(c.argv[1]).stem
    return None


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.id for c in COMMANDS])
def test_readme_command_runs(cmd: Command, block_dir, local_ray, capsys, monkeypatch):
    """The command, shrunk, exits 0; a training command's rows load and none failed."""
    if (reason := _skip_reason(cmd)) is not None:
        pytest.skip(reason)
    argv = [a.replace(PLACEHOLDER_DATA, REAL_DATA) if a.startswith(PLACEHOLDER_DATA) else a for a in cmd.argv]
    if any(a.startswith("../shared/") for a in argv) and not (REPO.parent / "shared" / "data" / "cxr5-real").is_dir():
        pytest.skip("needs ../shared/data/cxr5-real beside the checkout")
    cwd = block_dir(cmd.block)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("COLUMNS", "200")
    code = ablate_cli(*argv, *shrink(cmd))
    captured = capsys.readouterr()
    assert code == 0, f"{cmd.text}\n{captured.err[-4000:]}"
    results = _results_dir(cmd, cwd)
    if results is not None and "--dry-run" not in argv and os.path.isdir(results / "trials"):
        t = load(results).trials
        assert len(t) >= 1 and t.status.isin(["ok", "stopped_early"]).all(), t[["trial_id", "status", "reason"]]
        if (least := learns(cmd)) is not None:  # the small-set rules make 3 epochs learn (batch 16, BN 0.1)
            row = t.iloc[0]
            assert row.train_batch_size == 16 and row.train_bn_momentum == pytest.approx(0.1)
            assert row.val_acc >= least and row.test_acc >= least, f"chance is 0.2: {row.val_acc}, {row.test_acc}"
            assert row.n_test == 100 and "at chance" not in captured.err


def test_every_claim_names_a_readme_command():
    """An edit that changes a documented line `LEARNS` checks makes this fail, not the check vanish."""
    assert all(any(c.text.startswith(k) for c in COMMANDS) for k in LEARNS)


def test_the_extractor_finds_the_readme_commands_and_most_run():
    """The extractor finds the documented commands, and the skip rules leave most of them to run."""
    ran = [c for c in COMMANDS if _skip_reason(c) is None]
    distinct = {c.text for c in COMMANDS}  # a repeated command runs once
    assert len(distinct) >= 20 and len(ran) >= len(distinct) // 2, [c.text for c in ran]
    assert {"list", "trial", "run", "report", "replay", "probe"} <= {c.argv[0] for c in ran}
