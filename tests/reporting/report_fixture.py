"""A hand-built, realistic 2-cycle campaign view for the report tests.

Cycle 1: six finished trials, baselines (prompt_baseline produced no valid JSON), gate promotes.
Cycle 2 (focus nostalgia, acousticness): six trials, one ERROR, acousticness and mae_raw regress,
gate refuses. Requests include HTML-breaking text and Japanese. The best trials' numbers are
chosen so the focus table has exact expected strings (see FOCUS_EXPECTED).
"""
from __future__ import annotations

import copy
import json

__all__ = ["DIMS", "SCRIPT_REQUEST", "JAPANESE_REQUEST", "FOCUS_EXPECTED", "example_view",
           "view_with_unfinished_cycle", "empty_view"]

DIMS = ["energy", "warmth", "brightness", "acousticness", "complexity", "nostalgia"]
SCRIPT_REQUEST = 'upbeat <script>alert(1)</script> & "quotes" song'
JAPANESE_REQUEST = "雨の日曜の朝に聴く、懐かしいアコースティック曲"

# Best trials' eval mae_raw per dim; each overall mae_raw is the mean of its six dims.
_BEST_1 = dict(zip(DIMS, [10.50, 6.20, 5.90, 7.16, 5.47, 5.09]))   # mean 6.72
_BEST_2 = dict(zip(DIMS, [10.20, 6.90, 6.50, 9.87, 5.77, 4.62]))   # mean 7.31
# (row label, cycle 1, cycle 2, delta) exactly as the focus table prints them.
FOCUS_EXPECTED = [("mae_raw (overall)", "6.72", "7.31", "+0.59"),
                  ("acousticness", "7.16", "9.87", "+2.71"),
                  ("nostalgia", "5.09", "4.62", "−0.47")]


def _metrics(eval_dims: dict, scale: float, wall: float) -> dict:
    """A finished trial's metrics: eval dims × scale, valid dims a little lower, objective = valid mae_raw."""
    ev = {d: round(v * scale, 2) for d, v in eval_dims.items()}
    va = {d: round(v * 0.96, 2) for d, v in ev.items()}
    m = {"valid/json_valid_rate": 1.0, "eval/json_valid_rate": 1.0, "time_total_s": wall}
    m.update({f"valid/mae_raw_{d}": v for d, v in va.items()})
    m.update({f"eval/mae_raw_{d}": v for d, v in ev.items()})
    m["valid/mae_raw"] = m["valid/objective"] = round(sum(va.values()) / 6, 4)
    m["eval/mae_raw"] = round(sum(ev.values()) / 6, 4)
    return m


def _trial(n: int, tid: str, lr: float, epochs: int, add: float, replay: float, metrics: dict,
           state: str = "TERMINATED", error: str | None = None) -> dict:
    return {"trial": n, "trial_id": tid, "state": state, "error": error, "metrics": metrics,
            "config": {"train.lr": lr, "train.epochs": epochs, "train.add_ratio": add, "train.replay_ratio": replay}}


def _baselines() -> list[dict]:
    mean = {"eval/json_valid_rate": 1.0, "eval/mae_raw": 13.58,
            **{f"eval/mae_raw_{d}": v for d, v in zip(DIMS, [21.31, 12.53, 13.9, 17.83, 7.09, 8.81])}}
    rule = {"eval/json_valid_rate": 1.0, "eval/mae_raw": 8.67,
            **{f"eval/mae_raw_{d}": v for d, v in zip(DIMS, [8.87, 10.06, 10.57, 8.21, 4.24, 10.09])}}
    prompt = {"eval/json_valid_rate": 0.0, "eval/mae_raw": None, **{f"eval/mae_raw_{d}": None for d in DIMS}}
    return [{"mode": "mean_baseline", "metrics": mean}, {"mode": "rule_baseline", "metrics": rule},
            {"mode": "prompt_baseline", "metrics": prompt}]


def _case(cid, request, target, prediction, error, output=None, reason=None) -> dict:
    t = dict(zip(DIMS, target))
    p = None if prediction is None else dict(zip(DIMS, prediction))
    return {"id": cid, "request": request, "target": t, "prediction": p, "error": error,
            "output": output if output is not None else json.dumps(p), "invalid_reason": reason}


def _hard_cases(shift: int) -> dict:
    ev = [_case("r0012", "quiet acoustic song, not too nostalgic", [20, 55, 40, 90, 30, 35],
                [45, 50, 52, 48, 47, 60 + shift], 23.5 + shift),
          _case("r0031", SCRIPT_REQUEST, [85, 40, 80, 10, 45, 15], [60, 48, 70, 35, 50, 40], 18.17),
          _case("r0047", JAPANESE_REQUEST, [25, 70, 35, 95, 40, 90], [40, 62, 50, 60, 45, 62 - shift], 16.33),
          _case("r0058", "an upbeat neon-city synth track, not too complex", [80, 35, 85, 5, 30, 30], None, None,
                output='{"energy": 80, "warmth": 35, "brightness',
                reason="broken JSON: unterminated string at char 38")]
    return {"eval": ev, "valid": ev[:2]}


