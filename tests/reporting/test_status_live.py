"""`campaign status` of a cycle that is searching: true counts and running trials, read from files.

The pure rule (``live_trials``) is checked on hand-built records; ``read_live`` and
``campaign_status`` on a hand-built cycle folder laid out as Ray 2.x and the engine
write it; and one test runs a real smoke campaign and polls its status mid-search.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from campaign.config import load_config
from campaign.decide.state import load_state, mark_driver, new_state, save_state
from campaign.reporting.status import campaign_status, cycle_rows, live_trials, read_live, running_line

REPO = Path(__file__).resolve().parents[2]
METRIC = "valid/objective"
T0 = 1_000_000.0  # attempts/report times in the pure tests


def _trial(tid, status, number, last_result=None):
    return {"trial_id": tid, "status": status, "trial": number, "name": f"cycle1-trial{number}-{tid}",
            "last_result": last_result or {}}


def _start(t, pid=1):
    return {"event": "start", "time": t, "pid": pid}


def _end(t, event="trained", pid=1):
    return {"event": event, "time": t, "pid": pid}


def _report(t, epoch, value):
    return {"time": t, "metrics": {"epoch": epoch, METRIC: value}}


def _text(lines) -> str:
    from rich.console import Console

    console = Console(record=True, width=220)
    for line in lines:
        console.print(line)
    return console.export_text()


# --- the pure rule ---------------------------------------------------------------------------------------------

def test_raw_running_trials_count_as_running_with_their_latest_epoch():
    """The reported bug: two trials RUNNING in Tune's file printed as 0 / 0 / 0 / 6."""
    trials = [_trial("a1b2c3", "RUNNING", 3, {"epoch": 1, METRIC: 12.0, "timestamp": T0 + 50}),
              _trial("d4e5f6", "RUNNING", 4)]
    attempts = {"a1b2c3": [_start(T0)], "d4e5f6": [_start(T0 + 5)]}
    reports = {"a1b2c3": [_report(T0 + 50, 1, 12.0), _report(T0 + 70, 2, 9.41)], "d4e5f6": []}
    live = live_trials(trials, attempts, reports, 6, METRIC, "min", driver=True, state_time=T0 + 60)
    assert (live["done"], live["running"], live["failed"], live["pending"]) == (0, 2, 0, 4)
    a, d = live["running_trials"]
    assert (a["trial"], a["trial_id"], a["epoch"], a["value"]) == (3, "a1b2c3", 2, 9.41)
    assert running_line(a) == "trial 3 (a1b2c3): epoch 2, valid/objective 9.41"
    assert running_line(d) == "trial 4 (d4e5f6): started, no epoch reported yet"
    assert live["best"] is None


def test_tune_status_decides_done_and_failed_and_best_comes_from_done_trials():
    trials = [_trial("t1", "TERMINATED", 1, {METRIC: 8.0}), _trial("t2", "TERMINATED", 2, {METRIC: 6.5}),
              _trial("t3", "ERROR", 3, {METRIC: 1.0}), _trial("t4", "TERMINATED", 4, {METRIC: float("nan")}),
              _trial("t5", "PENDING", 5), _trial("t6", "PAUSED", 6)]
    attempts = {"t1": [_start(T0), _end(T0 + 30)], "t2": [_start(T0 + 31), _end(T0 + 60)],
                "t3": [_start(T0 + 61)]}  # a failed trial's attempt never logs an end
    live = live_trials(trials, attempts, {}, 8, METRIC, "min", driver=True, state_time=T0 + 100)
    assert (live["done"], live["running"], live["failed"], live["pending"]) == (3, 0, 1, 4)
    assert live["best"] == {"value": 6.5, "trial_id": "t2", "name": "cycle1-trial2-t2"}
    assert live_trials(trials, attempts, {}, 8, METRIC, "max", True, T0 + 100)["best"]["trial_id"] == "t1"


