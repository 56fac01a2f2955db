"""A real 6-trial Ray Tune + Optuna campaign of Ray Train QLoRA trials on the tiny model, on CPU."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SECRET = "hf_test_secret_value_that_must_never_be_written_1234"
pytestmark = pytest.mark.campaign


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory, tiny_model_path):
    """Run the shipped default campaign, shrunk (small data, 2-3 epochs), through the real CLI."""
    tmp = tmp_path_factory.mktemp("campaign")
    cfg = yaml.safe_load((REPO / "search_spaces" / "balanced_6run.yaml").read_text())
    cfg["name"] = "e2e"
    cfg["data"].update(base_size=80, eval_size=16)
    cfg["train"].update(epochs=3, batch_size=16)
    cfg["search"]["space"]["train.epochs"] = {"type": "choice", "values": [2, 3]}
    config = tmp / "campaign.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_TOKEN": SECRET, "CAMPAIGN_CACHE": str(tiny_model_path.parent)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "campaign.cli", "run", "--config", str(config),
                           f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}", "tracking.wandb=offline"],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    (tmp / "run.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    folder = tmp / "results" / "e2e" / "cycle_1"
    return folder, json.loads((folder / "validation_snapshot.json").read_text()), proc.stdout + proc.stderr, cfg


def test_six_trials_finish_with_every_metric(campaign_run):
    folder, snap, _, _ = campaign_run
    trials = snap["trials"]
    assert len(trials) == 6 and len({t["trial_id"] for t in trials}) == 6
    assert [t["trial"] for t in trials] == [1, 2, 3, 4, 5, 6]
    assert all(t["state"] == "TERMINATED" and t["error"] is None for t in trials)
    for t in trials:
        m = t["metrics"]
        for key in ["valid/objective", "valid/json_valid_rate", "eval/json_valid_rate", "eval/n",
                    "eval/latency_p95_ms", "time/worker_start_s", "time/model_load_s", "time/train_s",
                    "time/eval_s", "train/tokens_per_s", "time_total_s"] + [f"valid/mae_raw_{d}" for d in
                                                                         ("energy", "nostalgia")]:
            assert key in m, (t["trial_id"], key)
        assert m["eval/n"] == 16 and m["train/tokens_per_s"] > 0
        assert m["epoch"] == t["config"]["train.epochs"]
        assert m["time_total_s"] > m["time/train_s"] + m["time/eval_s"]


def test_default_point_first_and_search_within_space(campaign_run):
    _, snap, _, cfg = campaign_run
    first = snap["trials"][0]["config"]
    assert first == {k: cfg["train"][k.split(".")[1]] for k in cfg["search"]["space"]}
    for t in snap["trials"]:
        c = t["config"]
        assert 1e-3 <= c["train.lr"] <= 5e-3 and c["train.epochs"] in (2, 3)
        assert 0.0 <= c["train.add_ratio"] <= 0.3 and 0.0 <= c["train.replay_ratio"] <= 0.1
    assert len({t["config"]["train.lr"] for t in snap["trials"]}) == 6  # not one point six times


def test_baselines_beside_trials(campaign_run):
    folder, snap, _, _ = campaign_run
    modes = {b["mode"]: b["metrics"] for b in snap["baselines"]}
    assert set(modes) == {"mean_baseline", "rule_baseline", "prompt_baseline"}
    assert modes["mean_baseline"]["eval/json_valid_rate"] == 1.0
    assert modes["rule_baseline"]["eval/mae_raw"] < modes["mean_baseline"]["eval/mae_raw"]
    assert modes["prompt_baseline"]["eval/n"] == 16
    with (folder / "validation_snapshot.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["kind"] for r in rows] == ["trial"] * 6 + ["baseline"] * 3
    assert {"config/train.lr", "valid/objective", "eval/mae_raw", "time/train_s"} <= set(rows[0])


def test_best_adapter_hard_dims_and_resolved_config(campaign_run):
    folder, snap, _, _ = campaign_run
    best = snap["best_trial"]
    scores = {t["trial_id"]: t["metrics"]["valid/objective"] for t in snap["trials"]}
    assert scores[best] == min(scores.values())
    assert (folder / "best_adapter" / "adapter" / "adapter_config.json").exists()
    assert json.loads((folder / "best_adapter" / "lineage.json").read_text())["trial_id"] == best
    hard = json.loads((folder / "hard_dims.json").read_text())
    assert best in hard["best_trials"] and len(hard["best_trials"]) == 3
    assert len(hard["hard_dims"]) == 2 or "valid JSON" in hard["reason"]
    resolved = yaml.safe_load((folder / "resolved_config.yaml").read_text())
    assert resolved["resolved"]["wandb_mode"] == "offline" and resolved["search"]["num_samples"] == 6


def test_tune_folder_restorable_checkpoints_bounded_wandb_offline(campaign_run):
    from ray import tune

    folder, snap, _, _ = campaign_run
    assert tune.Tuner.can_restore(str(folder / "tune"))
    for t in snap["trials"]:
        ckpts = [p for p in (folder / "train" / t["trial_id"]).glob("checkpoint_*") if p.is_dir()]
        assert 1 <= len(ckpts) <= 2, (t["trial_id"], ckpts)
        assert Path(t["checkpoint_path"]).parent == folder.resolve() / "train" / t["trial_id"]
    assert list((folder / "wandb").rglob("offline-run-*")), "W&B offline runs were not written"
    assert list((folder / "tune").rglob("events.out.tfevents.*")), "no TensorBoard event files"


def test_no_secret_in_results_or_logs(campaign_run):
    folder, _, log, _ = campaign_run
    assert SECRET not in log
    for path in folder.rglob("*"):
        if path.is_file() and path.stat().st_size < 20_000_000:
            assert SECRET.encode() not in path.read_bytes(), path


def test_snapshot_lists_hard_cases_of_the_best_trial(campaign_run):
    _, snap, _, _ = campaign_run
    cases = snap["hard_cases"]["eval"]
    assert 1 <= len(cases) <= 10
    assert {"request", "target", "prediction", "error", "output"} <= set(cases[0])
    errors = [c["error"] for c in cases if c["error"] is not None]
    assert errors == sorted(errors, reverse=True)


def test_fine_tuned_eval_reproduces_the_best_trial(campaign_run, capsys):
    from campaign.cli import main

    folder, snap, _, _ = campaign_run
    tmp = folder.parents[2]
    adapter = folder / "best_adapter" / "adapter"
    assert main(["eval", "--config", str(tmp / "campaign.yaml"), "--mode", "fine_tuned", "--adapter", str(adapter),
                 f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}"]) == 0
    scores = json.loads(capsys.readouterr().out)
    best = next(t for t in snap["trials"] if t["trial_id"] == snap["best_trial"])["metrics"]
    assert scores["rows"] == 16
    assert scores["json_valid_rate"] == pytest.approx(best["eval/json_valid_rate"])
    if best["eval/mae_raw"] is not None:
        assert scores["mae_raw"] == pytest.approx(best["eval/mae_raw"], abs=1.0)
