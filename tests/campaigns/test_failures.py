"""Failed trials: recorded with their error while others finish; a cycle with none finished stops the campaign."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "search_spaces" / "balanced_6run.yaml"
pytestmark = pytest.mark.campaign


def _run(tmp: Path, tiny_model_path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CAMPAIGN_CACHE": str(tiny_model_path.parent)}
    env.pop("RAY_ADDRESS", None)
    args = [sys.executable, "-m", "campaign.cli.main", "run", "--config", str(DEFAULT), "--smoke-test", "--cycles", "1",
            f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}", "tracking.wandb=disabled",
            "search.max_failures=0", "preflight.enabled=false", *overrides]
    return subprocess.run(args, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)


def test_a_failed_trial_is_recorded_and_the_campaign_goes_on(tmp_path, tiny_model_path):
    # Trial 1 is the config's own point (all-linear, trains); the seeded random sampler's next
    # proposals include a module name the model does not have, so peft fails that trial.
    proc = _run(tmp_path, tiny_model_path, "search.num_samples=3", "search.sampler=random", "search.seed=3",
                "search.space={lora.target_modules: {type: choice, values: [all-linear, no_such_module]}}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    snap = json.loads((tmp_path / "results" / "default" / "cycle_1" / "validation_snapshot.json").read_text())
    states = {t["config"]["lora.target_modules"]: t["state"] for t in snap["trials"]}
    assert states == {"all-linear": "TERMINATED", "no_such_module": "ERROR"}
    failed = [t for t in snap["trials"] if t["state"] == "ERROR"]
    assert all("No modules were targeted for adaptation" in t["error"] for t in failed)  # peft's own error
    # the quiet console still shows the failure: one line per failed trial, and Tune's traceback on stderr
    assert re.search(r"^  cycle 1 · trial \d+ \(\w+\) · FAILED: .*NoMatchingPeftModuleError", proc.stdout, re.MULTILINE)
    assert "Trial task failed for trial" in proc.stderr and "TrainingReport(" not in proc.stdout + proc.stderr
    assert snap["best_trial"] in {t["trial_id"] for t in snap["trials"] if t["state"] == "TERMINATED"}
    state = json.loads((tmp_path / "results" / "default" / "campaign.json").read_text())
    assert state["status"] == "finished"


def test_a_cycle_with_no_finished_trial_stops_with_the_first_error(tmp_path, tiny_model_path):
    proc = _run(tmp_path, tiny_model_path, "lora.target_modules=[no_such_module]",
                "search.space={train.lr: {type: loguniform, low: 1.0e-3, high: 5.0e-3}}")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "cycle 1: no trial finished (2 of 2 failed; first error:" in proc.stderr
    assert "NoMatchingPeftModuleError: No modules were targeted for adaptation" in proc.stderr
    state = json.loads((tmp_path / "results" / "default" / "campaign.json").read_text())
    assert state["status"] == "stopped" and state["cycles"]["1"]["status"] == "failed"
    assert state["promoted"] is None


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has GPUs")
def test_a_gpu_profile_on_a_cpu_only_cluster_stops_before_the_results_folder(tmp_path, tiny_model_path):
    proc = _run(tmp_path, tiny_model_path, "resources.profile=gpu")
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "error: resources: one trial needs 1 GPU but the cluster has none" in proc.stderr
    assert not (tmp_path / "results").exists()  # nothing to resume or overwrite afterwards