def test_the_attempts_log_is_newer_than_tunes_saved_state():
    trials = [_trial("old", "RUNNING", 1), _trial("err", "ERROR", 2), _trial("new", "PENDING", 3)]
    attempts = {
        "old": [_start(T0), _end(T0 + 40)],            # returned after the save: done, not the stale RUNNING
        "err": [_start(T0), _start(T0 + 45)],          # Tune retries the errored trial since the save
        "new": [_start(T0 + 42), {"event": "checkpoint", "time": T0 + 50}],  # other events leave it open
        "unsaved": [_start(T0 + 44)],                  # started after the save: not in Tune's file yet
    }
    live = live_trials(trials, attempts, {"unsaved": [_report(T0 + 55, 1, 20.0)]}, 6, METRIC, "min", True, T0 + 30)
    assert (live["done"], live["running"], live["failed"], live["pending"]) == (1, 3, 0, 2)
    assert [(r["trial"], r["trial_id"]) for r in live["running_trials"]] == [(2, "err"), (3, "new"), (None, "unsaved")]
    assert running_line(live["running_trials"][2]) == "trial ? (unsaved): epoch 1, valid/objective 20.00"


def test_an_attempt_that_ended_before_the_save_defers_to_tune():
    trials = [_trial("r", "RUNNING", 1), _trial("e", "ERROR", 2), _trial("p", "PENDING", 3)]
    attempts = {"r": [_start(T0), _end(T0 + 10)], "e": [_start(T0)], "p": [_start(T0), _end(T0 + 10, "rereport")]}
    live = live_trials(trials, attempts, {}, 3, METRIC, "min", True, T0 + 20)
    # r: Tune saved RUNNING after its end (restarted, its new start not logged yet); e: failed before the save
    assert (live["done"], live["running"], live["failed"], live["pending"]) == (0, 1, 1, 1)


def test_nothing_runs_without_the_driver_and_an_unknown_driver_trusts_the_files():
    trials = [_trial("a", "RUNNING", 1), _trial("b", "TERMINATED", 2, {METRIC: 3.0}), _trial("c", "ERROR", 3)]
    attempts = {"a": [_start(T0)], "d": [_start(T0 + 100)]}
    gone = live_trials(trials, attempts, {}, 5, METRIC, "min", driver=False, state_time=T0 + 50)
    assert (gone["done"], gone["running"], gone["failed"], gone["pending"]) == (1, 0, 1, 3)
    assert gone["running_trials"] == []
    unknown = live_trials(trials, attempts, {}, 5, METRIC, "min", driver=None, state_time=T0 + 50)
    assert (unknown["done"], unknown["running"], unknown["failed"], unknown["pending"]) == (1, 2, 1, 1)


def test_the_newest_report_wins_and_non_numbers_show_as_a_dash():
    trials = [_trial("a", "RUNNING", 1)]
    reports = {"a": [_report(T0 + 30, 2, 11.0),                     # Tune's last_result (saved state)
                     _report(T0 + 30, 2, 11.0),                     # result.json, synced with it
                     _report(T0 + 41.5, 3, float("nan")),           # the newest Train checkpoint
                     {"time": T0 + 99, "metrics": {"train/loss": 1.0}}]}  # no epoch: not a report of one
    live = live_trials(trials, {"a": [_start(T0)]}, reports, 1, METRIC, "min", True, T0 + 35)
    assert running_line(live["running_trials"][0]) == "trial 1 (a): epoch 3, valid/objective —"
    assert (live["done"], live["running"], live["failed"], live["pending"]) == (0, 1, 0, 0)


def test_no_state_file_yet():
    live = live_trials([], {}, {}, 4, METRIC, "min", True, None)
    assert (live["done"], live["running"], live["failed"], live["pending"], live["best"]) == (0, 0, 0, 4, None)
    live = live_trials([], {"x": [_start(T0)], "y": [_start(T0), _end(T0 + 5)]}, {}, 4, METRIC, "min", True, None)
    assert (live["done"], live["running"], live["failed"], live["pending"]) == (1, 1, 0, 2)


# --- the files, laid out as Ray 2.x and the engine write them --------------------------------------------------

def _tune_entry(tid, status, number, last_result=None):
    """One ``trial_data`` entry of Tune's experiment state: two JSON strings, as TuneController.save_to_dir writes."""
    tag = f"{number}_add_ratio=0.1000,lr=0.0020"
    trial = {"trial_id": tid, "status": status, "experiment_tag": tag,
             "custom_trial_name": f"cycle1-trial{number}-{tid}",
             "relative_logdir": f"cycle1-trial{number}-{tid}_{tag}_2026-01-01_00-00-00", "config": {},
             "results": "80049500", "stub": True}
    meta = {"start_time": T0, "num_failures": 0, "last_result": last_result or {}, "last_result_time": float("-inf")}
    return [json.dumps(trial, indent=2), json.dumps(meta)]


