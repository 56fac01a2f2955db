"""Best trials and hard dimensions from plain trial records."""
from __future__ import annotations

import math

import pytest

from campaign.decide.hard_facets import best_trials, choose_hard_facets, facets_record, finished
from campaign.tasks.hidden_params import SPEC
from campaign.tasks.hidden_params.schema import DIMS

METRIC = "valid/objective"


def rec(trial_id, objective, state="TERMINATED", **dim_mae):
    metrics = {METRIC: objective}
    metrics.update({f"valid/mae_raw_{d}": v for d, v in dim_mae.items()})
    return {"trial_id": trial_id, "state": state, "metrics": metrics}


def full(trial_id, objective, base=5.0, state="TERMINATED", **over):
    return rec(trial_id, objective, state=state, **{d: over.get(d, base) for d in DIMS})


def test_finished_ignores_errors_and_non_finite_metrics():
    records = [
        rec("a", 1.0),
        rec("b", 0.5, state="ERROR"),
        rec("c", float("nan")),
        rec("d", None),
        rec("e", float("inf")),
        rec("f", "0.1"),
        {"trial_id": "g", "state": "TERMINATED"},  # no metrics at all
        rec("h", 2),
    ]
    assert [r["trial_id"] for r in finished(records, METRIC)] == ["a", "h"]


def test_best_trials_min_max_k_and_ties():
    records = [rec("t3", 2.0), rec("t1", 1.0), rec("t2", 1.0), rec("t4", 3.0), rec("t0", 0.1, state="ERROR")]
    assert [r["trial_id"] for r in best_trials(records, METRIC, "min", 3)] == ["t1", "t2", "t3"]
    assert [r["trial_id"] for r in best_trials(records, METRIC, "max", 2)] == ["t4", "t3"]
    # Ties are broken by trial id in both modes, whatever the input order.
    assert [r["trial_id"] for r in best_trials(records[::-1], METRIC, "min", 2)] == ["t1", "t2"]
    assert [r["trial_id"] for r in best_trials([rec("b", 1.0), rec("a", 1.0)], METRIC, "max", 2)] == ["a", "b"]
    assert best_trials(records, METRIC, "min", 0) == []
    assert len(best_trials(records, METRIC, "min", 10)) == 4


def test_choose_hard_facets_over_k_best():
    records = [
        full("t1", 1.0, energy=10.0, nostalgia=20.0),
        full("t2", 2.0, energy=30.0, warmth=25.0),
        full("t3", 3.0, complexity=99.0),         # not among the 2 best: ignored
        full("t0", 0.1, state="ERROR", brightness=500.0),  # errored: ignored
    ]
    out = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", k_best=2, n_facets=2)
    assert out["best_trials"] == ["t1", "t2"]
    assert out["per_facet_error"]["energy"] == pytest.approx(20.0)
    assert out["per_facet_error"]["warmth"] == pytest.approx(15.0)
    assert out["per_facet_error"]["nostalgia"] == pytest.approx(12.5)
    assert out["per_facet_error"]["complexity"] == pytest.approx(5.0)
    assert out["hard_facets"] == ["energy", "warmth"]
    assert "energy 20.00, warmth 15.00" in out["reason"] and "2 best finished trial(s)" in out["reason"]
    assert METRIC in out["reason"]

    three = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", k_best=3, n_facets=1)
    assert three["hard_facets"] == ["complexity"]  # (5 + 5 + 99) / 3 = 36.3
    assert choose_hard_facets(records, SPEC, metric=METRIC, mode="min", k_best=2, n_facets=3)["hard_facets"] == \
        ["energy", "warmth", "nostalgia"]


def test_choose_hard_facets_mode_max_picks_other_trials():
    records = [full("low", 1.0, energy=40.0), full("high", 9.0, acousticness=40.0)]
    assert choose_hard_facets(records, SPEC, metric=METRIC, mode="min", k_best=1, n_facets=1)["hard_facets"] == ["energy"]
    out = choose_hard_facets(records, SPEC, metric=METRIC, mode="max", k_best=1, n_facets=1)
    assert out["best_trials"] == ["high"] and out["hard_facets"] == ["acousticness"]


