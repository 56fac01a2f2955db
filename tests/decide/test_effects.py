"""The noise / data / search split of a cycle, on hand-built per-row error tables (no Ray, no torch)."""
from __future__ import annotations

import pytest

from campaign.decide.effects import find_trial, split_effects


def table(primary, energy):
    return {"primary": list(primary), "facets": {"energy": list(energy), "warmth": list(primary)}}


PREV = table([4, 4, 4, 4, 4, 4], [10, 10, 10, 10, 10, 10])
CONTROL = table([4, 5, 4, 3, 4, 4], [10, 11, 9, 10, 10, 10])  # a re-run: noise around the same mean
DATA = table([4, 4, 4, 4, 4, 4], [6, 6, 7, 5, 6, 6])  # the rows on top cut energy by 4
BEST = table([3, 3, 3, 3, 3, 3], [6, 6, 7, 5, 6, 6])  # the search cut the primary error by 1


def test_steps_add_up_to_the_total_and_name_their_trials():
    out = split_effects({"previous_best": PREV, "control": CONTROL, "data_trial": DATA, "best": BEST},
                        {"previous_best": 4, "control": 1, "data_trial": 2, "best": 5}, ["energy"], resamples=500)
    steps = {s["step"]: s for s in out["steps"]}
    assert [s["step"] for s in out["steps"]] == ["noise", "data", "search", "total"]
    assert steps["noise"]["primary"]["diff"] == pytest.approx(0.0)
    assert steps["noise"]["facets"]["energy"]["diff"] == pytest.approx(0.0)
    assert steps["data"]["facets"]["energy"]["diff"] == pytest.approx(-4.0)
    assert steps["data"]["facets"]["energy"]["high"] < 0  # beyond the noise: the whole interval is below 0
    assert steps["search"]["primary"]["diff"] == pytest.approx(-1.0)
    assert steps["search"]["facets"]["energy"]["diff"] == pytest.approx(0.0)
    total = sum(steps[s]["facets"]["energy"]["diff"] for s in ("noise", "data", "search"))
    assert steps["total"]["facets"]["energy"]["diff"] == pytest.approx(total)
    assert steps["data"]["reference_trial"] == 1 and steps["data"]["candidate_trial"] == 2
    assert set(steps["noise"]["facets"]) == {"energy"}  # focus facets only


def test_a_missing_model_is_named_not_guessed():
    out = split_effects({"previous_best": PREV, "control": None, "data_trial": DATA, "best": BEST}, {}, ["energy"],
                        resamples=200)
    steps = {s["step"]: s for s in out["steps"]}
    assert steps["noise"]["missing"] == "no eval outputs for control"
    assert steps["data"]["missing"] == "no eval outputs for control"
    assert "missing" not in steps["search"] and "primary" in steps["total"]


def test_find_trial_matches_configs_up_to_float_noise():
    recs = [{"trial": 2, "state": "TERMINATED", "config": {"train.lr": 0.001, "train.focus_ratio": 0.1}},
            {"trial": 1, "state": "TERMINATED", "config": {"train.lr": 0.001 * (1 + 1e-12), "train.focus_ratio": 0}},
            {"trial": 3, "state": "ERROR", "config": {"train.lr": 0.001, "train.focus_ratio": 0}}]
    assert find_trial(recs, {"train.lr": 0.001, "train.focus_ratio": 0})["trial"] == 1
    assert find_trial(recs, {"train.lr": 0.002, "train.focus_ratio": 0}) is None
    assert find_trial(recs, None) is None
