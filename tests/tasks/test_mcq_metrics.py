"""The multiple-choice task's extraction rule and metrics, on hand-built rows and outputs."""
from __future__ import annotations

import math

import pytest

from campaign.tasks.mcq import MCQTask
from campaign.tasks.mcq.metrics import extract_answer

TASK = MCQTask()
SUBJECTS = ("food", "animals", "colors", "places")


def rows_of(*pairs: str) -> list[dict]:
    """Rows from 'subject:letter' strings."""
    out = []
    for i, pair in enumerate(pairs):
        subject, answer = pair.split(":")
        out.append({"id": f"r{i}", "question": f"question {i}", "choices": ["w", "x", "y", "z"], "answer": answer,
                    "subject": subject, "lang": "en", "source": "user", "explanation": ""})
    return out


# ---------------------------------------------------------------- the extraction rule


@pytest.mark.parametrize("output, letter", [
    ("B", "B"),
    (" B", "B"),                        # the direct completion, with the space the trainer puts before it
    (" b", "B"),                        # the whole output is one letter: either case
    ("(c)", "C"),
    ("D.", "D"),
    ("Answer: C", "C"),
    ("answer:c", "C"),                  # 'answer' in any case, a bare lower-case letter after it
    ("I think A... Answer: D", "D"),    # the last explicit answer wins
    ("Answer: A\nhmm, no.\nAnswer: (B)", "B"),
    ("Answer: B is the fruit", "B"),    # an upper-case letter counts whatever follows it
    ("Answer: a fruit, so C", "C"),     # a lower-case 'a' before a word is the article: fallback to the first letter
    ("The answer is (B).", "B"),        # no 'Answer:': the first standalone letter
    ("A. apple", "A"),
    ("答えはBです", "B"),               # no ASCII letter or digit on either side
    ("Ｃ", "C"),                        # full width, NFKC-normalised
    ("apple is a food. Answer: A", "A"),
])
def test_extract_answer_reads_a_letter(output, letter):
    assert extract_answer(output) == (letter, None)
    assert TASK.parse(output) == (letter, None)


@pytest.mark.parametrize("output, reason", [
    ("none of these", "no answer letter"),
    ("", "no answer letter"),
    ("   \n", "no answer letter"),
    ("apple", "no answer letter"),
    ("a banana", "no answer letter"),   # a lower-case letter in running text never counts
    ("ABCD", "no answer letter"),       # not standalone
    ("Answer: E", "answer letter 'E' is not one of A–D"),   # committed to a letter that is no choice: invalid
    ("I think B. Answer: E.", "answer letter 'E' is not one of A–D"),
])
def test_extract_answer_rejects_with_a_reason(output, reason):
    assert extract_answer(output) == (None, reason)


def test_a_later_valid_answer_overrides_an_earlier_bad_one():
    assert extract_answer("Answer: E\nsorry. Answer: D") == ("D", None)
    assert extract_answer("Answer: I think B") == ("B", None)  # 'I' before a word is no answer letter


def test_every_continuation_parses_to_its_letter():
    row = rows_of("food:A")[0]
    assert TASK.continuations(row) == [" A", " B", " C", " D"]
    assert [TASK.parse(c)[0] for c in TASK.continuations(row)] == ["A", "B", "C", "D"]


# ---------------------------------------------------------------- score


def test_hand_computed_scores():
    rows = rows_of("food:A", "food:B", "animals:C", "colors:D", "colors:A")
    out = TASK.score(rows, ["A", "Answer: C", " c", "nothing", "A"])
    assert (out["n"], out["n_valid"], out["valid_rate"]) == (5, 4, 0.8)
    assert out["accuracy"] == out["objective"] == pytest.approx(3 / 5)  # the invalid row counts as wrong
    assert (out["accuracy_food"], out["support_food"], out["error_food"]) == (0.5, 2, 0.5)
    assert (out["accuracy_animals"], out["support_animals"]) == (1.0, 1)
    assert (out["accuracy_colors"], out["error_colors"]) == (0.5, 0.5)
    assert out["support_places"] == 0 and math.isnan(out["accuracy_places"]) and math.isnan(out["error_places"])
    assert (out["pred_share_A"], out["pred_share_C"], out["pred_share_invalid"]) == (0.4, 0.4, 0.2)
    assert (out["pred_share_B"], out["pred_share_D"]) == (0.0, 0.0)
    assert [out[f"gold_share_{x}"] for x in "ABCD"] == [0.4, 0.2, 0.2, 0.2]
    assert type(out["support_food"]) is int


