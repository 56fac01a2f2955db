"""A Ray Train worker killed mid-trial: Ray Train's FailureConfig restarts it, and it resumes from its checkpoint.

One trial, run twice with the same seed: straight through, and with its worker process
SIGKILLed right after its first full-state checkpoint. The restarted worker must load that
checkpoint (not start over) and end with the same metrics.
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


def _config(tmp: Path, name: str) -> Path:
    cfg = yaml.safe_load((REPO / "search_spaces" / "balanced_6run.yaml").read_text())
    cfg["name"] = name
    cfg["data"].update(base_size=60, eval_size=12)
    cfg["train"].update(epochs=2, batch_size=8, checkpoint_every_steps=2, max_worker_restarts=1)
    cfg["search"].update(num_samples=1)  # trial 1 runs the config's own values
    cfg["search"]["space"]["train.epochs"] = {"type": "choice", "values": [1, 2]}
    cfg["cycles"]["count"] = 1
    cfg["tracking"]["wandb"] = "disabled"
    cfg["preflight"] = {"enabled": False}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _start(tmp: Path, name: str, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "campaign.cli.main", "run", "--config", str(_config(tmp, name)),
           f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}"]
    return subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _attempts(folder: Path) -> list[dict]:
    logs = list((folder / "cycle_1" / "train" / "attempts").glob("*.jsonl"))
    if not logs:
        return []
    return [json.loads(line) for line in logs[0].read_text().splitlines() if line.endswith("}")]


def _kill_worker_after_first_checkpoint(proc: subprocess.Popen, folder: Path, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        saves = [r for r in _attempts(folder) if r["event"] == "checkpoint"]
        if saves:
            os.kill(saves[0]["pid"], signal.SIGKILL)  # the Ray Train worker that wrote it
            return saves[0]
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.05)
    raise AssertionError("the trial saved no checkpoint in time")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_path):
    tmp = tmp_path_factory.mktemp("worker-restart")
    env = {**os.environ, "CAMPAIGN_CACHE": str(tiny_model_path.parent)}
    env.pop("RAY_ADDRESS", None)
    straight = _start(tmp, "straight", env)
    out, _ = straight.communicate(timeout=600)
    assert straight.returncode == 0, out[-3000:]
    killed = _start(tmp, "killed", env)
    first_save = _kill_worker_after_first_checkpoint(killed, tmp / "results" / "killed")
    out, _ = killed.communicate(timeout=600)
    assert killed.returncode == 0, out[-3000:]
    return tmp / "results" / "straight", tmp / "results" / "killed", first_save


def _trial(folder: Path) -> dict:
    (trial,) = json.loads((folder / "cycle_1" / "validation_snapshot.json").read_text())["trials"]
    return trial


def test_the_restarted_worker_resumed_from_the_checkpoint_before_the_kill(runs):
    _, killed, first_save = runs
    records = _attempts(killed)
    resumes = [r for r in records if r["event"] == "resumed"]
    assert len(resumes) == 1, records
    assert (resumes[0]["path"], resumes[0]["steps"]) == (first_save["path"], first_save["steps"]) == ("ckpt-e1-s2", 2)
    assert resumes[0]["pid"] != first_save["pid"]
    assert [r["event"] for r in records].count("start") == 1  # Ray Train restarted it, not Tune
    assert _trial(killed)["state"] == "TERMINATED"


def test_the_resumed_trial_ends_as_the_uninterrupted_one(runs):
    """Same seed, data order, RNG and optimizer state restored: equal to float rounding (rel 1e-6)."""
    straight, killed, _ = runs
    a, b = _trial(straight)["metrics"], _trial(killed)["metrics"]
    assert a["train/steps"] == b["train/steps"]
    for key in ("train/loss", "valid/objective", "eval/objective", "eval/json_valid_rate", "eval/mae_raw"):
        if a[key] is None:  # the snapshot writes NaN (no valid JSON to score) as null
            assert b[key] is None, key
        else:
            assert b[key] == pytest.approx(a[key], rel=1e-6), key
