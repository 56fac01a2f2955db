"""The classifier through the config and the CLI: task.labels / task.label_case keys, user data with a column
map, and bad input stopped before anything is written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaign.cli.main import main
from campaign.config import load_config
from campaign.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CLASSIFY = str(REPO / "search_spaces" / "classify4_6run.yaml")


@pytest.mark.parametrize("labels, message", [
    (["ALLOW"], r"task\.labels: must list at least 2 labels"),
    ([], r"task\.labels: must list at least 2 labels"),
    (["ALLOW", "DENY", "ALLOW"], r"task\.labels: duplicate label 'ALLOW'"),
    (["ALLOW", "allow"], r"task\.labels: duplicate label 'allow' \(equal to 'ALLOW' up to case"),
])
def test_task_labels_errors_name_the_key(labels, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CLASSIFY, {"task": {"labels": labels}})


def test_label_case_and_foreign_options_name_their_key(capsys):
    with pytest.raises(ConfigError, match=r"task\.label_case: must be 'insensitive' or 'exact' \(got 'upper'\)"):
        load_config(CLASSIFY, {"task": {"label_case": "upper"}})
    with pytest.raises(ConfigError, match=r"task\.labels: task 'hidden_params' takes no option 'labels'"):
        load_config(None, {"task": {"labels": ["A", "B"]}})
    assert main(["validate", "--config", CLASSIFY, "task.labels=[ALLOW]"]) == 2
    assert "task.labels: must list at least 2 labels" in capsys.readouterr().err


def test_labels_are_the_facets_and_custom_labels_have_no_generator(tmp_path):
    cfg = load_config(CLASSIFY)
    spec = cfg.task.instance().spec
    assert spec.facets == ("ALLOW", "ESCALATION", "DENY", "REFUSE") and spec.primary == "macro_f1" and spec.mode == "max"
    assert spec.facet_key("DENY", "valid") == "valid/f1_error_DENY"
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"text": f"t {i}", "label": "SPAM" if i % 2 else "HAM"}) + "\n" for i in range(40)))
    custom = {"task": {"kind": "classify", "labels": ["SPAM", "HAM"]}, "data": {"source": str(rows)},
              "search": {"space": {"train.lr": {"type": "loguniform", "low": 1e-3, "high": 5e-3}}},
              "cycles": {"n_facets": 1, "space": {"train.replay_ratio": {"type": "uniform", "low": 0.0, "high": 0.1}}}}
    task = load_config(None, custom).task.instance()
    assert task.spec.facets == ("SPAM", "HAM") and not task.has_generator
    assert set(task.baseline_outputs([{"id": "a", "text": "x", "label": "HAM"}], [{"id": "b", "text": "y",
                                                                               "label": "SPAM"}])) == {"majority_baseline"}
    with pytest.raises(ConfigError, match=r"train\.add_ratio: task 'classify' has no row generator"):
        load_config(None, {**custom, "train": {"add_ratio": 0.1}})


def _run(tmp_path: Path, source: Path, *extra: str) -> int:
    return main(["run", "--config", CLASSIFY, f"data.source={source}", f"data.root={tmp_path / 'data'}",
                 f"results_dir={tmp_path / 'results'}", "data.eval_size=5", "search.space={}",
                 "train.add_ratio=0.0", "cycles.space={train.replay_ratio: {type: uniform, low: 0.0, high: 0.1}}",
                 *extra])


BAD_ROWS = [
    ({"text": "hello", "label": "MAYBE"}, "label", "'MAYBE' is not a label; allowed: ALLOW, ESCALATION, DENY, REFUSE"),
    ({"text": "hello"}, "label", "missing required key"),
    ({"text": "   ", "label": "ALLOW"}, "text", "non-empty"),
    ({"text": "hello", "label": 2}, "label", "must be a string"),
]


@pytest.mark.parametrize("bad, field, message", BAD_ROWS)
def test_bad_rows_stop_the_run_before_anything_is_written(tmp_path, capsys, bad, field, message):
    source = tmp_path / "requests.jsonl"
    good = [{"text": f"request number {i}", "label": "ALLOW"} for i in range(30)]
    source.write_text("".join(json.dumps(r) + "\n" for r in good[:7] + [bad] + good[7:]))
    assert _run(tmp_path, source) == 2
    err = capsys.readouterr().err
    assert f"{source}: row 8: field '{field}'" in err and message in err, err
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


def test_lowercase_labels_are_read_case_insensitively_unless_exact(tmp_path, capsys):
    """label_case insensitive (the default) stores 'allow' as ALLOW; exact rejects it with a hint."""
    from campaign.data.io import load_rows

    source = tmp_path / "requests.jsonl"
    source.write_text("".join(json.dumps({"message": f"request number {i}", "verdict": "allow" if i == 3 else "DENY"})
                              + "\n" for i in range(30)))
    cfg = load_config(CLASSIFY, {"data": {"columns": {"text": "message", "label": "verdict"}}})
    rows = load_rows(source, cfg.task.instance(), cfg.data.columns)
    assert rows[3]["label"] == "ALLOW" and rows[3]["text"] == "request number 3" and rows[4]["label"] == "DENY"
    assert _run(tmp_path, source, "data.columns={text: message, label: verdict}", "task.label_case=exact") == 2
    err = capsys.readouterr().err
    assert f"{source}: row 4: field 'label'" in err and "did you mean 'ALLOW'?" in err, err
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


def test_user_rows_load_from_parquet_and_a_datasets_folder_through_the_column_map(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    from campaign.data.io import load_rows

    cfg = load_config(CLASSIFY, {"data": {"columns": {"text": "message", "label": "verdict"}}})
    task = cfg.task.instance()
    table = {"message": ["how do I bake bread", "ネットで詐欺メールの作り方を教えて", "I need a human, my card was charged twice"],
             "verdict": ["ALLOW", "refuse", "Escalation"]}
    pq.write_table(pa.table(table), tmp_path / "rows.parquet")
    Dataset.from_dict(table).save_to_disk(str(tmp_path / "rows_ds"))
    for path in (tmp_path / "rows.parquet", tmp_path / "rows_ds"):
        rows = load_rows(path, task, cfg.data.columns)
        assert [r["label"] for r in rows] == ["ALLOW", "REFUSE", "ESCALATION"], path
        assert [r["lang"] for r in rows] == ["en", "ja", "en"] and rows[0]["text"] == "how do I bake bread"
