"""The multiple-choice task through the config and the CLI: its option keys, and bad rows stopped before anything
is written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaign.cli.main import main
from campaign.config import load_config
from campaign.core.errors import ConfigError

MCQ = str(Path(__file__).resolve().parents[2] / "search_spaces" / "mcq_6run.yaml")


@pytest.mark.parametrize("key, value, message", [
    ("scoring", "vote", r"task\.scoring: must be 'generate' or 'loglikelihood' \(got 'vote'\)"),
    ("prompt_style", "socratic", r"task\.prompt_style: task 'mcq' has the prompt styles \['direct', 'cot'\]"),
])
def test_unknown_option_values_name_their_key(capsys, key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(MCQ, {"task": {key: value}})
    assert main(["validate", "--config", MCQ, f"task.{key}={value}"]) == 2
    assert f"task.{key}" in capsys.readouterr().err


def test_options_reach_the_task_and_its_spec():
    cfg = load_config(MCQ, {"task": {"scoring": "loglikelihood", "prompt_style": "cot"}})
    task = cfg.task.instance()
    assert (task.scoring, task.prompt_style) == ("loglikelihood", "cot")
    assert task.spec.primary == "accuracy" and task.spec.facet_support == "support_{facet}"
    assert cfg.prompt()[0] == task.prompt_styles["cot"]
    with pytest.raises(ConfigError, match=r"task\.scoring: task 'classify' takes no option 'scoring'"):
        load_config(None, {"task": {"kind": "classify", "scoring": "loglikelihood"}})


@pytest.mark.parametrize("bad, field, message", [
    ({"question": "Which is red?", "choices": ["apple", "sky", "grass"], "answer": "A"}, "choices", "expected 4 choices"),
    ({"question": "Which is red?", "choices": ["apple", "sky", "grass", "snow"], "answer": "E"}, "answer", "'E'"),
    ({"choices": ["apple", "sky", "grass", "snow"], "answer": "A"}, "question", "missing"),
])
def test_bad_rows_stop_the_run_before_anything_is_written(tmp_path, capsys, bad, field, message):
    source = tmp_path / "questions.jsonl"
    good = [{"question": f"Question {i}?", "choices": [f"w{i}", f"x{i}", f"y{i}", f"z{i}"], "answer": "B",
             "subject": "food"} for i in range(30)]
    source.write_text("".join(json.dumps(r) + "\n" for r in good[:4] + [{**bad, "subject": "food"}] + good[4:]))
    rc = main(["run", "--config", MCQ, f"data.source={source}", f"data.root={tmp_path / 'data'}",
               f"results_dir={tmp_path / 'results'}", "data.eval_size=5"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{source}: row 5: field '{field}'" in err and message in err, err
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()
