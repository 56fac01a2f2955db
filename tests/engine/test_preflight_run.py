"""The preflight for real: one Ray task on the tiny model (CPU), through `campaign run`.

The three runs share one Ray instance started in this process (RaySession reuses a running
Ray), so each costs its data, the device probe and 5 training steps, not a Ray start.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from campaign.cli.main import main
from campaign.config import load_config
from campaign.decide.state import new_state
from campaign.engine.preflight import PREFLIGHT_FILE, campaign_preflight

REPO = Path(__file__).resolve().parents[2]
DEFAULT = str(REPO / "search_spaces" / "balanced_6run.yaml")
FIELDS = {"passed", "failures", "warnings", "summary", "loss_trend", "steps", "memory_fraction", "setting", "wall_s",
          "created", "result"}
RESULT_FIELDS = {"node_id", "steps", "steps_run", "batch_size", "grad_accum", "seq_len", "lora_r", "gradient_checkpointing",
                 "quantization", "precision", "device", "device_name", "rows", "truncated", "losses", "nan_step",
                 "tokens", "train_s", "tokens_per_s", "load_s", "batching", "batching_why", "peak_memory_mb",
                 "device_memory_mb", "memory_measure", "memory_shared_by", "error", "oom", "error_step"}


@pytest.fixture(scope="module")
def ray_here(tiny_model_path):
    """One local Ray for the module, shut down after it; the environment Ray's start changes is restored."""
    import ray

    saved = dict(os.environ)
    os.environ.pop("RAY_ADDRESS", None)
    yield tiny_model_path
    ray.shutdown()
    os.environ.clear()
    os.environ.update(saved)


def _args(tmp: Path, *extra: str) -> list[str]:
    return ["run", "--config", DEFAULT, "--smoke-test", f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}",
            "tracking.wandb=disabled", "preflight.steps=5", *extra]


@pytest.mark.campaign
def test_preflight_alone_passes_and_writes_only_its_record(ray_here, tmp_path, capsys):
    # batch size searched over [4, 6]: the preflight runs the largest, 6 rows of 128 tokens each
    space = "search.space={train.batch_size: {type: choice, values: [4, 6]}}"
    assert main(_args(tmp_path, "--preflight", "train.batch_size=4", space)) == 0
    out = capsys.readouterr().out
    assert "preflight: 5 step(s) of one worker at the largest memory setting (batch_size 6, max_seq_len 128, r 16)" in out
    assert "✓ preflight passed" in out and "memory: peak " in out and "tokens/s" in out
    folder = tmp_path / "results" / "default"
    assert [p.name for p in folder.iterdir()] == [PREFLIGHT_FILE]  # no campaign.json, no cycle
    record = json.loads((folder / PREFLIGHT_FILE).read_text())
    assert set(record) == FIELDS and set(record["result"]) == RESULT_FIELDS
    r = record["result"]
    assert record["passed"] and record["failures"] == [] and record["steps"] == 5
    assert record["setting"]["overrides"] == {"train.batch_size": 6, "model.max_seq_len": 128, "lora.r": 16}
    assert (r["batch_size"], r["seq_len"], r["steps_run"], r["device"]) == (6, 128, 5, "cpu")
    assert r["tokens"] == 5 * 6 * 128  # every row repeated to max_seq_len: the worst case, no padding
    assert len(r["losses"]) == 5 and all(v > 0 for v in r["losses"]) and r["nan_step"] is None
    assert 0 < r["peak_memory_mb"] < r["device_memory_mb"] and r["tokens_per_s"] > 0 and r["memory_shared_by"] >= 1
    assert "ru_maxrss" in r["memory_measure"] and record["summary"].startswith("passed · peak ")


@pytest.mark.campaign
def test_a_preflight_that_would_not_fit_stops_the_campaign_before_any_trial(ray_here, tmp_path, capsys):
    (tmp_path / "results" / "default").mkdir(parents=True)
    (tmp_path / "results" / "default" / PREFLIGHT_FILE).write_text("{}")  # an earlier --preflight does not block a run
    assert main(_args(tmp_path, "preflight.memory_fraction=0.0001")) == 1
    captured = capsys.readouterr()
    assert "stopped: preflight failed before any trial: would not fit: peak " in captured.err
    assert "(limit 0.01%" in captured.err and "✗ preflight FAILED: would not fit" in captured.out
    folder = tmp_path / "results" / "default"
    assert sorted(p.name for p in folder.iterdir()) == ["campaign.json", PREFLIGHT_FILE]  # no baselines, no cycle
    state = json.loads((folder / "campaign.json").read_text())
    assert state["status"] == "stopped" and "would not fit" in state["stop_reason"] and state["cycles"] == {}
    record = json.loads((folder / PREFLIGHT_FILE).read_text())
    assert not record["passed"] and record["failures"][0].startswith("would not fit: peak ")


@pytest.mark.campaign
def test_a_nan_loss_fails_the_preflight_naming_the_step(ray_here, tmp_path, capsys):
    # a NaN clipping norm scales every gradient by NaN: the weights are NaN after step 1, the loss at step 2
    assert main(_args(tmp_path, "--preflight", "train.max_grad_norm=.nan")) == 1
    out = capsys.readouterr().out
    assert "✗ preflight FAILED: loss is NaN at step 2" in out
    record = json.loads((tmp_path / "results" / "default" / PREFLIGHT_FILE).read_text())
    assert record["failures"] == ["loss is NaN at step 2"] and record["result"]["nan_step"] == 2
    assert record["result"]["losses"][1] is None  # strict JSON


class _NoRun:
    """A session that must not be used: the preflight is skipped."""

    def __getattr__(self, name):
        raise AssertionError(f"the preflight ran ({name})")


def test_a_passed_preflight_is_not_repeated_and_a_started_campaign_skips_it(tmp_path, capsys):
    cfg = load_config(None, {"results_dir": str(tmp_path)})
    folder = cfg.results_path()
    folder.mkdir(parents=True)
    (folder / PREFLIGHT_FILE).write_text(json.dumps({"passed": True, "summary": "passed · peak 1 GiB"}))
    assert campaign_preflight(_NoRun(), cfg, folder, [], new_state(cfg))["passed"]
    assert "preflight: passed earlier (passed · peak 1 GiB); not repeated" in capsys.readouterr().out
    (folder / PREFLIGHT_FILE).unlink()
    state = new_state(cfg)
    state["cycles"]["1"] = {"status": "searching"}  # from before preflights existed: trials have run
    assert campaign_preflight(_NoRun(), cfg, folder, [], state) is None
    assert not (folder / PREFLIGHT_FILE).exists()


def test_the_flags(capsys):
    from campaign.cli.main import build_parser

    p = build_parser()
    assert p.parse_args(["run", "--config", "x.yaml", "--preflight"]).preflight is True
    assert p.parse_args(["run", "--config", "x.yaml", "--no-preflight"]).no_preflight is True
    with pytest.raises(SystemExit):
        p.parse_args(["run", "--config", "x.yaml", "--preflight", "--no-preflight"])
    assert load_config(DEFAULT).preflight.enabled and load_config(DEFAULT).preflight.steps == 50