def _cycle_folder(cf: Path, now: float) -> None:
    """Tune saved its state 20 s ago: trial 1 done, trial 2 RUNNING at epoch 1; since then trial 2 reached epoch 2
    (its Train checkpoint) and trial 3 started (attempts log only)."""
    tune = cf / "tune"
    tune.mkdir(parents=True)
    entries = [_tune_entry("aaa111", "TERMINATED", 1, {"epoch": 3, METRIC: 7.25, "timestamp": int(now) - 60}),
               _tune_entry("bbb222", "RUNNING", 2, {"epoch": 1, METRIC: 12.5, "timestamp": int(now) - 25})]
    old = tune / "experiment_state-2026-01-01_00-00-00.json"
    old.write_text(json.dumps({"trial_data": entries[:1], "runner_data": {}, "stats": {}}))
    state = tune / "experiment_state-2026-01-01_00-10-00.json"  # the newest by name, as Tune picks it
    state.write_text(json.dumps({"trial_data": entries, "runner_data": {}, "stats": {"start_time": T0}}))
    os.utime(state, (now - 20, now - 20))
    logdir = tune / json.loads(entries[1][0])["relative_logdir"]
    logdir.mkdir()
    (logdir / "result.json").write_text(json.dumps({"epoch": 1, METRIC: 12.5, "timestamp": int(now) - 25}) + "\n")
    for epoch, age, value in ((1, 25, 12.5), (2, 5, 9.41)):
        ckpt = cf / "train" / "bbb222" / f"checkpoint_2026-01-01_00-1{epoch}-00.000000"
        ckpt.mkdir(parents=True)
        (ckpt / "metrics.json").write_text(json.dumps({"epoch": epoch, METRIC: value}))
        os.utime(ckpt / "metrics.json", (now - age, now - age))
    attempts = cf / "train" / "attempts"
    attempts.mkdir(parents=True)
    lines = {"aaa111": [_start(now - 120), _end(now - 60)], "bbb222": [_start(now - 58)], "ccc333": [_start(now - 3)]}
    for tid, events in lines.items():
        (attempts / f"{tid}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    with (attempts / "ccc333.jsonl").open("a") as fh:
        fh.write('{"event": "trai')  # a line being written


def test_read_live_takes_the_raw_state_and_the_newer_files(tmp_path):
    now = time.time()
    _cycle_folder(tmp_path, now)
    live = read_live(tmp_path, 6, METRIC, "min", driver=True)
    assert (live["done"], live["running"], live["failed"], live["pending"]) == (1, 2, 0, 3)
    assert [running_line(r) for r in live["running_trials"]] == [
        "trial 2 (bbb222): epoch 2, valid/objective 9.41", "trial ? (ccc333): started, no epoch reported yet"]
    assert live["best"]["name"] == "cycle1-trial1-aaa111"
    gone = read_live(tmp_path, 6, METRIC, "min", driver=False)
    assert (gone["done"], gone["running"], gone["failed"], gone["pending"]) == (1, 0, 0, 5)


def test_campaign_status_lists_running_trials_without_ray_or_torch(tmp_path):
    cfg = load_config(None, {"name": "live", "results_dir": str(tmp_path)})
    folder = cfg.results_path()
    _cycle_folder(folder / "cycle_1", time.time())
    state = new_state(cfg)
    mark_driver(state)  # this test process plays the driver
    state["cycles"]["1"] = {"status": "searching", "data_version": "v1", "focus_dims": [], "gate": None}
    save_state(folder, state)
    code = ("import sys; from pathlib import Path; from campaign.reporting.status import campaign_status; "
            f"lines = campaign_status(Path({str(folder)!r})); "
            "assert 'torch' not in sys.modules and 'ray' not in sys.modules, 'imported torch or ray'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)
    text = _text(campaign_status(folder))
    assert "1 / 2 / 0 / 3" in text and "valid/objective 7.25 (cycle1-trial1-aaa111)" in text
    assert "cycle 1 running trial 2 (bbb222): epoch 2, valid/objective 9.41" in text
    assert "cycle 1 running trial ? (ccc333): started, no epoch reported yet" in text
    row = cycle_rows(folder, load_state(folder))[0]
    assert row["counts"] == "1 / 2 / 0 / 3" and len(row["running_trials"]) == 2
    state["driver"]["pid"] = 2**22 + 12345  # a driver that is gone: nothing runs
    save_state(folder, state)
    text = _text(campaign_status(folder))
    assert "interrupted" in text and "1 / 0 / 0 / 5" in text and "running trial" not in text


# --- a live campaign -------------------------------------------------------------------------------------------

def _attempts(cycle: Path) -> dict[str, list[str]]:
    out = {}
    for path in (cycle / "train" / "attempts").glob("*.jsonl"):
        events = []
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line)["event"])
            except (ValueError, KeyError):
                continue
        out[path.stem] = events
    return out


