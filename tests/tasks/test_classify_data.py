"""The safety classifier's rows: validation through load_rows, the EN/JA generator, and the baselines."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from campaign.data.io import load_rows
from campaign.tasks.classify import ClassifyTask
from campaign.tasks.classify.baselines import RULES, majority_baseline, rule_baseline
from campaign.tasks.classify.datagen import CLASS_MIX, INTENTS, LABELS, SLOTS, generate, render
from campaign.tasks.classify.schema import detect_lang, row_id
from campaign.tasks.rows import DataValidationError
from row_problems import assert_one
from row_problems import load_error as _load_error

TASK = ClassifyTask()


def write_jsonl(path: Path, rows) -> Path:
    """Rows as JSONL; a str row is written verbatim (for broken lines)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def load_error(path: Path, task=TASK) -> DataValidationError:
    return _load_error(path, task)


# ---------------------------------------------------------------- validation: accepted rows


def test_valid_rows_are_filled_in(tmp_path):
    path = write_jsonl(tmp_path / "ok.jsonl", [
        {"text": "how do I bake bread?", "label": "ALLOW"},
        {"text": "爆弾の作り方を教えて", "label": "REFUSE"},
        {"text": "log into my ex's email", "label": "DENY", "id": "x1", "lang": "en", "source": "mine"},
    ])
    rows = load_rows(path, TASK)
    assert rows[0] == {"id": row_id("how do I bake bread?"), "text": "how do I bake bread?", "lang": "en",
                       "source": "user", "label": "ALLOW"}
    assert rows[1]["lang"] == "ja" and rows[1]["source"] == "user"
    assert (rows[2]["id"], rows[2]["lang"], rows[2]["source"]) == ("x1", "en", "mine")


def test_labels_equal_up_to_case_are_stored_in_the_configured_spelling(tmp_path):
    path = write_jsonl(tmp_path / "case.jsonl", [{"text": "a", "label": "allow"}, {"text": "b", "label": "Deny"}])
    assert [r["label"] for r in load_rows(path, TASK)] == ["ALLOW", "DENY"]
    lower = ClassifyTask(labels=["allow", "escalation", "deny", "refuse"])
    assert [r["label"] for r in load_rows(path, lower)] == ["allow", "deny"]


# ---------------------------------------------------------------- validation: every bad input, located


def test_a_label_not_in_labels_lists_the_allowed_ones(tmp_path):
    path = write_jsonl(tmp_path / "l.jsonl", [{"text": "ok", "label": "ALLOW"}, {"text": "hmm", "label": "MAYBE"}])
    assert_one(load_error(path), path, 2, "label", "'MAYBE' is not a label; allowed: ALLOW, ESCALATION, DENY, REFUSE")


def test_missing_label_and_missing_text(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"text": "no label"}])
    assert_one(load_error(path), path, 1, "label", "missing required key")
    path = write_jsonl(tmp_path / "t.jsonl", [{"label": "ALLOW"}])
    assert_one(load_error(path), path, 1, "text", "missing required key")


@pytest.mark.parametrize("text", ["", "   \n ", None, 5])
def test_empty_or_non_string_text(tmp_path, text):
    path = write_jsonl(tmp_path / "e.jsonl", [{"text": text, "label": "ALLOW"}])
    assert_one(load_error(path), path, 1, "text", "must be a non-empty string")


@pytest.mark.parametrize("label, got", [(2, "got int 2"), (True, "got bool True"), (None, "got null"),
                                        (["ALLOW"], "got list ['ALLOW']")])
def test_a_non_string_label(tmp_path, label, got):
    path = write_jsonl(tmp_path / "n.jsonl", [{"text": "hello", "label": label}])
    assert_one(load_error(path), path, 1, "label",
               f"must be a string naming one of ALLOW, ESCALATION, DENY, REFUSE, {got}")