def _cycle1() -> dict:
    trials = [_trial(1, "77086a76", 0.003, 8, 0.1, 0.03, _metrics(_BEST_1, 1.152, 80.2)),
              _trial(2, "095a7bd7", 0.00242, 6, 0.127, 0.0646, _metrics(_BEST_1, 1.03, 77.4)),
              _trial(3, "1b92628f", 0.00111, 8, 0.293, 0.0527, _metrics(_BEST_1, 1.012, 91.0)),
              _trial(4, "61570112", 0.00202, 8, 0.238, 0.0529, _metrics(_BEST_1, 1.0, 88.6)),
              _trial(5, "3e226772", 0.00105, 6, 0.116, 0.0328, _metrics(_BEST_1, 1.107, 75.9)),
              _trial(6, "ab803a9a", 0.00325, 6, 0.170, 0.0821, _metrics(_BEST_1, 1.21, 76.3))]
    trials[3]["metrics"]["valid/objective"] = 6.0  # the searcher's pick: best on valid, not on eval
    checks = [
        {"check": "json_valid_rate", "status": "pass", "value": 1.0, "reference": None, "threshold": ">= 0.98",
         "reason": "100% of eval outputs are valid JSON"},
        {"check": "focus_dims_improve", "status": "n/a", "value": None, "reference": None, "threshold": "< previous",
         "reason": "cycle 1 has no focus dimensions"},
        {"check": "mae_vs_promoted", "status": "n/a", "value": 6.72, "reference": None, "threshold": "<= promoted",
         "reason": "nothing promoted yet"},
        {"check": "mae_vs_prompt_baseline", "status": "pass", "value": 6.72, "reference": None,
         "threshold": "<= prompt_baseline", "reason": "prompt_baseline produced no valid JSON"},
        {"check": "mae_vs_rule_baseline", "status": "pass", "value": 6.72, "reference": 8.67,
         "threshold": "<= rule_baseline", "reason": "6.72 <= 8.67"}]
    return {"cycle": 1, "status": "done", "focus_facets": [], "data_version": "v1",
            "data_summary": "450 train rows; pools of up to 135 generated and 45 replayed rows",
            "seeding": "cycle 1: trial 1 is the config's own point, then TPE",
            "snapshot": {"best_trial": "61570112", "metric": "valid/objective", "mode": "min",
                         "eval_set": {"rows": 70, "sha256": "4957df773d85c857"}, "trials": trials,
                         "baselines": _baselines(), "hard_cases": _hard_cases(0)},
            "hard_facets": {"hard_facets": ["nostalgia", "acousticness"],
                          "per_facet_error": dict(zip(DIMS, [9.1, 6.0, 5.7, 7.4, 5.3, 7.9])),
                          "reason": "largest mean valid mae_raw_<dim> over the 3 best finished trials by "
                                    "valid/objective: nostalgia 7.90, acousticness 7.40", "forced": False},
            "gate": {"passed": True, "verdict": "promote", "checks": checks, "failed": [],
                     "summary": "promoted: 3 checks passed, 2 n/a"}}


_TRACEBACK = ("Traceback (most recent call last):\n  File \"trainables/qlora.py\", line 88, in train\n"
              "    model = get_peft_model(model, lora)\n"
              "ValueError: Target modules {'q_proj', 'v_proj'} not found in the base model. "
              "Please check the target modules and try again.")


