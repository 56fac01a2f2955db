"""kill -9 of the driver in the middle of a trial, then `campaign resume`: nothing lost, nothing trained twice.

The interrupted trial resumes from its newest full-state checkpoint (every 2 optimizer steps
here), so at most one checkpoint interval is trained again.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.campaign


def _config(tmp: Path) -> Path:
    """2 cycles of 3 sequential trials: one trial at a time makes TPE's proposals independent of timing."""
    cfg = yaml.safe_load((REPO / "search_spaces" / "balanced_6run.yaml").read_text())
    cfg["name"] = "resume"
    cfg["data"].update(base_size=60, eval_size=12)
    cfg["train"].update(epochs=2, batch_size=8, checkpoint_every_steps=2)
    cfg["search"].update(num_samples=3)
    cfg["search"]["space"]["train.epochs"] = {"type": "choice", "values": [1, 2]}
    cfg["resources"]["max_concurrent"] = 1
    cfg["tracking"]["wandb"] = "disabled"
    cfg["cycles"]["force_facets"] = ["energy"]  # focus pools even when this little training measures nothing
    cfg["preflight"] = {"steps": 5}  # the preflight runs, kept short
    path = tmp / "campaign.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env(tiny_model_path) -> dict:
    env = {**os.environ, "CAMPAIGN_CACHE": str(tiny_model_path.parent)}
    env.pop("RAY_ADDRESS", None)
    return env


def _run(tmp: Path, root: Path) -> list[str]:
    return [sys.executable, "-m", "campaign.cli.main", "run", "--config", str(_config(tmp)), f"data.root={root / 'data'}",
            f"results_dir={root / 'results'}"]


