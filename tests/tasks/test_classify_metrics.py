"""The safety classifier's parsing and metrics, against scikit-learn and hand-computed numbers."""
from __future__ import annotations

import math
import random

import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from campaign.tasks.classify import DEFAULT_LABELS, ClassifyTask
from campaign.tasks.classify.metrics import INVALID

LABELS = list(DEFAULT_LABELS)
TASK = ClassifyTask()


def rows_of(*golds: str) -> list[dict]:
    return [{"id": f"r{i}", "text": f"text {i}", "lang": "en", "source": "user", "label": g}
            for i, g in enumerate(golds)]


# ---------------------------------------------------------------- parse


@pytest.mark.parametrize("output, label", [
    (" ALLOW", "ALLOW"),
    ("deny.", "DENY"),
    ("REFUSE\nbecause it asks for a weapon", "REFUSE"),
    ("  Escalation!  ", "ESCALATION"),
    ("\n\nallow", "ALLOW"),
    ("DENY, since it is someone else's account", "DENY"),  # the first token, trailing comma stripped
    ("REFUSE: weapons", "REFUSE"),
])
def test_parse_accepts_a_label_on_the_first_line(output, label):
    assert TASK.parse(output) == (label, None)


@pytest.mark.parametrize("output, reason", [
    ("", "empty output"),
    ("   \n\t", "empty output"),
    ("FOO", "'FOO' is not a label"),
    ("ALLOWED", "'ALLOWED' is not a label"),
    ("I think ALLOW", "'I think ALLOW' is not a label"),  # the label must lead the line
    ("DENY/REFUSE", "'DENY/REFUSE' is not a label"),
    ("maybe\nALLOW", "'maybe' is not a label"),  # only the first line counts
])
def test_parse_rejects_with_a_reason(output, reason):
    assert TASK.parse(output) == (None, reason)


def test_parse_quotes_a_long_bad_line_shortened():
    label, reason = TASK.parse("x" * 100)
    assert label is None and reason == repr("x" * 40 + "…") + " is not a label"


def test_outputs_match_up_to_case_even_under_exact_unless_ambiguous():
    exact = ClassifyTask(label_case="exact")
    assert exact.parse("allow") == ("ALLOW", None)
    twins = ClassifyTask(labels=["yes", "YES", "no"], label_case="exact")
    assert twins.parse("yes") == ("yes", None) and twins.parse("YES") == ("YES", None)
    assert twins.parse("No") == ("no", None)
    assert twins.parse("Yes") == (None, "'Yes' is not a label")  # equal up to case to two labels


# ---------------------------------------------------------------- score against scikit-learn


def test_perfect_outputs():
    rows = rows_of("ALLOW", "ESCALATION", "DENY", "REFUSE", "ALLOW")
    out = TASK.score(rows, [r["label"] for r in rows])
    assert out["accuracy"] == out["macro_f1"] == out["objective"] == out["valid_rate"] == 1.0
    assert all(out[f"f1_error_{c}"] == 0.0 for c in LABELS)
    assert out["support_ALLOW"] == 2 and out["n"] == out["n_valid"] == 5


def test_all_wrong_outputs():
    rows = rows_of("ALLOW", "ESCALATION", "DENY", "REFUSE")
    out = TASK.score(rows, ["REFUSE", "ALLOW", "ESCALATION", "DENY"])
    assert out["accuracy"] == out["macro_f1"] == 0.0 and out["valid_rate"] == 1.0
    assert all(out[f"precision_{c}"] == out[f"recall_{c}"] == 0.0 and out[f"f1_error_{c}"] == 1.0 for c in LABELS)