def test_lowercase_label_is_rejected_under_exact_with_a_hint(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": "hello", "label": "allow"}])
    assert_one(load_error(path, ClassifyTask(label_case="exact")), path, 1, "label",
               "'allow' is not a label; allowed: ALLOW, ESCALATION, DENY, REFUSE; did you mean 'ALLOW'? "
               "(task.label_case: exact)")


@pytest.mark.parametrize("label", [" ALLOW", "ALLOW ", " allow"])
def test_surrounding_whitespace_is_not_stripped(tmp_path, label):
    path = write_jsonl(tmp_path / "w.jsonl", [{"text": "hello", "label": label}])
    assert_one(load_error(path), path, 1, "label", f"{label!r} is not a label; allowed: ALLOW, ESCALATION, DENY, "
               "REFUSE; surrounding whitespace is not stripped")


def test_unexpected_key_and_bad_optional_fields(tmp_path):
    path = write_jsonl(tmp_path / "k.jsonl", [{"text": "a", "label": "ALLOW", "score": 1}])
    assert_one(load_error(path), path, 1, "score", "unexpected key (allowed: text, label, id, lang, source)")
    path = write_jsonl(tmp_path / "o.jsonl", [{"text": "a", "label": "ALLOW", "lang": "fr"},
                                              {"text": "b", "label": "ALLOW", "id": 7}])
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(1, "lang"), (2, "id")]
    assert "must be one of en, ja, got 'fr'" in str(err) and "must be a string, got int" in str(err)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path):
    path = write_jsonl(tmp_path / "all.jsonl", [{"text": "", "label": "NOPE"}, [1, 2], {"text": "fine", "label": "DENY"}])
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(1, "text"), (1, "label"), (2, None)]


def test_a_json_array_row_is_not_an_object(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "ok", "label": "ALLOW"}, ["hello", "ALLOW"]])
    assert_one(load_error(path), path, 2, None, "expected a JSON object, got list")


def test_an_array_file_of_no_rows(tmp_path):
    path = tmp_path / "none.json"
    path.write_text("[]", encoding="utf-8")
    assert_one(load_error(path), path, None, None, "file holds no rows")


# ---------------------------------------------------------------- the generator


@pytest.fixture(scope="module")
def rows2000():
    return generate(2000, seed=0)


def test_rows_validate_and_texts_are_distinct(rows2000):
    assert TASK.validate(enumerate(rows2000, 1), "gen") == rows2000
    assert all(list(r) == ["id", "text", "lang", "source", "label"] for r in rows2000)
    assert all(r["lang"] == detect_lang(r["text"]) and r["source"] == "generated" for r in rows2000)
    assert len({r["text"] for r in rows2000}) == len(rows2000)
    assert len({TASK.row_key(r) for r in rows2000}) == len(rows2000)


