"""The embedded default campaign learns: run with `pytest -m slow` (2 cycles, about 12 minutes on 2 cores)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_default_campaign_beats_the_mean_baseline(tmp_path, tiny_model_path):
    env = {**os.environ, "CAMPAIGN_CACHE": str(tiny_model_path.parent)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "campaign.cli.main", "run", "--config",
                           str(REPO / "search_spaces" / "balanced_6run.yaml"), f"data.root={tmp_path / 'data'}",
                           f"results_dir={tmp_path / 'results'}", "tracking.wandb=disabled"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    snap = json.loads((tmp_path / "results" / "default" / "cycle_1" / "validation_snapshot.json").read_text())
    best = next(t for t in snap["trials"] if t["trial_id"] == snap["best_trial"])["metrics"]
    mean = next(b for b in snap["baselines"] if b["mode"] == "mean_baseline")["metrics"]
    assert best["eval/json_valid_rate"] >= 0.95
    assert best["eval/mae_raw"] <= 0.8 * mean["eval/mae_raw"]
    state = json.loads((tmp_path / "results" / "default" / "campaign.json").read_text())
    assert state["status"] == "finished" and [h["cycle"] for h in state["history"]] == [1, 2]
    promoted = state["promoted"]  # cycle 1 passes its gate, so something is always promoted
    assert promoted and promoted["metrics"]["eval/mae_raw"] <= 0.8 * mean["eval/mae_raw"]
