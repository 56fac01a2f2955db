"""The promotion gate, on hand-built frozen-eval metrics (no Ray)."""
from __future__ import annotations

import json

import pytest

from campaign.decide.gates import best_baseline, evaluate_gate, gate_table_markdown
from campaign.tasks.base import TaskSpec
from campaign.tasks.hidden_params import SPEC


def metrics(mae, json_valid=1.0, **dims):
    out = {"eval/json_valid_rate": json_valid, "eval/mae_raw": mae}
    out.update({f"eval/mae_raw_{d}": v for d, v in dims.items()})
    return out


# The old pipeline's cycle 1 best (also the promoted model) and its cycle 2 best.
CYCLE1 = metrics(21.15, acousticness=17.15, nostalgia=12.40, energy=20.0)
CYCLE2 = metrics(24.41, acousticness=30.20, nostalgia=19.73, energy=18.0)
PROMPT_NO_JSON = {"eval/json_valid_rate": 0.0, "eval/mae_raw": None}
FOCUS = ["nostalgia", "acousticness"]


def gate(candidate=CYCLE2, prompt_baseline=PROMPT_NO_JSON, **kw):
    args = {"spec": SPEC, "focus_facets": FOCUS, "previous_best": CYCLE1, "promoted": CYCLE1,
            "baselines": {"prompt_baseline": prompt_baseline}}
    args.update(kw)
    return evaluate_gate(candidate, **args)


def by_name(g):
    return {c["check"]: c for c in g["checks"]}


def test_historical_case_refuses_with_exactly_three_reasons():
    g = gate()
    assert g["passed"] is False and g["verdict"] == "refuse"
    assert [c["check"] for c in g["checks"]] == ["json_valid_rate", "mae_raw_nostalgia", "mae_raw_acousticness",
                                                  "mae_raw vs promoted", "mae_raw vs best baseline"]
    assert [c["status"] for c in g["checks"]] == ["pass", "fail", "fail", "fail", "n/a"]
    assert g["failed"] == [
        "mae_raw_nostalgia 19.73 vs 12.40 for the previous cycle's best: +7.33 (must improve by more than 0.00)",
        "mae_raw_acousticness 30.20 vs 17.15 for the previous cycle's best: +13.05 (must improve by more than 0.00)",
        "mae_raw 24.41 vs 21.15 for the promoted model: +3.26 (may be worse by at most 0.00)",
    ]
    joined = " ".join(g["failed"])
    for needle in ("+3.26", "+13.05", "+7.33", "nostalgia", "acousticness"):
        assert needle in joined
    assert by_name(g)["mae_raw vs best baseline"]["reason"] == (
        "no baseline (prompt_baseline) had a valid output, so there is no mae_raw to compare")
    assert g["summary"] == ("refused: 3 of 4 applicable checks failed "
                            "(mae_raw_nostalgia +7.33, mae_raw_acousticness +13.05, mae_raw vs promoted +3.26)")
    acoustic = by_name(g)["mae_raw_acousticness"]
    assert acoustic["value"] == 30.20 and acoustic["reference"] == 17.15
    json.dumps(g)  # plain JSON


def test_historical_case_with_old_prompt_baseline_adds_a_fourth_failure():
    g = gate(prompt_baseline=metrics(20.37, json_valid=1.0))
    assert g["verdict"] == "refuse"
    assert len(g["failed"]) == 4
    assert g["failed"][3] == "mae_raw 24.41 vs 20.37 for prompt_baseline: +4.04 (may be worse by at most 0.00)"
    assert g["summary"].startswith("refused: 4 of 5 applicable checks failed (")
    assert g["summary"].endswith("mae_raw vs best baseline (prompt_baseline) +4.04)")


def test_passing_case_promotes():
    cand = metrics(20.00, json_valid=0.99, acousticness=16.00, nostalgia=11.00)
    g = gate(cand, prompt_baseline=metrics(20.37))
    assert g["passed"] is True and g["verdict"] == "promote" and g["failed"] == []
    assert [c["status"] for c in g["checks"]] == ["pass"] * 5
    assert g["summary"] == "promoted: all 5 applicable checks passed"
    assert by_name(g)["mae_raw vs promoted"]["reason"] == (
        "mae_raw 20.00 vs 21.15 for the promoted model: -1.15 (may be worse by at most 0.00)")
    assert by_name(g)["mae_raw_nostalgia"]["reason"] == (
        "mae_raw_nostalgia 11.00 vs 12.40 for the previous cycle's best: -1.40 (must improve by more than 0.00)")


@pytest.mark.parametrize("rate, status", [(0.97, "fail"), (0.98, "pass"), (49 / 50, "pass"), (0.9799, "fail")])
def test_json_valid_rate_threshold(rate, status):
    cand = metrics(20.00, json_valid=rate, acousticness=16.00, nostalgia=11.00)
    g = gate(cand)
    check = g["checks"][0]
    assert check["check"] == "json_valid_rate" and check["status"] == status
    assert check["reference"] == 0.98 and check["threshold"] == ">= 0.98"
    assert g["passed"] is (status == "pass")
    if status == "fail" and rate == 0.97:
        assert g["failed"] == ["json_valid_rate 0.97 vs minimum 0.98: -0.01 (must be at least 0.98)"]
        assert g["summary"] == "refused: 1 of 4 applicable checks failed (json_valid_rate 0.97)"


