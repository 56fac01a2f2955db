"""The promotion gate: may this cycle's best trial replace the promoted model?

Every number is measured on the frozen eval set (``eval/...`` metrics), and every
name comes from the task's :class:`~campaign.tasks.base.TaskSpec`: its valid rate,
its facet errors and its primary metric with its direction. The cycle's best
trial (the candidate) is promoted only if no check fails:

1. ``<valid_rate>`` (``json_valid_rate`` for the flagship): the share of outputs
   that parse is at least ``min_valid_rate`` (default 0.98).
2. One check per focus facet (``mae_raw_<dim>`` for the flagship): its error must
   IMPROVE on the previous cycle's best trial, i.e. be lower by more than
   ``focus_min_improvement`` (default 0.00). Cycle 1 has no previous cycle, so
   this is not applicable.
3. ``<primary> vs promoted``: the primary metric is no worse than the promoted
   model's, in the task's direction, beyond ``primary_tolerance`` (default
   0.00). Not applicable while nothing is promoted.
4. ``<primary> vs best baseline``: the same against the best of all baselines
   (model-free ones such as keyword rules, and the un-tuned base model). A
   fine-tuned model that loses to keyword rules is not promoted. Baselines
   without a value (no valid output) are left out; with none left, n/a.

**Statistics** (``statistics="paired"``, the default when per-row outputs are given): checks 2–4
compare the two models row by row on the frozen eval set (``campaign.decide.paired``: a seeded
bootstrap interval of the mean per-row difference and a paired p-value). A focus facet passes
only when the whole interval lies below ``-focus_min_improvement`` (an improvement beyond the
noise); the primary metric fails only when the whole interval lies above ``primary_tolerance``
(significantly worse). The per-row primary error counts an invalid output as the task's
``invalid_error``. With ``statistics="none"`` the rules above decide on the metric values, and
the interval is still computed and shown. Every check carries its ``interval`` where one exists.

A check that is not applicable ("n/a") never blocks promotion. A candidate
value that is missing because no output was valid fails its check.
If no trial of the cycle finished there is no candidate and nothing is promoted.
Comparisons allow 1e-9 of float rounding, so 0.98 passes a 0.98 threshold.

Pure: plain dicts and the task's spec in, plain JSON-serialisable dicts out;
no Ray, Optuna or torch.
"""
from __future__ import annotations

import math

from campaign.decide.paired import compare
from campaign.tasks.base import TaskSpec

__all__ = ["evaluate_gate", "best_baseline", "gate_table_markdown"]

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


def _valid_check(candidate: dict, spec: TaskSpec, minimum: float) -> dict:
    name = spec.valid_rate
    v = _get(candidate, f"eval/{name}")
    if v is None:
        return _check(name, "fail", None, minimum, f">= {minimum:.2f}", f"the candidate reported no {name}")
    status = "pass" if v >= minimum - _EPS else "fail"
    return _check(name, status, v, minimum, f">= {minimum:.2f}",
                  f"{name} {v:.2f} vs minimum {minimum:.2f}: {_delta(v - minimum)} "
                  f"(must be at least {minimum:.2f})", short=f"{name} {v:.2f}")


def _focus_checks(candidate: dict, previous_best: dict | None, spec: TaskSpec, focus: list[str],
                  min_imp: float) -> list:
    if previous_best is None or not focus:
        why = ("there is no previous cycle (cycle 1), so there is no previous best to improve on"
               if previous_best is None else f"no focus {spec.facets_word} were chosen for this cycle")
        return [_check(f"focus {spec.facets_word}", "n/a", None, None, f"< reference - {min_imp:.2f}", why)]
    out = []
    for facet in focus:
        name, key, thr = spec.facet_key(facet), spec.facet_key(facet, "eval"), f"< reference - {min_imp:.2f}"
        v, ref = _get(candidate, key), _get(previous_best, key)
        if ref is None:
            out.append(_check(name, "n/a", v, None, thr, f"the previous cycle's best had no valid output, "
                              f"so there is no {name} to improve on"))
        elif v is None:
            out.append(_check(name, "fail", None, ref, thr, f"the candidate had no valid output, so there is "
                              f"no {name} (previous cycle's best {ref:.2f})", short=f"{name} missing"))
        else:
            status = "pass" if v - ref < -min_imp - _EPS else "fail"
            out.append(_check(name, status, v, ref, thr, f"{name} {v:.2f} vs {ref:.2f} for the previous cycle's "
                              f"best: {_delta(v - ref)} (must improve by more than {min_imp:.2f})",
                              short=f"{name} {_delta(v - ref)}"))
    return out


def _no_worse(v: float, ref: float, spec: TaskSpec, tol: float) -> bool:
    return v <= ref + tol + _EPS if spec.mode == "min" else v >= ref - tol - _EPS


def _primary_check(candidate: dict, other: dict | None, spec: TaskSpec, label: str, what: str, tol: float,
                   absent: str) -> dict:
    p = spec.primary
    sign = "<=" if spec.mode == "min" else ">="
    name, thr = f"{p} vs {label}", f"{sign} reference {'+' if spec.mode == 'min' else '-'} {tol:.2f}"
    v, ref = _get(candidate, f"eval/{p}"), _get(other, f"eval/{p}")
    if other is None:
        return _check(name, "n/a", v, None, thr, absent)
    if ref is None:
        rate = _get(other, f"eval/{spec.valid_rate}") or 0.0
        return _check(name, "n/a", v, None, thr, f"{what} had no valid output ({spec.valid_rate} "
                      f"{rate:.2f}), so there is no {p} to compare")
    if v is None:
        return _check(name, "fail", None, ref, thr, f"the candidate had no valid output, so there is no "
                      f"{p} to compare with {what}'s {ref:.2f}", short=f"{name} missing")
    status = "pass" if _no_worse(v, ref, spec, tol) else "fail"
    return _check(name, status, v, ref, thr, f"{p} {v:.2f} vs {ref:.2f} for {what}: {_delta(v - ref)} "
                  f"(may be worse by at most {tol:.2f})", short=f"{name} {_delta(v - ref)}")


