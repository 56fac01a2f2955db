"""Paired comparisons on hand-built per-row values: intervals, p-values, the invalid-row rule."""
from __future__ import annotations

import pytest

from campaign.decide.paired import compare, row_error_table
from campaign.tasks import get_task


def test_a_clear_improvement_has_an_interval_below_zero_and_a_small_p():
    ref = [10.0, 12.0, 9.0, 11.0, 14.0, 10.0, 13.0, 12.0, 11.0, 10.0]
    cand = [v - 3.0 + (0.5 if i % 2 else -0.5) for i, v in enumerate(ref)]
    r = compare(ref, cand, seed=1)
    assert r["diff"] == pytest.approx(-3.0) and r["high"] < 0 and r["low"] < r["diff"] < r["high"]
    assert r["p_value"] < 0.01 and r["test"] == "Wilcoxon signed-rank" and r["n"] == 10
    assert compare(ref, cand, seed=1) == r  # seeded: the same interval every time


def test_noise_gives_an_interval_across_zero():
    ref = [5.0, 7.0, 6.0, 8.0, 5.0, 7.0, 6.0, 8.0]
    cand = [6.0, 6.0, 7.0, 7.0, 6.0, 6.0, 7.0, 7.0]  # +1, -1, +1, -1, ...
    r = compare(ref, cand)
    assert r["diff"] == 0 and r["low"] < 0 < r["high"] and r["p_value"] == pytest.approx(1.0)


def test_right_wrong_rows_use_mcnemar():
    ref = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]   # errors: 1 = wrong
    cand = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]  # fixes 6, breaks 1
    r = compare(ref, cand)
    assert r["test"] == "McNemar exact" and r["diff"] == pytest.approx(-0.5)
    assert r["p_value"] == pytest.approx(0.125)  # binomial(6 of 7 discordant, p=0.5), two-sided: 16/128


def test_identical_models_and_bad_input():
    r = compare([3.0, 4.0], [3.0, 4.0])
    assert (r["diff"], r["low"], r["high"], r["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="same rows"):
        compare([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="confidence"):
        compare([1.0], [1.0], confidence=1.0)


def test_row_error_table_counts_an_invalid_output_as_the_task_says():
    task = get_task("hidden_params")
    from campaign.tasks.hidden_params.metrics import INVALID_ERROR

    assert task.invalid_error == INVALID_ERROR
    params = {"energy": 10, "warmth": 20, "brightness": 30, "acousticness": 40, "complexity": 50, "nostalgia": 60}
    rows = [{"id": "a", "request": "x", "hidden_params": params}, {"id": "b", "request": "y", "hidden_params": params}]
    outputs = {"a": task.target({"hidden_params": {**params, "energy": 16}}), "b": "no json"}
    table = row_error_table(task, rows, outputs)
    assert table["primary"] == [pytest.approx(1.0), INVALID_ERROR]
    assert table["facets"]["energy"] == [6.0, INVALID_ERROR] and table["facets"]["warmth"] == [0.0, INVALID_ERROR]