def _cycle2() -> dict:
    trials = [_trial(1, "5d0c1e2a", 0.00202, 8, 0.238, 0.0529, _metrics(_BEST_2, 1.0, 95.1)),
              _trial(2, "9f3b7c40", 0.00180, 8, 0.210, 0.0480, _metrics(_BEST_2, 1.045, 96.8)),
              _trial(3, "c2a81f77", 0.00240, 7, 0.260, 0.0600, {"time_total_s": 12.4}, "ERROR", _TRACEBACK),
              _trial(4, "e7d94b13", 0.00150, 8, 0.190, 0.0450, _metrics(_BEST_2, 1.08, 99.0)),
              _trial(5, "0a6e52d9", 0.00220, 6, 0.280, 0.0700, _metrics(_BEST_2, 1.12, 81.7)),
              _trial(6, "b4f0c8e1", 0.00195, 8, 0.225, 0.0510, _metrics(_BEST_2, 1.02, 94.2))]
    trials[0]["metrics"]["valid/objective"] = 6.1
    checks = [
        {"check": "json_valid_rate", "status": "pass", "value": 1.0, "reference": None, "threshold": ">= 0.98",
         "reason": "100% of eval outputs are valid JSON"},
        {"check": "focus_nostalgia", "status": "pass", "value": 4.62, "reference": 5.09, "threshold": "< previous",
         "reason": "nostalgia improved by 0.47"},
        {"check": "focus_acousticness", "status": "fail", "value": 9.87, "reference": 7.16,
         "threshold": "< previous", "reason": "acousticness got worse by 2.71 (augmentation overshot?)"},
        {"check": "mae_vs_promoted", "status": "fail", "value": 7.31, "reference": 6.72, "threshold": "<= promoted",
         "reason": "mae_raw 7.31 is worse than the promoted model's 6.72"},
        {"check": "mae_vs_prompt_baseline", "status": "pass", "value": 7.31, "reference": None,
         "threshold": "<= prompt_baseline", "reason": "prompt_baseline produced no valid JSON"},
        {"check": "mae_vs_rule_baseline", "status": "pass", "value": 7.31, "reference": 8.67,
         "threshold": "<= rule_baseline", "reason": "7.31 <= 8.67"}]
    return {"cycle": 2, "status": "done", "focus_facets": ["nostalgia", "acousticness"], "data_version": "v2",
            "data_summary": "450 base + 107 generated (nostalgia, acousticness) + 24 replayed = 581 train rows",
            "seeding": "cycle 2: cycle 1's 3 best configs first, ranges narrowed, same Optuna study",
            "snapshot": {"best_trial": "5d0c1e2a", "metric": "valid/objective", "mode": "min",
                         "eval_set": {"rows": 70, "sha256": "4957df773d85c857"}, "trials": trials,
                         "baselines": _baselines(), "hard_cases": _hard_cases(5)},
            "hard_facets": {"hard_facets": ["acousticness", "energy"],
                          "per_facet_error": dict(zip(DIMS, [9.6, 6.5, 6.1, 9.4, 5.5, 4.4])),
                          "reason": "forced by the campaign config: hard_dims = [acousticness, energy]",
                          "forced": True},
            "gate": {"passed": False, "verdict": "refuse", "checks": checks,
                     "failed": ["focus_acousticness", "mae_vs_promoted"],
                     "summary": "refused: 2 of 6 checks failed (focus_acousticness, mae_vs_promoted)"},
            "effects": _effects()}


def _iv(diff: float, half: float, p: float) -> dict:
    return {"n": 70, "reference": 7.0, "candidate": 7.0 + diff, "diff": diff, "low": diff - half, "high": diff + half,
            "confidence": 0.95, "p_value": p, "test": "Wilcoxon signed-rank"}


def _effects() -> dict:
    """Cycle 2's split: a re-run moves little, the focused rows cut nostalgia, the search adds noise."""
    steps = [("noise", "previous_best", "control", 4, 1, _iv(0.21, 0.6, 0.48), _iv(0.4, 1.1, 0.5), _iv(-0.3, 1.2, 0.6)),
             ("data", "control", "data_trial", 1, 2, _iv(-0.35, 0.5, 0.2), _iv(-1.9, 0.9, 0.004), _iv(-0.6, 1.0, 0.3)),
             ("search", "data_trial", "best", 2, 5, _iv(0.73, 0.7, 0.06), _iv(0.2, 0.8, 0.7), _iv(1.3, 1.1, 0.04))]
    out = [{"step": n, "reference": r, "candidate": c, "what": n, "reference_trial": rt, "candidate_trial": ct,
            "primary": pr, "facets": {"nostalgia": f1, "acousticness": f2}}
           for n, r, c, rt, ct, pr, f1, f2 in steps]
    out.append({"step": "total", "reference": "previous_best", "candidate": "best", "what": "total",
                "reference_trial": 4, "candidate_trial": 5, "missing": "no eval outputs for previous_best"})
    return {"focus_facets": ["nostalgia", "acousticness"], "confidence": 0.95, "steps": out}


def example_view() -> dict:
    """The realistic two-cycle view; cycle 1's best trial is promoted."""
    return {"campaign": "default", "generated": "2026-11-22T10:00:00Z", "metric": "valid/objective",
            "mode": "min", "dims": list(DIMS), "cycles": [_cycle1(), _cycle2()],
            "promoted": {"cycle": 1, "trial": 4, "trial_id": "61570112", "data_version": "v1",
                         "metrics": {"eval/json_valid_rate": 1.0, "eval/mae_raw": 6.72,
                                     **{f"eval/mae_raw_{d}": v for d, v in _BEST_1.items()}}}}


def view_with_unfinished_cycle(status: str = "planned") -> dict:
    """The example plus a cycle 3 that has not finished: no snapshot, no hard dims, no gate."""
    view = copy.deepcopy(example_view())
    view["cycles"].append({"cycle": 3, "status": status, "focus_facets": ["acousticness", "energy"],
                           "data_version": "v3", "data_summary": None, "seeding": None,
                           "snapshot": None, "hard_facets": None, "gate": None})
    return view


def empty_view() -> dict:
    """A campaign that has not run a single cycle."""
    return {"campaign": "fresh", "generated": "2026-11-22T09:00:00Z", "metric": "valid/objective",
            "mode": "min", "dims": list(DIMS), "cycles": [], "promoted": None}