def _open(cycle: Path) -> set[str]:
    """Trials whose last attempt started and has not ended (the test's own reading of the attempts log)."""
    out = set()
    for tid, events in _attempts(cycle).items():
        starts = [i for i, e in enumerate(events) if e == "start"]
        if starts and not any(e in ("trained", "rereport") for e in events[starts[-1]:]):
            out.add(tid)
    return out


def _counts(row) -> tuple[int, ...]:
    return tuple(int(x) for x in row["counts"].split(" / "))


@pytest.mark.campaign
def test_status_of_a_live_campaign(tmp_path, tiny_model_path):
    name = f"live-{uuid.uuid4().hex[:8]}"
    folder, cycle = tmp_path / "results" / name, tmp_path / "results" / name / "cycle_1"
    env = {**os.environ, "CAMPAIGN_CACHE": str(tiny_model_path.parent), "COLUMNS": "200"}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "campaign.cli.main", "run", "--config", str(REPO / "search_spaces" / "balanced_6run.yaml"),
           "--smoke-test", "--cycles", "1", f"name={name}", f"results_dir={tmp_path / 'results'}",
           f"data.root={tmp_path / 'data'}", "train.max_steps=40", "search.num_samples=2",
           "resources.max_concurrent=1", "tracking.wandb=disabled", "preflight.enabled=false"]
    log = tmp_path / "run.log"
    seen_running, seen_epochs, printout = set(), {}, None
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 300
            while proc.poll() is None and time.time() < deadline:
                state = load_state(folder) if (folder / "campaign.json").exists() else None
                if not state or state["cycles"].get("1", {}).get("status") != "searching":
                    time.sleep(0.5)
                    continue
                before = _open(cycle)
                row = cycle_rows(folder, state)[0]
                after = _open(cycle)
                done, running, failed, pending = _counts(row)
                assert done + running + failed + pending == 2, row
                assert running <= 1, row  # max_concurrent=1
                if before & after:  # a trial started and had not finished throughout the status call
                    assert running == 1, (row, before)
                    assert {r["trial_id"] for r in row["running_trials"]} == before & after, row
                for r in row["running_trials"]:
                    seen_running.add(r["trial_id"])
                    if r["epoch"] is not None:
                        assert r["trial"] in (1, 2) and r["metric"] == METRIC, r
                        seen_epochs.setdefault(r["trial_id"], set()).add(r["epoch"])
                        if printout is None:  # a real `campaign status` printout, captured mid-run
                            tid = r["trial_id"]
                            out = subprocess.run([sys.executable, "-m", "campaign.cli.main", "status", str(folder)],
                                                 cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
                            assert out.returncode == 0, out.stderr
                            printout = out.stdout
                            (tmp_path / "status_midrun.txt").write_text(printout)
                            if tid in _open(cycle):  # still running after the command: it must show
                                assert re.search(rf"cycle 1 running trial \d \({tid}\): epoch \d+, "
                                                 rf"valid/objective (\d+\.\d\d|—)", printout), printout
                                assert "/ 1 / 0 /" in printout, printout
                time.sleep(0.3)
            rc = proc.wait(timeout=max(deadline - time.time(), 1))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    assert rc == 0, log.read_text()[-4000:]
    assert len(seen_running) == 2, seen_running  # both trials were seen running, one at a time
    assert seen_epochs and all(e >= 1 for epochs in seen_epochs.values() for e in epochs), seen_epochs
    assert printout is not None
    text = _text(campaign_status(folder))
    assert "finished · cycles 1 of 1 done" in text and "2 / 0 / 0 / 0" in text and "running trial" not in text
    live = read_live(cycle, 2, METRIC, "min", driver=False)  # the files alone agree once the search is over
    assert (live["done"], live["running"], live["failed"], live["pending"]) == (2, 0, 0, 0)
