"""Parsing model outputs and the scalar metrics, checked against hand-computed values."""
from __future__ import annotations

import json
import math

import pytest

from campaign.tasks.hidden_params.metrics import INVALID_ERROR, hard_cases, parse_prediction, percentile, score
from campaign.tasks.hidden_params.schema import DIMS

VALID = {"energy": 10, "warmth": 20, "brightness": 30, "acousticness": 40, "complexity": 50, "nostalgia": 60}


def as_text(values: dict) -> str:
    return json.dumps(values)


# ---------------------------------------------------------------- parse_prediction


@pytest.mark.parametrize("text, reason", [
    ("", "no JSON object"),
    ("energy: 10, warmth: 20", "no JSON object"),
    ("[1, 2, 3]", "no JSON object"),
    ('{"energy": 10, "warmth": 2', "broken JSON"),
    ('{"energy": 10, "warmth": 20, "brightness": 30, "acousticness": 40, "complexity": 50, "nostalgia": 60',
     "broken JSON"),
    ("{}", "missing keys: energy, warmth, brightness, acousticness, complexity, nostalgia"),
    (as_text({k: v for k, v in VALID.items() if k != "nostalgia"}), "missing keys: nostalgia"),
    (as_text({**VALID, "warmth": True}), "warmth is not a number"),
    (as_text({**VALID, "warmth": "20"}), "warmth is not a number"),
    (as_text({**VALID, "warmth": None}), "warmth is not a number"),
    (as_text({**VALID, "warmth": [20]}), "warmth is not a number"),
    (as_text({**VALID, "complexity": 101}), "complexity=101 out of range"),
    (as_text({**VALID, "complexity": -0.5}), "complexity=-0.5 out of range"),
    # A stray brace before the object: the first '{' must start the object.
    ('use {braces} ' + as_text(VALID), "broken JSON"),
])
def test_parse_prediction_rejects(text, reason):
    values, why = parse_prediction(text)
    assert values is None
    assert why.startswith(reason), why


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_parse_prediction_rejects_non_finite(literal):
    text = as_text(VALID).replace('"energy": 10', f'"energy": {literal}')
    assert literal in text
    assert parse_prediction(text) == (None, "energy is not a number")


@pytest.mark.parametrize("text", [
    as_text(VALID),
    as_text(VALID) + " and then the model kept talking {",
    as_text(VALID) + as_text({**VALID, "energy": 99}),  # only the first object counts
    "Sure! Here you go: " + as_text(VALID),
    "\n\n  " + json.dumps(VALID, indent=2),
    as_text(dict(reversed(list(VALID.items())))),  # key order does not matter
    as_text({**VALID, "tempo": 120}),  # extra keys are ignored
])
def test_parse_prediction_accepts(text):
    values, why = parse_prediction(text)
    assert why is None
    assert values == {d: float(v) for d, v in VALID.items()}
    assert list(values) == list(DIMS) and all(type(v) is float for v in values.values())


def test_parse_prediction_accepts_floats_and_bounds():
    values, why = parse_prediction(as_text({**VALID, "energy": 12.5, "warmth": 0, "nostalgia": 100}))
    assert why is None
    assert (values["energy"], values["warmth"], values["nostalgia"]) == (12.5, 0.0, 100.0)


# ---------------------------------------------------------------- score


# Three targets; warmth and acousticness are constant (zero variance, skipped by r2).
T1 = {"energy": 10, "warmth": 20, "brightness": 30, "acousticness": 40, "complexity": 50, "nostalgia": 60}
T2 = {"energy": 30, "warmth": 20, "brightness": 50, "acousticness": 40, "complexity": 70, "nostalgia": 80}
T3 = {"energy": 50, "warmth": 20, "brightness": 70, "acousticness": 40, "complexity": 90, "nostalgia": 100}
TARGETS = [T1, T2, T3]
# Errors: row1 energy +2; row2 warmth +6; row3 complexity -3, nostalgia -9.
P1 = {**T1, "energy": 12}
P2 = {**T2, "warmth": 26}
P3 = {**T3, "complexity": 87, "nostalgia": 91}
OUTPUTS = [as_text(P1), as_text(P2), as_text(P3)]


def test_score_hand_computed():
    m = score(TARGETS, OUTPUTS)
    assert (m["n"], m["n_valid"], m["json_valid_rate"]) == (3, 3, 1.0)
    expected_dim = {"energy": 2 / 3, "warmth": 2.0, "brightness": 0.0, "acousticness": 0.0,
                    "complexity": 1.0, "nostalgia": 3.0}
    for d, v in expected_dim.items():
        assert m[f"mae_raw_{d}"] == pytest.approx(v)
    assert m["mae_raw"] == pytest.approx(10 / 9)  # (2/3 + 2 + 0 + 0 + 1 + 3) / 6
    assert m["mse_raw"] == pytest.approx((4 + 36 + 9 + 81) / 18)
    assert m["mse_norm"] == pytest.approx((4 + 36 + 9 + 81) / 18 / 100**2)
    # r2 over energy, brightness, complexity, nostalgia (ss_tot = 800 each); warmth's error is not in it.
    assert m["r2_score"] == pytest.approx(1 - (4 + 0 + 9 + 81) / (4 * 800))
    assert m["objective"] == pytest.approx(m["mae_raw"])


