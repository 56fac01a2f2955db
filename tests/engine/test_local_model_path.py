"""The README's single-GPU command with a local model folder, run on the CPU.

Everything but CUDA: a base model given as a path (not the built-in ``tiny``), loaded by the
workers from that folder, with ``lora.modules_to_save=[]`` as the README's command sets it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "search_spaces" / "balanced_6run.yaml"
pytestmark = pytest.mark.campaign


def test_campaign_with_a_local_model_folder(tmp_path, tiny_model_path):
    shutil.copytree(tiny_model_path, tmp_path / "models" / "my-model")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    args = [sys.executable, "-m", "campaign.cli.main", "run", "--config", str(DEFAULT), "--smoke-test", "--cycles", "1",
            "model.base_model=models/my-model", "lora.modules_to_save=[]", "train.batch_size=4",
            "data.root=data", "results_dir=results", "tracking.wandb=disabled", "preflight.enabled=false"]
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    folder = tmp_path / "results" / "default" / "cycle_1"
    snap = json.loads((folder / "validation_snapshot.json").read_text())
    assert [t["state"] for t in snap["trials"]] == ["TERMINATED", "TERMINATED"]
    adapter = json.loads((folder / "best_adapter" / "adapter" / "adapter_config.json").read_text())
    # The workers (which do not run in the driver's directory) loaded the user's folder by its absolute path.
    assert adapter["base_model_name_or_path"] == str((tmp_path / "models" / "my-model").resolve())
    assert adapter["modules_to_save"] is None
    prompt = next(b for b in snap["baselines"] if b["mode"] == "prompt_baseline")
    assert prompt["metrics"]["eval/n"] == 12  # the prompt baseline loaded the same folder in its Ray task