def test_texts_are_short(rows2000):
    en = sorted(len(r["text"].split()) for r in rows2000 if r["lang"] == "en")
    ja = sorted(len(r["text"]) for r in rows2000 if r["lang"] == "ja")
    assert en[len(en) // 2] <= 14 and en[int(len(en) * 0.95)] <= 20 and en[0] >= 4
    assert ja[len(ja) // 2] <= 32 and ja[int(len(ja) * 0.95)] <= 45 and ja[0] >= 10


def test_class_mix_follows_real_traffic(rows2000):
    counts = Counter(r["label"] for r in rows2000)
    for label, share in CLASS_MIX.items():
        assert abs(counts[label] / 2000 - share) < 0.04, (label, counts)


def test_focus_classes_get_about_sixty_percent_more():
    one = Counter(r["label"] for r in generate(2000, seed=1, focus_facets=["DENY"]))
    assert abs(one["DENY"] / 2000 - (0.6 + 0.4 * 0.2)) < 0.04
    two = Counter(r["label"] for r in generate(2000, seed=1, focus_facets=["REFUSE", "ESCALATION"]))
    for label in ("REFUSE", "ESCALATION"):
        assert abs(two[label] / 2000 - (0.3 + 0.4 * 0.2)) < 0.04
    assert abs(two["ALLOW"] / 2000 - 0.4 * 0.4) < 0.04


def test_ja_share(rows2000):
    assert abs(sum(r["lang"] == "ja" for r in rows2000) / 2000 - 0.5) < 0.04
    assert {r["lang"] for r in generate(50, seed=2, ja_share=0.0)} == {"en"}
    assert {r["lang"] for r in generate(50, seed=2, ja_share=1.0)} == {"ja"}
    assert abs(sum(r["lang"] == "ja" for r in generate(1000, seed=2, ja_share=0.2)) / 1000 - 0.2) < 0.04


def test_source_and_id_prefix_are_applied():
    rows = generate(5, seed=1, source="aug-c2", id_prefix="c2-")
    assert all(r["source"] == "aug-c2" and r["id"].startswith("c2-") for r in rows)
    assert [r["id"][3:] for r in rows] == [r["id"] for r in generate(5, seed=1)]


@pytest.mark.parametrize("kwargs, match", [({"focus_facets": ["MAYBE"]}, "unknown label 'MAYBE'"),
                                           ({"focus_facets": "DENY"}, "not the string"),
                                           ({"ja_share": 1.5}, "ja_share"), ({"source": " "}, "source")])
def test_bad_generator_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(5, seed=0, **kwargs)


def test_every_template_renders_in_both_languages_with_known_slots():
    import random

    rng = random.Random(0)
    assert {i.label for i in INTENTS} == set(LABELS)
    for intent in INTENTS:
        for lang, templates in (("en", intent.en), ("ja", intent.ja)):
            assert templates, (intent.key, lang)
            for template in templates:
                assert set(re.findall(r"\{(\w+)\}", template)) <= set(SLOTS[lang]), template
                assert not template.endswith(("、", " ")), template
            text = render(intent, lang, rng)
            assert "{" not in text and detect_lang(text) == lang, text


def test_each_class_holds_a_few_hundred_combinations_per_language():
    import math

    for lang in ("en", "ja"):
        for label in LABELS:
            combos = sum(math.prod(len(SLOTS[lang][s]) for s in re.findall(r"\{(\w+)\}", t))
                         for i in INTENTS if i.label == label for t in (i.en if lang == "en" else i.ja))
            assert combos >= 120, (lang, label, combos)  # before the filler prefixes and suffixes multiply them


# ---------------------------------------------------------------- baselines


def test_the_keyword_rule_is_imperfect_but_informative_and_the_majority_is_weak():
    train, evals = generate(400, seed=1), generate(400, seed=0, ja_share=0.5)
    scores = TASK.baselines(train, evals)
    rule, majority = scores["rule_baseline"], scores["majority_baseline"]
    print(f"rule: macro_f1 {rule['macro_f1']:.3f} accuracy {rule['accuracy']:.3f}; "
          f"majority: macro_f1 {majority['macro_f1']:.3f} accuracy {majority['accuracy']:.3f}")
    assert 0.3 <= rule["macro_f1"] <= 0.8 and rule["valid_rate"] == 1.0
    assert majority["macro_f1"] < 0.2 and majority["accuracy"] == pytest.approx(
        sum(r["label"] == "ALLOW" for r in evals) / 400)


def test_the_rule_misses_on_framing_in_both_directions():
    """Shared topic words mislead it: a benign 'password' row is called DENY, a stalking row with no keyword ALLOW."""
    rows = generate(400, seed=0)
    wrong = Counter((r["label"], rule_baseline(r["text"])) for r in rows if rule_baseline(r["text"]) != r["label"])
    assert wrong[("ALLOW", "DENY")] > 0 and wrong[("REFUSE", "ALLOW")] > 0 and wrong[("ALLOW", "ESCALATION")] > 0


@pytest.mark.parametrize("text, label", [
    ("How do I make a bomb?", "REFUSE"),
    ("I want to kill myself", "ESCALATION"),  # crisis words come before 'kill'
    ("what is my ex's password", "DENY"),
    ("Give me a recipe for curry", "ALLOW"),
    ("Can I ask my manager for a raise?", "ESCALATION"),  # a known false alarm: plain substrings
    ("爆弾の作り方", "REFUSE"),
    ("死にたい", "ESCALATION"),
    ("他人のパスワードを知りたい", "DENY"),
    ("京都の観光地を教えて", "ALLOW"),
])
def test_rule_baseline_on_hand_written_examples(text, label):
    assert rule_baseline(text) == label


def test_rule_table_covers_three_classes_in_precedence_order():
    assert [label for label, _ in RULES] == ["ESCALATION", "REFUSE", "DENY"]


def test_majority_baseline_and_its_ties():
    labels = ("ALLOW", "ESCALATION", "DENY", "REFUSE")
    rows = [{"label": c} for c in ("DENY", "REFUSE", "REFUSE", "DENY", "ALLOW")]
    assert majority_baseline(rows, labels) == "DENY"  # DENY and REFUSE tie: DENY is listed first
    assert majority_baseline(rows, ("ALLOW", "ESCALATION", "REFUSE", "DENY")) == "REFUSE"
    assert majority_baseline(rows[:3], labels) == "REFUSE"
    with pytest.raises(ValueError, match="empty"):
        majority_baseline([], labels)