def _records(folder: Path) -> dict[str, list[dict]]:
    out = {}
    for path in (folder / "train" / "attempts").glob("*.jsonl"):
        out[path.stem] = [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
    return out


def _events(folder: Path) -> dict[str, list[str]]:
    return {trial: [r["event"] for r in records] for trial, records in _records(folder).items()}


def _unfinished(events: list[str]) -> bool:
    return "start" in events and "trained" not in events and "rereport" not in events


def _kill_mid_trial(proc: subprocess.Popen, cycle_1: Path, timeout: float = 600) -> dict:
    """SIGKILL the driver once one trial has trained and the next one has saved a full-state checkpoint."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        events = _events(cycle_1)
        trained = [t for t, e in events.items() if "trained" in e]
        running = [t for t, e in events.items() if _unfinished(e) and "checkpoint" in e]
        if trained and running:  # mid-training of the second trial, right after a checkpoint
            proc.send_signal(signal.SIGKILL)
            proc.wait(60)
            return _records(cycle_1)
        assert proc.poll() is None, "the campaign ended before it could be killed"
        time.sleep(0.1)
    raise AssertionError("no trial started training in time")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_path):
    tmp = tmp_path_factory.mktemp("resume")
    env = {**_env(tiny_model_path), "TUNE_GLOBAL_CHECKPOINT_S": "1"}  # Tune records the running trial at once
    straight, killed = tmp / "straight", tmp / "killed"
    done = subprocess.run(_run(tmp, straight), cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (killed / "driver.log")
    killed.mkdir()
    with log.open("w") as fh:
        proc = subprocess.Popen(_run(tmp, killed), cwd=tmp, env=env, stdout=fh, stderr=subprocess.STDOUT)
        at_kill = _kill_mid_trial(proc, killed / "results" / "resume" / "cycle_1")
    time.sleep(3)  # Ray's processes share the driver's fate
    resumed = subprocess.run([sys.executable, "-m", "campaign.cli.main", "resume", str(killed / "results" / "resume")],
                             cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    return straight / "results" / "resume", killed / "results" / "resume", at_kill, resumed.stdout + resumed.stderr


def _snapshot(folder: Path, cycle: int) -> dict:
    return json.loads((folder / f"cycle_{cycle}" / "validation_snapshot.json").read_text())


def test_every_trial_exactly_once_and_all_finished(runs):
    _, killed, _, _ = runs
    state = json.loads((killed / "campaign.json").read_text())
    assert state["status"] == "finished" and set(state["cycles"]) == {"1", "2"}
    for cycle in (1, 2):
        trials = _snapshot(killed, cycle)["trials"]
        assert [t["trial"] for t in trials] == [1, 2, 3]
        assert len({t["trial_id"] for t in trials}) == 3
        assert all(t["state"] == "TERMINATED" and t["metrics"].get("eval/n") == 12 for t in trials)


def test_the_kill_hit_a_trial_and_no_finished_trial_trained_twice(runs):
    _, killed, at_kill, log = runs
    at_kill = {t: [r["event"] for r in records] for t, records in at_kill.items()}
    trained_before = {t for t, e in at_kill.items() if "trained" in e}
    interrupted = {t for t, e in at_kill.items() if _unfinished(e)}
    assert trained_before and interrupted
    for cycle in (1, 2):
        recorded = {t["trial_id"] for t in _snapshot(killed, cycle)["trials"]}
        events = _events(killed / f"cycle_{cycle}")
        for trial in recorded:  # every recorded trial trained exactly once (or re-reported its finished run)
            assert events[trial].count("trained") == 1, (cycle, trial, events[trial])
            assert events[trial].count("rereport") <= 1, (cycle, trial, events[trial])
    after = _events(killed / "cycle_1")
    recorded = {t["trial_id"] for t in _snapshot(killed, 1)["trials"]}
    for trial in trained_before:  # trained before the kill: recorded, never trained again
        assert trial in recorded and after[trial].count("trained") == 1
    for trial in interrupted:
        if trial in recorded:  # Tune had recorded it: restarted, resumed mid-trial, trained once
            assert after[trial].count("start") == 2 and after[trial].count("trained") == 1
        else:  # Tune's last saved state predates it: the restored search proposed it again under a new id
            assert "trained" not in after[trial]
    assert "restoring the interrupted search" in log


def test_the_interrupted_trial_resumed_from_its_newest_checkpoint(runs):
    """At most one checkpoint interval (2 steps) is trained again: the resume loads the last save before the kill."""
    _, killed, at_kill, _ = runs
    recorded = {t["trial_id"] for t in _snapshot(killed, 1)["trials"]}
    after = _records(killed / "cycle_1")
    resumed = 0
    for trial, before in at_kill.items():
        names = [r["event"] for r in before]
        if not _unfinished(names) or trial not in recorded:
            continue
        # the killed driver's workers may train on for a moment: the newest save before the restart counts
        restart = [i for i, r in enumerate(after[trial]) if r["event"] == "start"][1]
        last_save = [r for r in after[trial][:restart] if r["event"] == "checkpoint"][-1]
        resume = next(r for r in after[trial][restart:] if r["event"] == "resumed")
        assert (resume["path"], resume["steps"]) == (last_save["path"], last_save["steps"]) and resume["steps"] >= 2
        assert resume["pid"] != last_save["pid"]  # a new worker process
        resumed += 1
    assert resumed == 1


def test_resumed_campaign_matches_an_uninterrupted_one(runs):
    straight, killed, _, _ = runs
    for cycle in (1, 2):
        a, b = _snapshot(straight, cycle)["trials"], _snapshot(killed, cycle)["trials"]
        assert [t["config"] for t in a] == [t["config"] for t in b]
        assert [t["metrics"]["valid/objective"] for t in a] == pytest.approx([t["metrics"]["valid/objective"] for t in b])
    plan_a = json.loads((straight / "cycle_2" / "plan.json").read_text())
    plan_b = json.loads((killed / "cycle_2" / "plan.json").read_text())
    assert plan_a["data_version"] == plan_b["data_version"] == "v2"
    va = json.loads((Path(plan_a["data_path"]) / "manifest.json").read_text())
    vb = json.loads((Path(plan_b["data_path"]) / "manifest.json").read_text())
    assert va["fingerprint"] == vb["fingerprint"] and va["files"] == vb["files"]  # byte-identical cycle-2 data
    assert va["focus_facets"] == vb["focus_facets"] == ["energy"] and va["parent"] == "v1"
    assert _without_ids(plan_a["seeding"]) == _without_ids(plan_b["seeding"])  # ids are Ray's random hex


def _without_ids(seeding: dict) -> dict:
    control = seeding.get("control") and {k: v for k, v in seeding["control"].items() if k != "of_trial_id"}
    return {**seeding, "carried": [{k: v for k, v in c.items() if k != "trial_id"} for c in seeding["carried"]],
            "control": control}


def test_the_stored_optuna_study_holds_every_tune_trial_once_after_the_kill(runs):
    """Each cycle's study in optuna.db: Tune's trials exactly once, none left open, as in the uninterrupted run."""
    from campaign.tracking.optuna_study import study_records, verify_study

    straight, killed, _, log = runs
    own = {}
    for folder in (straight, killed):
        studies = {r["name"]: r for r in study_records(folder / "optuna.db")}
        assert set(studies) == {"resume-cycle1", "resume-cycle2"}
        for cycle in (1, 2):
            trials = _snapshot(folder, cycle)["trials"]
            check = verify_study(folder / "optuna.db", f"resume-cycle{cycle}", [t["trial_id"] for t in trials])
            assert (check["trials"], check["missing"], check["extra"], check["duplicated"], check["open"]) == \
                (3, [], [], [], []), (folder.name, cycle, check)
            stored = {t["user_attrs"]["trial_id"]: t for t in studies[f"resume-cycle{cycle}"]["trials"]
                      if "trial_id" in t["user_attrs"]}
            assert all(stored[t["trial_id"]]["state"] == "COMPLETE" and stored[t["trial_id"]]["value"] ==
                       pytest.approx(t["metrics"]["valid/objective"]) for t in trials)
            # the order Optuna asked in, and what it proposed, match the run that was never killed
            own[folder, cycle] = [(t["params"], t["value"]) for t in sorted(stored.values(), key=lambda t: t["number"])]
    for cycle in (1, 2):
        a, b = own[straight, cycle], own[killed, cycle]
        assert [p for p, _ in a] == [p for p, _ in b] and [v for _, v in a] == pytest.approx([v for _, v in b])
    assert "Optuna study resume-cycle1: 3 trials" in log and "the stored study and Tune's trials differ" not in log