def test_hand_computed_small_case():
    rows = rows_of("ALLOW", "ALLOW", "DENY", "REFUSE", "ESCALATION")
    out = TASK.score(rows, ["ALLOW", "DENY", "deny", "garbage", "ALLOW"])
    assert (out["n"], out["n_valid"], out["valid_rate"], out["accuracy"]) == (5, 4, 0.8, 0.4)
    # ALLOW: TP 1, FP 1, FN 1. DENY: TP 1, FP 1. REFUSE: its one row is invalid. ESCALATION: missed.
    assert (out["precision_ALLOW"], out["recall_ALLOW"], out["f1_ALLOW"]) == (0.5, 0.5, 0.5)
    assert (out["precision_DENY"], out["recall_DENY"]) == (0.5, 1.0)
    assert out["f1_DENY"] == pytest.approx(2 / 3) and out["f1_error_DENY"] == pytest.approx(1 / 3)
    assert out["recall_REFUSE"] == out["precision_REFUSE"] == out["f1_REFUSE"] == 0.0
    assert out["f1_error_ESCALATION"] == 1.0 and out["support_ESCALATION"] == 1
    assert out["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 4) and out["objective"] == out["macro_f1"]
    assert all(type(v) in (int, float) for v in out.values())


def test_a_class_with_no_predictions_has_precision_zero_as_sklearn_says():
    rows = rows_of("ALLOW", "DENY", "DENY", "REFUSE")
    outputs = ["ALLOW", "ALLOW", "DENY", "ALLOW"]  # REFUSE is never predicted
    out = TASK.score(rows, outputs)
    p, r, f, s = precision_recall_fscore_support([x["label"] for x in rows], outputs, labels=LABELS,
                                                 zero_division=0.0)
    for c in ["ALLOW", "DENY", "REFUSE"]:
        j = LABELS.index(c)
        assert (out[f"precision_{c}"], out[f"recall_{c}"], out[f"f1_{c}"], out[f"support_{c}"]) == \
            pytest.approx((p[j], r[j], f[j], s[j]))
    assert out["precision_REFUSE"] == 0.0
    present = ["ALLOW", "DENY", "REFUSE"]
    assert out["macro_f1"] == pytest.approx(f1_score([x["label"] for x in rows], outputs, labels=present,
                                                     average="macro", zero_division=0.0))


def test_a_class_absent_from_gold_and_predictions_is_nan_and_left_out_of_macro():
    rows = rows_of("ALLOW", "DENY", "DENY")
    outputs = ["ALLOW", "DENY", "ALLOW"]
    out = TASK.score(rows, outputs)
    for c in ("ESCALATION", "REFUSE"):
        assert all(math.isnan(out[f"{m}_{c}"]) for m in ("precision", "recall", "f1", "f1_error"))
        assert out[f"support_{c}"] == 0
    gold = [x["label"] for x in rows]
    expected = f1_score(gold, outputs, labels=["ALLOW", "DENY"], average="macro", zero_division=0.0)
    assert out["macro_f1"] == pytest.approx(expected) == pytest.approx((2 / 3 + 2 / 3) / 2)
    # Over all four labels sklearn would average in two zeros: the rule above is what keeps them out.
    assert f1_score(gold, outputs, labels=LABELS, average="macro", zero_division=0.0) < expected


def test_a_class_predicted_but_absent_from_gold_counts_with_recall_zero():
    out = TASK.score(rows_of("ALLOW", "ALLOW"), ["ALLOW", "REFUSE"])
    assert (out["precision_REFUSE"], out["recall_REFUSE"], out["f1_REFUSE"], out["support_REFUSE"]) == (0, 0, 0, 0)
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)


def test_invalid_outputs_are_wrong_in_accuracy_and_recall_and_nobodys_false_positive():
    rows = rows_of("ALLOW", "ALLOW", "DENY", "DENY")
    out = TASK.score(rows, ["ALLOW", "no idea", "DENY", ""])
    assert out["accuracy"] == 0.5 and out["valid_rate"] == 0.5 and out["n_valid"] == 2
    assert out["recall_ALLOW"] == out["recall_DENY"] == 0.5
    assert out["precision_ALLOW"] == out["precision_DENY"] == 1.0  # the invalid rows are no one's prediction
    assert math.isnan(out["f1_REFUSE"]) and out["macro_f1"] == pytest.approx(2 / 3)


def test_random_cases_match_sklearn():
    rng = random.Random(0)
    for _ in range(20):
        gold = [rng.choice(LABELS[:3]) for _ in range(30)]
        outputs = [rng.choice(LABELS + ["???", "", "allow"]) for _ in range(30)]
        out = TASK.score(rows_of(*gold), outputs)
        pred = [TASK.parse(o)[0] or INVALID for o in outputs]
        p, r, f, s = precision_recall_fscore_support(gold, pred, labels=LABELS, zero_division=0.0)
        present = [c for c in LABELS if c in gold or c in pred]
        for j, c in enumerate(LABELS):
            if c in present:
                assert (out[f"precision_{c}"], out[f"recall_{c}"], out[f"f1_{c}"]) == pytest.approx((p[j], r[j], f[j]))
            assert out[f"support_{c}"] == s[j]
        assert out["macro_f1"] == pytest.approx(f1_score(gold, pred, labels=present, average="macro",
                                                         zero_division=0.0))
        assert out["accuracy"] == pytest.approx(sum(g == q for g, q in zip(gold, pred)) / 30)