def test_choose_hard_facets_ties_follow_dims_order():
    out = choose_hard_facets([full("t", 1.0, base=7.0)], SPEC, metric=METRIC, mode="min", n_facets=3)
    assert out["hard_facets"] == list(DIMS[:3])
    reordered = full("t", 1.0, base=1.0, nostalgia=9.0, energy=9.0)
    assert choose_hard_facets([reordered], SPEC, metric=METRIC, mode="min", n_facets=2)["hard_facets"] == ["energy", "nostalgia"]


def test_choose_hard_facets_skips_missing_and_nan_dim_values():
    records = [
        rec("t1", 1.0, energy=10.0, warmth=float("nan")),
        rec("t2", 2.0, energy=20.0, warmth=None, brightness=50.0),
    ]
    out = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", k_best=2, n_facets=2)
    assert out["per_facet_error"] == {"energy": 15.0, "brightness": 50.0}
    assert out["hard_facets"] == ["brightness", "energy"]
    assert all(not math.isnan(v) for v in out["per_facet_error"].values())


def test_no_finished_trial():
    records = [rec("t1", 1.0, state="ERROR"), rec("t2", float("nan")), rec("t3", None)]
    out = choose_hard_facets(records, SPEC, metric=METRIC, mode="min")
    assert out["best_trials"] == [] and out["hard_facets"] == [] and out["per_facet_error"] == {}
    assert "no finished trial" in out["reason"] and METRIC in out["reason"]
    assert choose_hard_facets([], SPEC, metric=METRIC, mode="max")["hard_facets"] == []


def test_best_trials_without_valid_json():
    # Finished with an objective (all outputs invalid -> objective 50), but every per-dim MAE is NaN.
    records = [full("t1", 50.0, base=float("nan")), full("t2", 50.0, base=float("nan")), rec("t3", 50.0)]
    out = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", k_best=3)
    assert out["best_trials"] == ["t1", "t2", "t3"]
    assert out["hard_facets"] == [] and out["per_facet_error"] == {}
    assert "valid output" in out["reason"] and "valid split" in out["reason"]


def test_prefix_selects_split():
    r = full("t1", 1.0)
    r["metrics"].update({f"test/mae_raw_{d}": 1.0 for d in DIMS})
    r["metrics"]["test/mae_raw_complexity"] = 8.0
    out = choose_hard_facets([r], SPEC, metric=METRIC, mode="min", n_facets=1, prefix="test")
    assert out["hard_facets"] == ["complexity"] and "mean test mae_raw" in out["reason"]


def test_ties_go_to_the_earlier_trial_index_before_the_random_id():
    a, b = {**rec("ffff", 1.0), "trial": 1}, {**rec("0000", 1.0), "trial": 2}
    assert [r["trial_id"] for r in best_trials([b, a], METRIC, "min", 2)] == ["ffff", "0000"]


def test_forced_dims_override_and_the_measured_choice_is_kept():
    records = [full("t1", 1.0, energy=30.0, warmth=20.0), full("t2", 2.0, energy=10.0)]
    out = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", k_best=2, n_facets=2,
                           force_facets=["nostalgia", "acousticness"])
    assert out["hard_facets"] == ["nostalgia", "acousticness"] and out["forced"] is True
    assert out["measured_hard_facets"] == ["energy", "warmth"]
    assert out["reason"].startswith("forced by cycles.force_facets (energy, warmth by measurement: largest mean")
    assert out["per_facet_error"]["energy"] == pytest.approx(20.0)
    measured = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", k_best=2, n_facets=2)
    assert measured["forced"] is False and measured["hard_facets"] == ["energy", "warmth"]


def test_hard_dims_records_from_before_facets_read_as_facets():
    old = {"best_trials": ["a"], "per_dim_mae": {"energy": 9.0}, "hard_dims": ["energy"], "reason": "r",
           "forced": True, "measured_hard_dims": ["warmth"]}
    new = facets_record(old)
    assert new == {"best_trials": ["a"], "per_facet_error": {"energy": 9.0}, "hard_facets": ["energy"], "reason": "r",
                   "forced": True, "measured_hard_facets": ["warmth"]}
    assert facets_record(new) is new