def best_baseline(baselines: dict[str, dict | None], spec: TaskSpec) -> tuple[str, dict] | None:
    """The baseline with the best primary metric in the task's direction (None when none has one)."""
    scored = [(name, m) for name, m in (baselines or {}).items() if _get(m, f"eval/{spec.primary}") is not None]
    if not scored:
        return None
    sign = 1 if spec.mode == "min" else -1
    return min(scored, key=lambda nm: (sign * _get(nm[1], f"eval/{spec.primary}"), nm[0]))


def _baseline_check(candidate: dict, baselines: dict[str, dict | None], spec: TaskSpec, tol: float) -> dict:
    best = best_baseline(baselines, spec)
    if best is None:
        why = ("no baseline metrics were given" if not baselines else
               f"no baseline ({', '.join(sorted(baselines))}) had a valid output")
        return _primary_check(candidate, None, spec, "best baseline", "the best baseline", tol,
                              f"{why}, so there is no {spec.primary} to compare")
    name, metrics = best
    return _primary_check(candidate, metrics, spec, f"best baseline ({name})", name, tol, "")


def _reference_table(check: dict, spec: TaskSpec, focus: list[str], paired: dict) -> tuple[list, list, str] | None:
    """``(reference rows, candidate rows, rule)`` for a check that compares two models, else None."""
    name, cand = check["check"], paired.get("candidate")
    if not cand:
        return None
    for facet in focus:
        if name == spec.facet_key(facet) and (paired.get("previous_best") or {}).get("facets"):
            return paired["previous_best"]["facets"][facet], cand["facets"][facet], "improve"
    other = None
    if name == f"{spec.primary} vs promoted":
        other = paired.get("promoted")
    elif name.startswith(f"{spec.primary} vs best baseline ("):
        other = (paired.get("baselines") or {}).get(name[len(f"{spec.primary} vs best baseline ("):-1])
    return (other["primary"], cand["primary"], "no worse") if other else None


def _with_interval(check: dict, spec: TaskSpec, focus: list[str], paired: dict, stats: dict) -> dict:
    """Attach the paired interval to a comparing check; in paired mode it also decides the check."""
    found = _reference_table(check, spec, focus, paired) if check["status"] != "n/a" else None
    if found is None:
        return check
    ref, cand, rule = found
    iv = compare(ref, cand, confidence=stats["confidence"], resamples=stats["resamples"], seed=stats["seed"])
    check = {**check, "interval": iv}
    band = (f"per-row difference {iv['diff']:+.2f}, {100 * iv['confidence']:.0f}% interval "
            f"[{iv['low']:+.2f}, {iv['high']:+.2f}], p={iv['p_value']:.3g} ({iv['test']}, {iv['n']} rows)")
    if stats["mode"] != "paired":
        return {**check, "reason": f"{check['reason']}; {band}"}
    if rule == "improve":
        limit = stats["focus_min_improvement"]
        status = "pass" if iv["high"] < -limit - _EPS else "fail"
        why = f"must improve beyond the noise: the whole interval below {-limit:+.2f}" if limit else \
            "must improve beyond the noise: the whole interval below 0"
    else:
        limit = stats["primary_tolerance"]
        status = "fail" if iv["low"] > limit + _EPS else "pass"
        why = f"may not be significantly worse: fails when the whole interval is above {limit:+.2f}"
    return {**check, "status": status, "threshold": f"paired {100 * iv['confidence']:.0f}% interval",
            "reason": f"{check['check']}: {band} ({why})",
            "_short": f"{check['check']} {iv['diff']:+.2f} [{iv['low']:+.2f}, {iv['high']:+.2f}]"}


def evaluate_gate(candidate: dict | None, *, spec: TaskSpec, focus_facets: list[str], previous_best: dict | None,
                  promoted: dict | None, baselines: dict[str, dict | None] | None = None,
                  min_valid_rate: float = 0.98, focus_min_improvement: float = 0.0,
                  primary_tolerance: float = 0.0, paired: dict | None = None, statistics: str = "paired",
                  confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> dict:
    """Run the gate's checks on the candidate's frozen-eval metrics; see the module docstring for the rule."""
    unknown = [f for f in focus_facets if f not in spec.facets]
    if unknown:
        raise ValueError(f"focus_facets: unknown {spec.facet_kind}(s) {unknown}; choose from {list(spec.facets)}")
    if candidate is None:
        checks = [_check("finished trial", "fail", None, None, "a finished trial", "no trial of this cycle finished")]
    else:
        checks = [_valid_check(candidate, spec, min_valid_rate),
                  *_focus_checks(candidate, previous_best, spec, list(focus_facets), focus_min_improvement),
                  _primary_check(candidate, promoted, spec, "promoted", "the promoted model", primary_tolerance,
                                 "nothing is promoted yet, so there is no promoted model to compare with"),
                  _baseline_check(candidate, baselines or {}, spec, primary_tolerance)]
        if paired:
            stats = {"mode": statistics, "confidence": confidence, "resamples": resamples, "seed": seed,
                     "focus_min_improvement": focus_min_improvement, "primary_tolerance": primary_tolerance}
            checks = [_with_interval(c, spec, list(focus_facets), paired, stats) for c in checks]
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