def test_score_rejects_empty_mismatched_and_unknown_gold():
    with pytest.raises(ValueError, match="empty"):
        TASK.score([], [])
    with pytest.raises(ValueError, match="2 rows but 1 outputs"):
        TASK.score(rows_of("ALLOW", "DENY"), ["ALLOW"])
    with pytest.raises(ValueError, match=r"\['MAYBE'\] are not among"):
        TASK.score(rows_of("MAYBE"), ["ALLOW"])


# ---------------------------------------------------------------- confusion matrix


def test_confusion_matrix_has_gold_rows_and_an_invalid_column():
    rows = rows_of("ALLOW", "ALLOW", "DENY", "REFUSE", "ESCALATION")
    outputs = ["ALLOW", "DENY", "DENY", "garbage", "ALLOW"]
    table = TASK.tables(rows, outputs)["confusion_matrix"]
    assert table["labels"] == LABELS and table["columns"] == LABELS + ["(invalid)"]
    assert table["matrix"] == [[1, 0, 1, 0, 0],   # ALLOW
                               [1, 0, 0, 0, 0],   # ESCALATION
                               [0, 0, 1, 0, 0],   # DENY
                               [0, 0, 0, 0, 1]]   # REFUSE: its output was invalid
    assert all(type(v) is int for line in table["matrix"] for v in line)
    valid = [i for i, o in enumerate(outputs) if TASK.parse(o)[0]]
    sk = confusion_matrix([rows[i]["label"] for i in valid], [outputs[i] for i in valid], labels=LABELS)
    assert [line[:4] for line in table["matrix"]] == sk.tolist()


# ---------------------------------------------------------------- row errors and hard cases


def test_row_errors_mark_misses_false_alarms_and_invalid_outputs():
    (row,) = rows_of("ALLOW")
    wrong = TASK.row_errors(row, "DENY")
    assert wrong["error"] == 1.0 and wrong["prediction"] == "DENY" and wrong["invalid_reason"] is None
    assert wrong["facets"] == {"ALLOW": 1.0, "ESCALATION": 0.0, "DENY": 1.0, "REFUSE": 0.0}  # a miss, a false alarm
    right = TASK.row_errors(row, "allow")
    assert right["error"] == 0.0 and set(right["facets"].values()) == {0.0}
    invalid = TASK.row_errors(row, "?")
    assert invalid["error"] is None and invalid["prediction"] is None and invalid["invalid_reason"] == "'?' is not a label"
    assert invalid["facets"] == {"ALLOW": 1.0, "ESCALATION": 0.0, "DENY": 0.0, "REFUSE": 0.0}  # a miss of the gold


def test_the_mean_facet_error_is_fn_plus_fp_over_n():
    rows = rows_of("ALLOW", "ALLOW", "DENY", "REFUSE", "ESCALATION")
    outputs = ["ALLOW", "DENY", "DENY", "garbage", "ALLOW"]
    per_row = [TASK.row_errors(r, o)["facets"] for r, o in zip(rows, outputs)]
    # ALLOW: FN 1 + FP 1; DENY: FP 1; REFUSE: FN 1 (invalid); ESCALATION: FN 1.
    assert {c: sum(f[c] for f in per_row) / 5 for c in LABELS} == {"ALLOW": 0.4, "ESCALATION": 0.2, "DENY": 0.2,
                                                                    "REFUSE": 0.2}


def test_hard_cases_put_invalid_then_wrong_then_right_rows():
    rows = rows_of("ALLOW", "DENY", "REFUSE", "ALLOW", "DENY")
    outputs = ["ALLOW", "ALLOW", "?" * 400, "REFUSE", "DENY"]
    cases = TASK.hard_cases(rows, outputs, k=4)
    assert [c["id"] for c in cases] == ["r2", "r1", "r3", "r0"]
    first = cases[0]
    assert first["error"] is None and first["prediction"] is None and first["invalid_reason"].endswith("is not a label")
    assert len(first["output"]) == 300 and first["gold"] == "REFUSE" and first["text"] == "text 2"
    assert (cases[1]["error"], cases[1]["gold"], cases[1]["prediction"]) == (1.0, "DENY", "ALLOW")
    assert cases[3]["error"] == 0.0
    assert len(TASK.hard_cases(rows, outputs, k=10)) == 5