def test_cycle_one_has_no_focus_check_and_nothing_promoted():
    g = gate(CYCLE1, previous_best=None, promoted=None)
    assert [(c["check"], c["status"]) for c in g["checks"]] == [
        ("json_valid_rate", "pass"), ("focus dimensions", "n/a"), ("mae_raw vs promoted", "n/a"),
        ("mae_raw vs best baseline", "n/a")]
    rows = by_name(g)
    assert "no previous cycle" in rows["focus dimensions"]["reason"]
    assert "nothing is promoted yet" in rows["mae_raw vs promoted"]["reason"]
    assert g["passed"] is True and g["summary"] == "promoted: all 1 applicable checks passed (3 n/a)"


def test_no_focus_facets_is_one_na_row():
    g = gate(focus_facets=[], candidate=metrics(21.0))
    focus = by_name(g)["focus dimensions"]
    assert focus["status"] == "n/a" and "no focus dimensions" in focus["reason"]
    assert g["passed"] is True


def test_missing_focus_values():
    prev = metrics(21.15, acousticness=None, nostalgia=12.40)
    cand = metrics(21.00, acousticness=10.0, nostalgia=None)
    g = gate(cand, previous_best=prev)
    rows = by_name(g)
    assert rows["mae_raw_acousticness"]["status"] == "n/a"
    assert rows["mae_raw_nostalgia"]["status"] == "fail" and rows["mae_raw_nostalgia"]["value"] is None
    assert g["failed"] == ["the candidate had no valid output, so there is no mae_raw_nostalgia "
                           "(previous cycle's best 12.40)"]


def test_focus_improvement_must_exceed_minimum():
    cand = metrics(21.0, acousticness=16.15, nostalgia=11.40)  # both exactly 1.00 better
    assert gate(cand, focus_min_improvement=0.99)["passed"] is True
    g = gate(cand, focus_min_improvement=1.0)
    assert [c["status"] for c in g["checks"][1:3]] == ["fail", "fail"]
    assert g["failed"][0] == ("mae_raw_nostalgia 11.40 vs 12.40 for the previous cycle's best: -1.00 "
                              "(must improve by more than 1.00)")
    assert g["checks"][1]["threshold"] == "< reference - 1.00"
    # Equal is not an improvement, even with no minimum.
    same = metrics(21.0, acousticness=17.15, nostalgia=12.40)
    assert [c["status"] for c in gate(same)["checks"][1:3]] == ["fail", "fail"]


def test_primary_tolerance():
    cand = metrics(24.41, acousticness=16.0, nostalgia=11.0)
    assert by_name(gate(cand, primary_tolerance=3.25))["mae_raw vs promoted"]["status"] == "fail"
    ok = by_name(gate(cand, primary_tolerance=3.26))["mae_raw vs promoted"]  # 21.15 + 3.26: on the boundary
    assert ok["status"] == "pass" and ok["threshold"] == "<= reference + 3.26"
    assert ok["reason"] == "mae_raw 24.41 vs 21.15 for the promoted model: +3.26 (may be worse by at most 3.26)"
    g = gate(cand, prompt_baseline=metrics(20.37), primary_tolerance=4.04)
    assert g["passed"] is True


def test_candidate_none():
    g = gate(None)
    assert g["passed"] is False and g["verdict"] == "refuse"
    assert g["checks"] == [{"check": "finished trial", "status": "fail", "value": None, "reference": None,
                            "threshold": "a finished trial", "reason": "no trial of this cycle finished"}]
    assert g["failed"] == ["no trial of this cycle finished"]
    assert g["summary"] == "refused: no trial of this cycle finished"


def test_candidate_without_valid_json_fails():
    cand = {"eval/json_valid_rate": 0.0, "eval/mae_raw": None}
    g = gate(cand)
    assert [c["status"] for c in g["checks"]] == ["fail", "fail", "fail", "fail", "n/a"]
    assert g["verdict"] == "refuse"


def test_unknown_focus_facet_raises():
    with pytest.raises(ValueError, match="tempo"):
        gate(focus_facets=["tempo"])


def test_markdown_table():
    md = gate_table_markdown(gate())
    lines = md.strip().split("\n")
    assert lines[0] == "| check | status | value | reference | threshold | reason |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert len(lines) == 2 + 5
    assert lines[4] == ("| mae_raw_acousticness | fail | 30.20 | 17.15 | < reference - 0.00 | mae_raw_acousticness "
                        "30.20 vs 17.15 for the previous cycle's best: +13.05 (must improve by more than 0.00) |")
    assert lines[6] == ("| mae_raw vs best baseline | n/a | 24.41 | — | <= reference + 0.00 | no baseline "
                        "(prompt_baseline) had a valid output, so there is no mae_raw to compare |")
    none_md = gate_table_markdown(gate(None)).strip().split("\n")
    assert none_md[2] == "| finished trial | fail | — | — | a finished trial | no trial of this cycle finished |"


