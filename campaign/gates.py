"""The promotion gate: may this cycle's best trial replace the promoted model?

Every number is measured on the frozen eval set (``eval/...`` metrics). The
cycle's best trial (the candidate) is promoted only if no check fails:

1. ``json_valid_rate``: its share of valid JSON outputs is at least
   ``min_json_valid_rate`` (default 0.98).
2. ``mae_raw_<dim>``, one per focus dimension: it must IMPROVE on the previous
   cycle's best trial, i.e. be lower by more than ``focus_min_improvement``
   (default 0.00). Cycle 1 has no previous cycle, so this is not applicable.
3. ``mae_raw vs promoted``: its overall mae_raw is at most the promoted model's
   plus ``mae_tolerance`` (default 0.00). Not applicable while nothing is promoted.
4. ``mae_raw vs prompt_baseline``: its overall mae_raw is at most the un-tuned
   base model's plus ``mae_tolerance``. Not applicable when the base model
   produced no valid JSON (it then has no mae_raw).

A check that is not applicable ("n/a") never blocks promotion. A candidate
value that is missing because it produced no valid JSON fails its check.
If no trial of the cycle finished there is no candidate and nothing is promoted.
Comparisons allow 1e-9 of float rounding, so 0.98 passes a 0.98 threshold.

Pure: plain dicts in, plain JSON-serialisable dicts out; no Ray, Optuna or torch.
"""
from __future__ import annotations

import math

from campaign.schema import DIMS

__all__ = ["evaluate_gate", "gate_table_markdown"]

_EPS = 1e-9  # float rounding allowance: a value on the threshold counts as on it


def _get(metrics: dict | None, key: str) -> float | None:
    v = (metrics or {}).get(key)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _delta(x: float) -> str:
    # A delta that rounds to zero prints as +0.00, never -0.00.
    return f"{0.0 if abs(x) < 0.005 else x:+.2f}"


def _check(name, status, value, reference, threshold, reason, short=None) -> dict:
    # ``short`` feeds the summary line only; it is dropped from the returned check.
    return {"check": name, "status": status, "value": value, "reference": reference,
            "threshold": threshold, "reason": reason, "_short": short or name}


def _json_check(candidate: dict, minimum: float) -> dict:
    v = _get(candidate, "eval/json_valid_rate")
    if v is None:
        return _check("json_valid_rate", "fail", None, minimum, f">= {minimum:.2f}",
                      "the candidate reported no json_valid_rate")
    status = "pass" if v >= minimum - _EPS else "fail"
    return _check("json_valid_rate", status, v, minimum, f">= {minimum:.2f}",
                  f"json_valid_rate {v:.2f} vs minimum {minimum:.2f}: {_delta(v - minimum)} "
                  f"(must be at least {minimum:.2f})", short=f"json_valid_rate {v:.2f}")


def _focus_checks(candidate: dict, previous_best: dict | None, focus_dims: list[str], min_imp: float) -> list:
    if previous_best is None or not focus_dims:
        why = ("there is no previous cycle (cycle 1), so there is no previous best to improve on"
               if previous_best is None else "no focus dimensions were chosen for this cycle")
        return [_check("focus dimensions", "n/a", None, None, f"< reference - {min_imp:.2f}", why)]
    out = []
    for dim in focus_dims:
        name, key, thr = f"mae_raw_{dim}", f"eval/mae_raw_{dim}", f"< reference - {min_imp:.2f}"
        v, ref = _get(candidate, key), _get(previous_best, key)
        if ref is None:
            out.append(_check(name, "n/a", v, None, thr, f"the previous cycle's best produced no valid JSON, "
                              f"so there is no {name} to improve on"))
        elif v is None:
            out.append(_check(name, "fail", None, ref, thr, f"the candidate produced no valid JSON, so there is "
                              f"no {name} (previous cycle's best {ref:.2f})", short=f"{name} missing"))
        else:
            status = "pass" if v - ref < -min_imp - _EPS else "fail"
            out.append(_check(name, status, v, ref, thr, f"{name} {v:.2f} vs {ref:.2f} for the previous cycle's "
                              f"best: {_delta(v - ref)} (must improve by more than {min_imp:.2f})",
                              short=f"{name} {_delta(v - ref)}"))
    return out


