"""`ablate run` through the CLI, killed part-way (SIGKILL) and continued with ``--resume``.

Every trial must end up with exactly one trials row and epochs 1..epochs_run once each;
finished trials are not rerun; the trial that was training when the driver died continues
from its last checkpoint (its earlier epoch rows are the ones trained before the kill).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablate.results import committed_trials
from tests.integration.test_sweep import (
    assert_complete_rows,
    newest_epoch_checkpoint,
    row_marks,
    tiny_sweep_file,
)

pytestmark = pytest.mark.slow


def _cmd(sweep: Path, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ablate.cli", "run", str(sweep), "--local", "--data", "synthetic",
            "--results", str(results), "--set", "search.num_samples=3", "--set", "epochs=4", *extra]


def _unfinished_checkpoints(results: Path) -> dict[str, Path]:
    """Runs without committed rows that published an epoch checkpoint: row id -> that
    checkpoint's progress file (where a resumed run continues from)."""
    done = committed_trials(results)
    out = {}
    for run in (results / "ray" / "train").glob("*"):
        progress = newest_epoch_checkpoint(run)
        if run.name not in done and progress is not None:
            out[run.name] = progress
    return out


def _in_tune_snapshot(results: Path, exp: str, row_id: str) -> bool:
    """Whether Tune's saved experiment state (what `--resume` restores) lists the run's trial."""
    tune_id = row_id.split("-")[-1]
    return any(tune_id in p.read_text() for p in (results / "ray" / exp).glob("experiment_state-*.json"))


