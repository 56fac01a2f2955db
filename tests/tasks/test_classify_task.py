"""The safety classifier plug-in: its options, registry entry, spec and hooks."""
from __future__ import annotations

import pytest

from campaign.core.errors import ConfigError
from campaign.data.io import read_table, write_table
from campaign.tasks.base import get_task, known_kinds
from campaign.tasks.classify import DEFAULT_LABELS, ClassifyTask

ROW = {"id": "r1", "text": "  How do I Reset   my password? ", "lang": "en", "source": "user", "label": "ALLOW"}


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("labels, message", [
    (["A"], r"task\.labels: must list at least 2 labels \(got \['A'\]\)"),
    ([], r"task\.labels: must list at least 2 labels \(got \[\]\)"),
    ("ALLOW", r"task\.labels: must be a list of label names \(got 'ALLOW'\)"),
    (["ALLOW", "DENY", "ALLOW"], r"task\.labels: duplicate label 'ALLOW'$"),
    (["ALLOW", "allow"], r"task\.labels: duplicate label 'allow' \(equal to 'ALLOW' up to case, which counts as a "
                         r"duplicate under task\.label_case: insensitive\)"),
    (["ALLOW", ""], r"task\.labels: each label must be a non-empty string .* \(got ''\)"),
    (["ALLOW", " DENY"], r"task\.labels: each label must be a non-empty string without leading or trailing "
                         r"whitespace or a newline \(got ' DENY'\)"),
    (["ALLOW", "DE\nNY"], r"task\.labels: each label .* \(got 'DE\\nNY'\)"),
    (["ALLOW", 3], r"task\.labels: each label .* \(got 3\)"),
    (["ALLOW", "(invalid)"], r"task\.labels: '\(invalid\)' is reserved"),
])
def test_bad_labels_name_the_key(labels, message):
    with pytest.raises(ConfigError, match=message):
        ClassifyTask(labels=labels)


def test_labels_equal_up_to_case_are_distinct_under_exact():
    task = ClassifyTask(labels=["yes", "YES"], label_case="exact")
    assert task.labels == ("yes", "YES") and task.spec.facets == ("yes", "YES")


def test_bad_label_case_names_the_key():
    with pytest.raises(ConfigError, match=r"^task\.label_case: must be 'insensitive' or 'exact' \(got 'x'\)$"):
        ClassifyTask(label_case="x")


def test_options_through_the_registry():
    assert "classify" in known_kinds()
    task = get_task("classify", labels=["SPAM", "HAM"], label_case="exact")
    assert isinstance(task, ClassifyTask) and task.labels == ("SPAM", "HAM") and task.label_case == "exact"
    assert get_task("classify", labels=["SPAM", "HAM"], label_case="exact") is task
    assert get_task("classify").labels == DEFAULT_LABELS and get_task("classify").label_case == "insensitive"
    with pytest.raises(ConfigError, match=r"task\.labels: must list at least 2 labels \(got \['A'\]\)"):
        get_task("classify", labels=["A"])
    with pytest.raises(ConfigError, match=r"task\.colour: task 'classify' takes no option 'colour' \(its options: "
                                          r"labels, label_case\)"):
        get_task("classify", colour="red")


# ---------------------------------------------------------------- spec and class attributes


def test_spec_follows_the_labels():
    spec = get_task("classify").spec
    assert spec.kind == "classify" and spec.facets == DEFAULT_LABELS and spec.facet_kind == "class"
    assert spec.facet_key("DENY", "eval") == "eval/f1_error_DENY" and spec.facets_word == "classes"
    assert (spec.primary, spec.mode, spec.valid_rate, spec.objective, spec.objective_mode) == \
        ("macro_f1", "max", "valid_rate", "objective", "max")
    assert ClassifyTask(labels=["SPAM", "HAM"]).spec.facets == ("SPAM", "HAM")


def test_every_metric_the_spec_names_is_scored():
    task = ClassifyTask()
    rows = [{**ROW, "label": c} for c in DEFAULT_LABELS]
    scores = task.score(rows, ["ALLOW", "DENY", "DENY", "?"])
    spec = task.spec
    assert {spec.primary, spec.objective, spec.valid_rate} | {spec.facet_key(c) for c in spec.facets} <= set(scores)
    assert {f"{m}_{c}" for m in task.facet_metrics for c in spec.facets} <= set(scores)
    assert set(task.headline_metrics) <= set(scores)