def _mae_check(candidate: dict, other: dict | None, label: str, what: str, tol: float, absent: str) -> dict:
    name, thr = f"mae_raw vs {label}", f"<= reference + {tol:.2f}"
    v, ref = _get(candidate, "eval/mae_raw"), _get(other, "eval/mae_raw")
    if other is None:
        return _check(name, "n/a", v, None, thr, absent)
    if ref is None:
        rate = _get(other, "eval/json_valid_rate") or 0.0
        return _check(name, "n/a", v, None, thr, f"{label} produced no valid JSON (json_valid_rate "
                      f"{rate:.2f}), so there is no mae_raw to compare")
    if v is None:
        return _check(name, "fail", None, ref, thr, f"the candidate produced no valid JSON, so there is no "
                      f"mae_raw to compare with {what}'s {ref:.2f}", short=f"{name} missing")
    status = "pass" if v <= ref + tol + _EPS else "fail"
    return _check(name, status, v, ref, thr, f"mae_raw {v:.2f} vs {ref:.2f} for {what}: {_delta(v - ref)} "
                  f"(may be worse by at most {tol:.2f})", short=f"{name} {_delta(v - ref)}")


def evaluate_gate(candidate: dict | None, *, focus_dims: list[str], previous_best: dict | None,
                  promoted: dict | None, prompt_baseline: dict | None,
                  min_json_valid_rate: float = 0.98, focus_min_improvement: float = 0.0,
                  mae_tolerance: float = 0.0) -> dict:
    """Run the gate's checks on the candidate's frozen-eval metrics; see the module docstring for the rule."""
    unknown = [d for d in focus_dims if d not in DIMS]
    if unknown:
        raise ValueError(f"focus_dims: unknown dimension(s) {unknown}; choose from {list(DIMS)}")
    if candidate is None:
        checks = [_check("finished trial", "fail", None, None, "a finished trial", "no trial of this cycle finished")]
    else:
        checks = [_json_check(candidate, min_json_valid_rate),
                  *_focus_checks(candidate, previous_best, list(focus_dims), focus_min_improvement),
                  _mae_check(candidate, promoted, "promoted", "the promoted model", mae_tolerance,
                             "nothing is promoted yet, so there is no promoted model to compare with"),
                  _mae_check(candidate, prompt_baseline, "prompt_baseline", "the prompt_baseline", mae_tolerance,
                             "no prompt_baseline metrics were given, so there is no mae_raw to compare")]
    failed = [c for c in checks if c["status"] == "fail"]
    applicable = [c for c in checks if c["status"] != "n/a"]
    n_na = len(checks) - len(applicable)
    if candidate is None:
        summary = "refused: no trial of this cycle finished"
    elif failed:
        shorts = ", ".join(c["_short"] for c in failed)
        summary = f"refused: {len(failed)} of {len(applicable)} applicable checks failed ({shorts})"
    else:
        summary = f"promoted: all {len(applicable)} applicable checks passed" + (f" ({n_na} n/a)" if n_na else "")
    for c in checks:
        del c["_short"]
    return {"passed": not failed, "verdict": "refuse" if failed else "promote", "checks": checks,
            "failed": [c["reason"] for c in failed], "summary": summary}


def gate_table_markdown(gate: dict) -> str:
    """The gate's checks as a Markdown table (numbers with 2 decimals, missing as —)."""
    rows = ["| check | status | value | reference | threshold | reason |", "|---|---|---|---|---|---|"]
    for c in gate["checks"]:
        cells = [c["check"], c["status"], _f(c["value"]), _f(c["reference"]), c["threshold"], c["reason"]]
        rows.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return "\n".join(rows) + "\n"