def test_score_perfect_and_constant_mean():
    perfect = score(TARGETS, [as_text(t) for t in TARGETS])
    assert perfect["r2_score"] == 1.0
    assert perfect["mae_raw"] == perfect["mse_raw"] == perfect["objective"] == 0.0

    mean = {d: sum(t[d] for t in TARGETS) / 3 for d in DIMS}
    m = score(TARGETS, [as_text(mean)] * 3)
    assert m["r2_score"] == pytest.approx(0.0, abs=1e-12)
    assert m["mae_raw_energy"] == pytest.approx(40 / 3)  # |10-30| + 0 + |50-30|
    assert m["mae_raw_warmth"] == 0.0


def test_score_r2_nan_when_no_dim_has_variance():
    assert math.isnan(score([T1], [as_text(P1)])["r2_score"])


def test_score_invalid_outputs_weighted_into_objective():
    t4 = {d: 50 for d in DIMS}
    m = score(TARGETS + [t4], OUTPUTS + ["I cannot answer that"])
    assert (m["n"], m["n_valid"], m["json_valid_rate"]) == (4, 3, 0.75)
    assert m["mae_raw"] == pytest.approx(10 / 9)  # over valid outputs only
    assert m["objective"] == pytest.approx((10 / 9 * 3 + INVALID_ERROR) / 4)
    assert m["objective"] > m["mae_raw"]
    # Fewer valid outputs never help: dropping a good prediction to invalid raises the objective.
    worse = score(TARGETS + [t4], [OUTPUTS[0], "{", OUTPUTS[2], "I cannot answer that"])
    assert worse["objective"] > m["objective"]


def test_score_all_invalid():
    m = score(TARGETS, ["", "{broken", '{"energy": 1}'])
    assert (m["n"], m["n_valid"], m["json_valid_rate"]) == (3, 0, 0.0)
    assert m["objective"] == INVALID_ERROR
    for key in ["mae_raw", "mse_raw", "mse_norm", "r2_score"] + [f"mae_raw_{d}" for d in DIMS]:
        assert math.isnan(m[key]), key


def test_score_rejects_length_mismatch_and_empty():
    with pytest.raises(ValueError, match="3 targets but 2 outputs"):
        score(TARGETS, OUTPUTS[:2])
    with pytest.raises(ValueError, match="empty"):
        score([], [])


# ---------------------------------------------------------------- hard_cases


def _row(i, target):
    return {"id": f"r{i}", "request": f"request {i}", "hidden_params": target}


def test_hard_cases_order_and_k():
    base = {d: 50 for d in DIMS}
    rows = [_row(i, base) for i in range(5)]
    outputs = [
        as_text({d: 55 for d in DIMS}),  # error 5
        "not json",                      # invalid
        as_text({d: 51 for d in DIMS}),  # error 1
        "{",                             # invalid
        as_text({d: 40 for d in DIMS}),  # error 10
    ]
    cases = hard_cases(rows, outputs, k=10)
    assert [c["id"] for c in cases] == ["r1", "r3", "r4", "r0", "r2"]
    assert [c["error"] for c in cases] == [None, None, 10.0, 5.0, 1.0]
    assert cases[0]["invalid_reason"] == "no JSON object" and cases[0]["prediction"] is None
    assert cases[1]["invalid_reason"].startswith("broken JSON")
    assert cases[2]["invalid_reason"] is None and cases[2]["prediction"] == {d: 40.0 for d in DIMS}
    assert cases[2]["target"] == base and cases[2]["request"] == "request 4"
    assert [c["id"] for c in hard_cases(rows, outputs, k=3)] == ["r1", "r3", "r4"]
    assert hard_cases(rows, outputs, k=0) == []


def test_hard_cases_mean_error_and_truncated_output():
    target = {"energy": 0, "warmth": 0, "brightness": 0, "acousticness": 0, "complexity": 0, "nostalgia": 0}
    pred = {"energy": 6, "warmth": 0, "brightness": 0, "acousticness": 0, "complexity": 0, "nostalgia": 12}
    (case,) = hard_cases([_row(0, target)], [as_text(pred) + " " + "x" * 500], k=1)
    assert case["error"] == pytest.approx(3.0)  # (6 + 12) / 6
    assert len(case["output"]) == 300


# ---------------------------------------------------------------- percentile


def test_percentile_hand_values():
    xs = [4, 1, 3, 2]  # unsorted on purpose
    assert percentile(xs, 0) == 1
    assert percentile(xs, 100) == 4
    assert percentile(xs, 50) == pytest.approx(2.5)
    assert percentile(xs, 25) == pytest.approx(1.75)
    assert percentile(xs, 90) == pytest.approx(3.7)
    assert percentile([10, 20, 30, 40, 50], 50) == 30
    assert percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)
    assert percentile([7.0], 37) == 7.0
    assert math.isnan(percentile([], 50))
    assert xs == [4, 1, 3, 2]  # input not sorted in place
