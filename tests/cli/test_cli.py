"""The `campaign` command line: thin handlers, clear errors, exit codes."""
from __future__ import annotations

import json
from pathlib import Path

from campaign.cli.main import main

REPO = Path(__file__).resolve().parents[2]
DEFAULT = str(REPO / "search_spaces" / "balanced_6run.yaml")


def small(tmp_path) -> list[str]:
    return [f"data.root={tmp_path / 'data'}", f"results_dir={tmp_path / 'results'}", "data.base_size=40",
            "data.eval_size=10"]


def test_validate_reports_the_key(capsys):
    assert main(["validate", "--config", DEFAULT]) == 0
    assert "6 trials" in capsys.readouterr().out
    assert main(["validate", "--config", DEFAULT, "train.epochs=0"]) == 2
    assert "train.epochs: must be >= 1" in capsys.readouterr().err


def test_generate_then_validate_round_trip(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    assert main(["data", "generate", "--n", "25", "--seed", "3", "--out", str(out)]) == 0
    assert main(["data", "validate", str(out)]) == 0
    assert "25 valid rows" in capsys.readouterr().out
    pq = tmp_path / "rows.parquet"
    assert main(["data", "generate", "--n", "5", "--out", str(pq)]) == 0
    assert main(["data", "validate", str(pq)]) == 0


def test_validate_bad_file_names_file_row_field(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"request": "calm piano", "hidden_params": {"energy": 40.5}}\n')
    assert main(["data", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: row 1: field 'hidden_params.energy'" in err and "not integral" in err
    assert "hidden_params.warmth" in err


def test_freeze_split_and_rule_baseline(tmp_path, capsys):
    assert main(["data", "freeze", "--config", DEFAULT, *small(tmp_path)]) == 0
    assert (tmp_path / "data" / "flagship" / "eval" / "eval.parquet").exists()
    assert not (tmp_path / "data" / "flagship" / "v1").exists()
    assert main(["data", "split", "--config", DEFAULT, *small(tmp_path)]) == 0
    assert "'train': 40" in capsys.readouterr().out
    assert main(["eval", "--config", DEFAULT, "--mode", "rule_baseline", *small(tmp_path)]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["rows"] == 10 and scores["json_valid_rate"] == 1.0 and scores["mae_raw"] > 0


def test_fine_tuned_needs_an_adapter(tmp_path, capsys):
    assert main(["eval", "--config", DEFAULT, "--mode", "fine_tuned", *small(tmp_path)]) == 2
    assert "--adapter" in capsys.readouterr().err


def test_run_refuses_to_overwrite_results_without_flag(tmp_path, capsys):
    cycle = tmp_path / "results" / "default" / "cycle_1"
    cycle.mkdir(parents=True)
    (cycle / "validation_snapshot.json").write_text("{}")
    assert main(["run", "--config", DEFAULT, *small(tmp_path), "tracking.wandb=disabled"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "campaign resume" in err
    assert (cycle / "validation_snapshot.json").read_text() == "{}"


def test_run_rejects_bad_user_data_before_any_trial(tmp_path, capsys):
    bad = tmp_path / "user.jsonl"
    bad.write_text('{"request": "calm piano", "hidden_params": {"energy": 1}, "extra": 1}\n')
    args = ["run", "--config", DEFAULT, *small(tmp_path), f"data.source={bad}", "tracking.wandb=disabled"]
    assert main(args) == 2
    assert "unexpected key" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_online_wandb_without_key_fails_before_work(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    assert main(["run", "--config", DEFAULT, *small(tmp_path), "tracking.wandb=online"]) == 2
    assert "tracking.wandb=online: WANDB_API_KEY is not set" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_smoke_test_flag_gives_a_small_valid_campaign(capsys):
    assert main(["validate", "--config", DEFAULT, "--smoke-test"]) == 0
    assert "2 trials" in capsys.readouterr().out