def test_relative_choice_divides_by_the_reference_error():
    # energy has the largest error (8) but its labels spread widest (reference 16); complexity's 6 is
    # close to what predicting the training mean gets (6.5), so it is the least learned
    records = [full("a", 1.0, energy=8.0, complexity=6.0, warmth=5.0), full("b", 2.0, energy=8.0, complexity=6.0,
                                                                              warmth=5.0)]
    ref = {"name": "mean_baseline", "errors": {"energy": 16.0, "warmth": 12.0, "brightness": 12.0,
                                               "acousticness": 18.0, "complexity": 6.5, "nostalgia": 8.0}}
    by_error = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", n_facets=2)
    assert by_error["hard_facets"] == ["energy", "complexity"]
    rel = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", n_facets=2, reference=ref)
    assert rel["hard_facets"] == ["complexity", "nostalgia"]  # 6 / 6.5 = 0.92, 5 / 8 = 0.625
    assert rel["per_facet_relative"]["energy"] == pytest.approx(0.5)
    assert rel["per_facet_error"] == by_error["per_facet_error"]  # the errors are still recorded
    assert "relative to mean_baseline's" in rel["reason"] and "complexity 6.00 / 6.50 = 0.92" in rel["reason"]
    forced = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", reference=ref, force_facets=["energy"])
    assert forced["hard_facets"] == ["energy"] and forced["measured_hard_facets"] == ["complexity", "nostalgia"]
    with pytest.raises(ValueError, match="no positive error"):
        choose_hard_facets(records, SPEC, metric=METRIC, mode="min", reference={"name": "m", "errors": {"energy": 0}})


def test_a_facet_with_too_few_validation_rows_is_never_chosen():
    from campaign.tasks.base import TaskSpec

    spec = TaskSpec(kind="q", facets=("math", "art", "law"), facet_kind="subject", facet_error="error_{facet}",
                    primary="accuracy", mode="max", valid_rate="valid_rate", facet_support="support_{facet}")

    def trial(tid, acc, errors, support):
        metrics = {METRIC: acc, **{f"valid/error_{f}": e for f, e in errors.items()},
                   **{f"valid/support_{f}": n for f, n in support.items()}}
        return {"trial_id": tid, "state": "TERMINATED", "metrics": metrics}

    support = {"math": 12, "art": 3, "law": 9}
    records = [trial("a", 0.8, {"math": 0.2, "art": 0.9, "law": 0.4}, support),
               trial("b", 0.7, {"math": 0.3, "art": 1.0, "law": 0.5}, support)]
    out = choose_hard_facets(records, spec, metric=METRIC, mode="max", k_best=2, n_facets=1, min_support=5)
    assert out["hard_facets"] == ["law"] and out["too_few"] == ["art"] and out["support"]["art"] == 3
    assert "left out with fewer than 5 valid rows: art (3)" in out["reason"]
    assert choose_hard_facets(records, spec, metric=METRIC, mode="max", k_best=2, n_facets=1)["hard_facets"] == ["art"]
    everyone = choose_hard_facets(records, spec, metric=METRIC, mode="max", k_best=2, n_facets=2, min_support=50)
    assert everyone["hard_facets"] == [] and "none" in everyone["reason"]


def test_a_facet_with_no_error_is_never_hard():
    records = [full("a", 1.0, base=0.0, energy=2.0), full("b", 2.0, base=0.0)]
    out = choose_hard_facets(records, SPEC, metric=METRIC, mode="min", k_best=2, n_facets=2)
    assert out["hard_facets"] == ["energy"] and out["per_facet_error"]["warmth"] == 0.0
    perfect = choose_hard_facets([full("a", 0.0, base=0.0)], SPEC, metric=METRIC, mode="min", k_best=1, n_facets=2)
    assert perfect["hard_facets"] == [] and "none (no eligible dimension has an error above 0)" in perfect["reason"]