def test_generator_only_for_the_default_labels_in_any_case():
    assert ClassifyTask().has_generator
    lower = ClassifyTask(labels=["refuse", "deny", "escalation", "allow"])
    assert lower.has_generator
    rows = lower.generate(50, seed=0, focus_facets=["deny"])
    assert {r["label"] for r in rows} <= set(lower.labels) and sum(r["label"] == "deny" for r in rows) > 20
    with pytest.raises(ValueError, match="unknown label 'DENY'"):
        lower.generate(5, seed=0, focus_facets=["DENY"])
    custom = ClassifyTask(labels=["SPAM", "HAM"])
    assert not custom.has_generator and custom.tiny_corpus(10, 0) == []
    with pytest.raises(NotImplementedError, match="only for its default labels"):
        custom.generate(5, seed=0)
    with pytest.raises(NotImplementedError):
        ClassifyTask(labels=["ALLOW", "DENY"]).generate(5, seed=0)


# ---------------------------------------------------------------- hooks


def test_text_hooks():
    task = get_task("classify")
    assert task.row_key(ROW) == "how do i reset my password?"
    assert task.prompt(ROW, task.prompt_styles["plain"]) == "Request:   How do I Reset   my password? \nLabel:"
    assert task.input_text(ROW) == ROW["text"] and task.target(ROW) == "ALLOW" and task.row_facets(ROW) == ("ALLOW",)
    assert task.prompt_fields == ("text",) and task.fields == ("text", "label") and task.invalid_error == 1.0


def test_quality_problem_measures_the_key():
    task = get_task("classify")
    assert task.quality_problem(ROW, min_chars=5, max_chars=100) is None
    assert task.quality_problem(ROW, min_chars=40, max_chars=100) == "too_short"
    assert task.quality_problem(ROW, min_chars=5, max_chars=10) == "too_long"


def test_rows_round_trip_through_parquet(tmp_path):
    task = get_task("classify")
    rows = task.generate(20, seed=4)
    write_table(rows, tmp_path / "rows.parquet", task)
    assert read_table(tmp_path / "rows.parquet", task) == rows
    assert set(task.features()) == {"id", "text", "lang", "source", "label"}


def test_tiny_model_pieces_and_corpus():
    task = get_task("classify")
    assert task.tiny_tokens() == [" ALLOW", " ESCALATION", " DENY", " REFUSE"]
    assert ClassifyTask(labels=["SPAM", "HAM"]).tiny_tokens() == [" SPAM", " HAM"]
    corpus = task.tiny_corpus(30, seed=1)
    rows = task.generate(30, seed=1)
    assert corpus == [f"Request: {r['text']}\nLabel:" for r in rows] + [r["label"] for r in rows]


def test_baselines_and_the_replay_order():
    task = get_task("classify")
    train = [{**ROW, "id": "b", "text": "how do I reset my password?", "label": "ALLOW"},   # the rule says DENY
             {**ROW, "id": "a", "text": "give me a recipe for curry", "label": "ALLOW"},
             {**ROW, "id": "c", "text": "how do I build a bomb", "label": "REFUSE"},
             {**ROW, "id": "d", "text": "follow my ex home every night", "label": "REFUSE"}]  # the rule says DENY
    outputs = task.baseline_outputs(train, train[:3])
    assert outputs == {"majority_baseline": ["ALLOW"] * 3, "rule_baseline": ["DENY", "ALLOW", "REFUSE"]}
    assert task.has_model_free_baseline and set(task.baselines(train, train)) == {"majority_baseline", "rule_baseline"}
    assert task.baseline_rank(train) == ["b", "d", "a", "c"]
    assert task.baseline_rank_text == "rows the keyword rule misclassifies first"


def test_baselines_without_the_default_labels_use_the_majority_only():
    task = ClassifyTask(labels=["SPAM", "HAM"])
    train = [{**ROW, "id": i, "label": c} for i, c in (("z", "HAM"), ("y", "SPAM"), ("x", "HAM"))]
    assert task.baseline_outputs(train, train) == {"majority_baseline": ["HAM"] * 3}
    assert task.baseline_rank(train) == ["y", "x", "z"] and "majority" in task.baseline_rank_text
    lower = ClassifyTask(labels=["allow", "escalation", "deny", "refuse"])
    assert lower.baseline_outputs(train[:1], [ROW])["rule_baseline"] == ["deny"]  # in the configured spelling


def test_card_words():
    card = get_task("classify").card()
    assert card["languages"] == ["en", "ja"] and card["tags"] == ["text-classification", "safety"]
    assert "ALLOW, ESCALATION, DENY, REFUSE" in card["what"] and "macro_f1" in card["metric_note"]
    assert "valid_rate" in card["metric_note"] and "accuracy" in card["metric_note"]
    schema = card["schema"]
    assert schema.startswith("## Schema") and '{"id", "text", "lang", "source", "label"}' in schema
    assert "`allow` is accepted and stored as `ALLOW`" in schema and "never stripped" in schema
    assert "label_case: exact" in ClassifyTask(label_case="exact").card()["schema"]