def _wait_for_kill_point(proc: subprocess.Popen, results: Path, committed: int, timeout: float = 300) -> str:
    """Until `committed` trials have rows and the next has an epoch checkpoint: that run's row id."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if len(committed_trials(results)) >= committed and (runs := _unfinished_checkpoints(results)):
            return next(iter(runs))
        time.sleep(0.1)
    raise AssertionError(f"no kill point within {timeout}s (exit code {proc.poll()})")


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the driver (a crash), then its session: the local Ray it started."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _end_session(proc: subprocess.Popen) -> None:
    """Kill what is left of a run's session (the local Ray it started), the run itself too."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_killed_sweep_resumes_with_every_trial_exactly_once(tmp_path):
    """An NSGA-II sweep (two objectives, Optuna's journal) SIGKILLed when 2 of its 4 trials have
    rows and the 3rd has trained an epoch but is not yet in Tune's saved experiment state (the
    first run saves that state only at its start, so the window is open for sure: the test waits
    for the 3rd run's checkpoint, then checks the snapshot does not list it). ``--resume`` adopts
    that run: the same run id and configuration, continued from its checkpoint, the same Optuna
    trial told; the journal ends with 4 complete trials, each once, with the rows' values."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    sweep = tiny_sweep_file(
        tmp_path, "resume-sweep",
        search={"algorithm": "nsga2", "num_samples": 4, "max_concurrent": 1,
                "metric": ["val_acc", "params"], "mode": ["max", "min"],
                "space": {"fusion.taps": {"subset": {"of": ["features.0", "features.1", "features.3", "features.12"],
                                                     "min": 2}},
                          "fusion.dropout": {"uniform": [0.2, 0.5]}}},
        scheduler={"kind": "none"},
    )
    results = tmp_path / "res"
    log = (tmp_path / "first.log").open("w")
    shrink = ("--set", "search.num_samples=4", "--set", "epochs=3")  # 2 epochs after the 1st: time to see it
    proc = subprocess.Popen(_cmd(sweep, results, *shrink), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "3600"})
    try:
        third = _wait_for_kill_point(proc, results, committed=2)
        assert not _in_tune_snapshot(results, "resume-sweep", third)  # the window the kill must land in
    finally:
        _kill(proc)
    finished = row_marks(results)
    history = json.loads(_unfinished_checkpoints(results)[third].read_text())["history"]
    assert len(finished) == 2 and history
    suggested = json.loads((results / "ray" / "train" / third / "suggested.json").read_text())["config"]

    again = subprocess.run(_cmd(sweep, results, *shrink, "--resume"), check=False, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"adopting run {third}" in again.stderr
    res = assert_complete_rows(results, 4)
    t = res.trials.set_index("trial_id")
    assert (t.status == "ok").all() and (t.epochs_run == 3).all()
    assert set(finished) | {third} < set(t.index)  # the interrupted run kept its id: not re-sampled
    after = row_marks(results)
    for tid, marks in finished.items():  # finished trials were not rerun
        assert after[tid] == marks, tid
    rows = res.epochs[res.epochs.trial_id == third].sort_values("epoch")  # continued, not restarted
    assert rows[rows.epoch <= len(history)].epoch_s.tolist() == pytest.approx([h["epoch_s"] for h in history])
    assert json.loads(t.loc[third, "space.fusion.taps"]) == suggested["values"]["fusion.taps"]
    taps = [json.loads(x) for x in t["space.fusion.taps"]]
    assert all(len(x) >= 2 for x in taps)  # Optuna's subset, min enforced
    assert all(json.loads(c)["fusion"]["taps"] == x for c, x in zip(t.config_json, taps, strict=True))
    assert "resume-sweep" in again.stderr and "4 trial(s)" in again.stderr

    storage = JournalStorage(JournalFileBackend(str(results / "optuna.journal")))
    study = optuna.load_study(storage=storage, study_name="resume-sweep/search/0")
    assert len(study.directions) == 2
    told = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert sorted(x.user_attrs["ablate_trial_id"] for x in told) == sorted(t.index)  # each once
    assert all(x.state.is_finished() for x in study.trials)  # nothing left running
    for x in told:  # the values Optuna holds are the rows'
        row = t.loc[x.user_attrs["ablate_trial_id"]]
        assert x.values == pytest.approx([row.val_acc, row.params])
        assert x.user_attrs["config_hash"] == row.config_hash and x.user_attrs["seed"] == row.seed


def test_driver_killed_at_each_point_and_ctrl_c_resume_with_every_row_once(tmp_path):
    """SIGKILL of `ablate run` itself (ABLATE_CRASH_AT) when a trial has ended but its rows are not
    written; then Ctrl-C (SIGINT: exit 130, the finished rows kept, the exact --resume command,
    which works as typed); then SIGKILL right after a row's commit, when Tune has returned but
    nothing is reconciled, and after the reconciliation. After each, the results load with no
    row twice, and the last --resume ends with every trial's rows exactly once and no finished
    trial rewritten."""
    sweep = tiny_sweep_file(tmp_path, "crash-sweep", trial={"epochs": 2},
                            search={"num_samples": 3, "max_concurrent": 1,
                                    "space": {"fusion.dropout": {"uniform": [0.2, 0.5]}}},
                            scheduler={"kind": "none"})
    results = tmp_path / "res"

    def run(crash: str | None, *extra: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "ABLATE_CRASH_AT"}
        if crash:
            env["ABLATE_CRASH_AT"] = crash
        cmd = _cmd(sweep, results, *extra)
        cmd[cmd.index("epochs=4")] = "epochs=2"
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=600)
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the local Ray it started
            except ProcessLookupError:
                pass
        (tmp_path / f"run-{crash}.log").write_text(out)
        return subprocess.CompletedProcess(cmd, p.returncode, out, "")

    def run_typed(crash: str, typed: list[str]) -> subprocess.CompletedProcess:
        """The resume command as the hint printed it (``ablate run ...``), through this interpreter."""
        env = {**os.environ, "ABLATE_CRASH_AT": crash}
        p = subprocess.Popen([sys.executable, "-m", "ablate.cli", *typed[1:]], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = p.communicate(timeout=600)
        finally:
            _end_session(p)
        return subprocess.CompletedProcess(typed, p.returncode, out, "")

    def rows() -> dict[str, tuple]:
        return row_marks(results)

    first = run("trial_ended:2")  # the 2nd trial ended; its rows not written yet
    assert first.returncode == -signal.SIGKILL, first.stdout[-2000:]
    seen = rows()
    assert len(seen) == 1

    # Ctrl-C once the resumed run has committed the 2nd trial: Tune stops gracefully
    cmd = _cmd(sweep, results, "--resume")
    cmd[cmd.index("epochs=4")] = "epochs=2"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={k: v for k, v in os.environ.items() if k != "ABLATE_CRASH_AT"})
    try:
        end = time.monotonic() + 300
        while len(committed_trials(results)) < 2 and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        _end_session(proc)
    assert proc.returncode == 130, out[-3000:]
    hint = next(ln for ln in out.splitlines() if ln.startswith("error: sweep crash-sweep stopped"))
    assert "unfinished" in hint and "--resume" in hint
    resume_cmd = shlex.split(hint.split("continue it with: ", 1)[1])
    assert resume_cmd[:3] == ["ablate", "run", str(sweep)] and "--resume" in resume_cmd  # as typed
    now = rows()
    assert 2 <= len(now) < 3 and all(now[t] == m for t, m in seen.items())
    seen = now

    for crash in ("trial_recorded:1", "tune_done:1", "reconciled:1"):
        r = run(crash, "--resume") if crash != "trial_recorded:1" else run_typed(crash, resume_cmd)
        assert r.returncode == -signal.SIGKILL, r.stdout[-2000:]
        now = rows()
        rewritten = [t for t, m in seen.items() if now[t] != m]
        assert not rewritten, (crash, rewritten, r.stdout)  # nothing finished was rerun
        seen = now
    assert len(seen) == 3  # the reconciliation had written every row before the last kill
    last = run(None, "--resume")
    assert last.returncode == 0, last.stdout[-3000:]
    res = assert_complete_rows(results, 3)
    assert (res.trials.status == "ok").all() and (res.trials.epochs_run == 2).all()
    assert all(row_marks(results)[t] == m for t, m in seen.items())
