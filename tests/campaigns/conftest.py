"""Run a shipped campaign YAML, shrunk by the test, through the real CLI in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shipped_campaign(tmp_path_factory, tiny_model_path):
    """``run(yaml_name, name, shrink)`` -> ``(tmp, campaign folder, overrides)``; ``shrink(cfg)`` edits the config."""
    def run(yaml_name: str, name: str, shrink) -> tuple[Path, Path, list[str]]:
        tmp = tmp_path_factory.mktemp(name)
        cfg = yaml.safe_load((REPO / "search_spaces" / yaml_name).read_text())
        cfg["name"] = name
        shrink(cfg)
        config = tmp / "campaign.yaml"
        config.write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "CAMPAIGN_CACHE": str(tiny_model_path.parent)}
        env.pop("RAY_ADDRESS", None)
        args = [f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}", "tracking.wandb=offline"]
        proc = subprocess.run([sys.executable, "-m", "campaign.cli.main", "run", "--config", str(config), *args],
                              cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
        (tmp / "run.log").write_text(proc.stdout + proc.stderr)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        return tmp, tmp / "results" / name, args
    return run
