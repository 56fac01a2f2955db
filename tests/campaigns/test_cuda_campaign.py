"""The CUDA path of a campaign: the smoke campaign with ``resources.profile=gpu``.

Runs only where CUDA is available (``pytest -m cuda`` selects it); elsewhere it skips with
the reason. What sits above the CUDA calls (profile → ScalingConfig, task resources,
concurrency, device_map) is covered on the CPU by test_profiles and test_tiny_model.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.cuda, pytest.mark.campaign,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (torch.cuda.is_available() is False)")]


def test_smoke_campaign_trains_nf4_on_the_gpu(tmp_path, tiny_model_path):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    args = [sys.executable, "-m", "campaign.cli.main", "run", "--config", str(REPO / "search_spaces" / "balanced_6run.yaml"),
            "--smoke-test", "--cycles", "1", "resources.profile=gpu", f"data.root={tmp_path / 'data'}",
            f"results_dir={tmp_path / 'results'}", "tracking.wandb=disabled", "preflight.steps=5"]
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    folder = tmp_path / "results" / "default" / "cycle_1"
    snap = json.loads((folder / "validation_snapshot.json").read_text())
    assert [t["state"] for t in snap["trials"]] == ["TERMINATED", "TERMINATED"]
    resolved = (folder / "resolved_config.yaml").read_text()
    assert "profile: gpu" in resolved and "gpus_per_worker: 1" in resolved
    assert all(t["metrics"]["train/peak_mem_mb"] > 0 for t in snap["trials"])  # torch.cuda.max_memory_allocated