def test_a_model_that_always_answers_a():
    rows = rows_of("food:A", "animals:B", "colors:C", "places:D")
    out = TASK.score(rows, ["A"] * 4)
    assert out["pred_share_A"] == 1.0 and out["accuracy"] == 0.25 and out["valid_rate"] == 1.0
    assert out["accuracy_food"] == 1.0 and out["error_places"] == 1.0


def test_all_invalid_outputs_are_all_wrong():
    rows = rows_of("food:A", "animals:B")
    out = TASK.score(rows, ["?", "Answer: E"])
    assert out["accuracy"] == out["valid_rate"] == 0.0 and out["pred_share_invalid"] == 1.0
    assert out["error_food"] == out["error_animals"] == 1.0


def test_every_metric_the_spec_names_is_scored():
    rows = rows_of("food:A", "animals:B", "colors:C", "places:D")
    scores = TASK.score(rows, ["A", "C", "C", ""])
    spec = TASK.spec
    assert {spec.primary, spec.objective, spec.valid_rate} | {spec.facet_key(s) for s in spec.facets} <= set(scores)
    assert {spec.facet_support.format(facet=s) for s in spec.facets} <= set(scores)
    assert {f"{m}_{s}" for m in TASK.facet_metrics for s in spec.facets} <= set(scores)
    assert set(TASK.headline_metrics) <= set(scores)


def test_score_rejects_empty_mismatched_and_foreign_rows():
    with pytest.raises(ValueError, match="empty"):
        TASK.score([], [])
    with pytest.raises(ValueError, match="2 rows but 1 outputs"):
        TASK.score(rows_of("food:A", "food:B"), ["A"])
    with pytest.raises(ValueError, match=r"\['E'\] are not letters"):
        TASK.score(rows_of("food:E"), ["A"])
    with pytest.raises(ValueError, match=r"\['history'\] are not among the task's subjects"):
        TASK.score(rows_of("history:A"), ["A"])


def test_custom_subjects_are_the_per_subject_keys():
    task = MCQTask(subjects=["math", "law"])
    out = task.score(rows_of("math:A", "law:B", "law:C"), ["A", "B", "D"])
    assert out["accuracy_math"] == 1.0 and out["accuracy_law"] == 0.5 and out["support_law"] == 2
    assert "accuracy_food" not in out


# ---------------------------------------------------------------- row errors, hard cases, tables


def test_row_errors_mark_the_rows_own_subject_only():
    (row,) = rows_of("animals:B")
    wrong = TASK.row_errors(row, "C")
    assert (wrong["error"], wrong["prediction"], wrong["invalid_reason"]) == (1.0, "C", None)
    assert wrong["facets"] == {"food": 0.0, "animals": 1.0, "colors": 0.0, "places": 0.0}
    right = TASK.row_errors(row, "Answer: B")
    assert right["error"] == 0.0 and set(right["facets"].values()) == {0.0}
    invalid = TASK.row_errors(row, "no idea")
    assert invalid["error"] is None and invalid["prediction"] is None and invalid["invalid_reason"] == "no answer letter"
    assert invalid["facets"]["animals"] == 1.0
    assert TASK.row_facets(row) == ("animals",)


def test_hard_cases_put_invalid_then_wrong_then_right_rows():
    rows = rows_of("food:A", "animals:B", "colors:C", "places:D")
    outputs = ["A", "C", "?" * 400, "Answer: D"]
    cases = TASK.hard_cases(rows, outputs, k=3)
    assert [c["id"] for c in cases] == ["r2", "r1", "r0"]
    first = cases[0]
    assert first["error"] is None and first["invalid_reason"] == "no answer letter" and len(first["output"]) == 300
    assert (first["gold"], first["text"], first["subject"]) == ("C", "question 2", "colors")
    assert (cases[1]["error"], cases[1]["gold"], cases[1]["prediction"]) == (1.0, "B", "C")
    assert len(TASK.hard_cases(rows, outputs, k=10)) == 4


def test_the_letter_table_counts_gold_and_predicted_letters():
    rows = rows_of("food:A", "animals:B", "colors:B", "places:D")
    table = TASK.tables(rows, ["A", "A", "zzz", "D"])["letters"]
    assert table == {"gold": {"A": 1, "B": 2, "C": 0, "D": 1},
                     "predicted": {"A": 2, "B": 0, "C": 0, "D": 1, "(invalid)": 1}}