def test_a_model_that_loses_to_the_keyword_rules_is_refused():
    """The old pipeline's fine-tuned model lost to its rule baseline (26.13 vs 19.08; DESIGN.md)."""
    baselines = {"mean_baseline": metrics(30.0), "rule_baseline": metrics(19.08), "prompt_baseline": PROMPT_NO_JSON}
    g = gate(metrics(26.13), previous_best=None, promoted=None, baselines=baselines)
    check = by_name(g)["mae_raw vs best baseline (rule_baseline)"]
    assert check["status"] == "fail" and check["reference"] == 19.08
    assert g["passed"] is False and g["summary"].endswith("(mae_raw vs best baseline (rule_baseline) +7.05)")


def test_best_baseline_follows_the_direction():
    accuracy = TaskSpec(kind="mcq", facets=("math", "law"), facet_kind="subject", facet_error="error_{facet}",
                        primary="accuracy", mode="max", valid_rate="valid_rate")
    baselines = {"random": {"eval/accuracy": 0.25}, "majority": {"eval/accuracy": 0.31}, "none": {"eval/accuracy": None}}
    assert best_baseline(baselines, accuracy)[0] == "majority"
    assert best_baseline(baselines, SPEC) is None  # no eval/mae_raw anywhere
    g = evaluate_gate({"eval/valid_rate": 1.0, "eval/accuracy": 0.30}, spec=accuracy, focus_facets=[],
                      previous_best=None, promoted={"eval/accuracy": 0.28}, baselines=baselines)
    assert [(c["check"], c["status"]) for c in g["checks"]] == [
        ("valid_rate", "pass"), ("focus subjects", "n/a"), ("accuracy vs promoted", "pass"),
        ("accuracy vs best baseline (majority)", "fail")]
    assert g["checks"][3]["threshold"] == ">= reference - 0.00"


# ---------------------------------------------------------------- paired statistics


def _table(primary, **facets):
    return {"primary": list(primary), "facets": {f: list(v) for f, v in facets.items()}}


def _paired_case():
    """20 eval rows. Nostalgia improves by 3 on every row; acousticness by 0.3 on average, as noise;
    the primary metric is 0.2 worse than the promoted model's on average, as noise."""
    noise = [(-1) ** i * 2.0 for i in range(20)]
    prev = _table([21.0] * 20, nostalgia=[12.0] * 20, acousticness=[17.0] * 20)
    cand = _table([21.2 + n for n in noise], nostalgia=[9.0 + 0.1 * (i % 3) for i in range(20)],
                  acousticness=[16.7 + n for n in noise])
    return {"candidate": cand, "previous_best": prev, "promoted": prev, "baselines": {}}


def test_paired_gate_tells_an_improvement_from_noise():
    cand = metrics(21.2, acousticness=16.7, nostalgia=9.1)
    g = gate(cand, primary_tolerance=0.0, paired=_paired_case(), seed=3)
    rows = by_name(g)
    assert rows["mae_raw_nostalgia"]["status"] == "pass" and rows["mae_raw_nostalgia"]["interval"]["high"] < 0
    acoustic = rows["mae_raw_acousticness"]
    assert acoustic["status"] == "fail" and acoustic["interval"]["low"] < 0 < acoustic["interval"]["high"]
    assert "must improve beyond the noise" in acoustic["reason"] and "Wilcoxon" in acoustic["reason"]
    promoted = rows["mae_raw vs promoted"]
    assert promoted["status"] == "pass" and promoted["interval"]["diff"] == pytest.approx(0.2)
    assert "may not be significantly worse" in promoted["reason"]
    assert g["summary"].startswith("refused: 1 of ") and "mae_raw_acousticness -0.30 [" in g["summary"]


def test_statistics_none_keeps_the_old_rule_and_still_shows_the_interval():
    cand = metrics(21.2, acousticness=16.7, nostalgia=9.1)
    g = gate(cand, paired=_paired_case(), statistics="none")
    rows = by_name(g)
    assert rows["mae_raw_acousticness"]["status"] == "pass"  # 16.70 < 17.15: better by more than 0.00
    assert rows["mae_raw vs promoted"]["status"] == "fail"  # 21.20 vs 21.15: worse by 0.05, which the old rule refuses
    assert "interval" in rows["mae_raw_acousticness"] and "% interval [" in rows["mae_raw_acousticness"]["reason"]


def test_without_per_row_outputs_the_metric_rule_decides():
    g = gate(metrics(20.0, acousticness=16.0, nostalgia=11.0), prompt_baseline=metrics(20.37), paired=None)
    assert g["passed"] is True and not any("interval" in c for c in g["checks"])
