"""Seeding cycle n+1's search from cycle n's trials.

The rule, in plain words:

* The configs of the ``top_k`` best finished trials of cycle n (by the search
  metric; ties broken by trial index) are evaluated first in cycle n+1.
* Each ``loguniform`` (in log10 space), ``uniform`` and ``quniform`` range is
  narrowed around those best trials: with W the width of the current range
  and [b_lo, b_hi] the span of the best trials' values, the new range is
  [b_lo - margin*W, b_hi + margin*W]. If that interval sticks out of the
  current range on one side it is moved back inside, keeping its width; if it
  is wider than the current range, the current range is kept. A ``quniform``
  range is then widened outwards onto its grid (low + n*q). The new range
  always contains every seeded point.
* ``choice`` and ``randint`` keys are kept unchanged (they are not continuous).
* Keys whose meaning changes between the cycles are never narrowed. The
  caller names them: ``drop`` leaves the previous cycle's keys out (cycle 1's
  unfocused-rows ratio), ``fresh`` adds keys searched over their full range
  (the data ratios of cycles >= 2: rows on top of the previous best's set, for
  this cycle's focus facets, so last cycle's best amount says little here).
  Seeded points take ``fresh_point``'s values for them (the config's own).
* With ``control``, the first point is the control: the best trial's values
  of the other keys and 0 for every fresh key, i.e. the previous best config
  on the previous best's own training set (with this cycle's seed).
* Every finished trial of cycle n (of any rank) whose config lies inside the
  new space (a ``quniform`` value also on its grid) is told to cycle n+1's
  Optuna study as an already-evaluated point, so the sampler starts from what
  is already known.
* If no trial of cycle n finished, the space is kept and nothing is seeded.

Pure: plain dicts in, plain JSON-serialisable dicts out; no Ray, Optuna or torch.
"""
from __future__ import annotations

import copy
import math

from campaign.decide.hard_facets import best_trials, finished

__all__ = ["seed_next_search", "optuna_point"]

CONTINUOUS = ("loguniform", "uniform", "quniform")
_TOL = 1e-12  # bounds tolerance when deciding whether a trial lies inside the new space
_GRID_TOL = 1e-9  # a value within this share of q of a grid line counts as on it


def optuna_point(config: dict) -> dict:
    """Dotted keys (``train.lr``) -> the ``train/lr`` keys OptunaSearch names parameters by."""
    return {k.replace(".", "/"): v for k, v in config.items()}


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _fit(lo: float, hi: float, low: float, high: float) -> tuple[float, float, str]:
    """Move [lo, hi] inside [low, high] keeping its width; the whole range if it is wider."""
    if hi - lo >= high - low:
        return low, high, "whole range: padded interval is not narrower than the current range"
    if lo < low:
        return low, hi + (low - lo), "narrowed, moved up to fit inside the low bound"
    if hi > high:
        return lo - (hi - high), high, "narrowed, moved down to fit inside the high bound"
    return lo, hi, "narrowed"


def _on_grid(x: float, low: float, q: float, up: bool, high: float) -> float:
    n = math.ceil((x - low) / q - _GRID_TOL) if up else math.floor((x - low) / q + _GRID_TOL)
    v = low + n * q
    v = v if isinstance(v, int) else round(v, 12)  # keep integer grids integer, drop float noise
    return min(v, high) if up else max(v, low)


def _narrow(spec: dict, values: list, margin: float) -> tuple[dict, str]:
    """The narrowed spec of one key and the rule applied to it."""
    kind, low, high = spec["type"], spec["low"], spec["high"]
    if not values or not all(_num(v) for v in values):
        return dict(spec), "kept: a best trial has no numeric value for this key"
    if min(values) < low or max(values) > high:
        return dict(spec), "kept: a best trial's value lies outside the current range"
    to, back = (math.log10, lambda x: 10 ** x) if kind == "loguniform" else (float, float)
    width = to(high) - to(low)
    lo, hi, rule = _fit(to(min(values)) - margin * width, to(max(values)) + margin * width, to(low), to(high))
    # Map back; exact original bounds where the interval touches them, and never cut a best value off.
    new_lo = low if lo <= to(low) else min(back(lo), min(values))
    new_hi = high if hi >= to(high) else max(back(hi), max(values))
    if kind == "quniform":
        new_lo, new_hi = _on_grid(new_lo, low, spec["q"], False, high), _on_grid(new_hi, low, spec["q"], True, high)
        rule += f", aligned outwards to the grid {_fmt(low)} + n*{_fmt(spec['q'])}"
    space = " (in log10 space)" if kind == "loguniform" else ""
    rule += (f"{space}: best span [{_fmt(min(values))}, {_fmt(max(values))}] padded by {_fmt(margin)} x width "
             f"-> [{_fmt(new_lo)}, {_fmt(new_hi)}]")
    return {**spec, "low": new_lo, "high": new_hi}, rule


def _inside(spec: dict, value) -> bool:
    if spec["type"] == "choice":
        return value in spec["values"]
    if not _num(value):
        return False
    if spec["type"] == "randint":
        return float(value).is_integer() and spec["low"] <= value <= spec["high"]
    if spec["type"] == "quniform":  # Optuna only accepts told values on its grid low + n*q
        k = (value - spec["low"]) / spec["q"]
        if abs(k - round(k)) >= 1e-8:
            return False
    return spec["low"] - _TOL <= value <= spec["high"] + _TOL


def _snap(spec: dict, value):
    """Clamp a value within the tolerance of a bound onto it: Optuna rejects told values a hair outside."""
    if spec["type"] in CONTINUOUS and _num(value) and spec["low"] - _TOL <= value <= spec["high"] + _TOL:
        return min(max(value, spec["low"]), spec["high"])
    return value


def _bounds(spec: dict):
    return list(spec["values"]) if spec["type"] == "choice" else [spec["low"], spec["high"]]


def _validate(mode: str, top_k: int, margin: float) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"cycles.seed_top_k: must be an integer >= 1 (got {top_k!r})")
    if not _num(margin) or not 0 < margin <= 1:
        raise ValueError(f"cycles.narrow_margin: must be in (0, 1] (got {margin!r})")
    if mode not in ("min", "max"):
        raise ValueError(f"search.mode: must be 'min' or 'max' (got {mode!r})")


def seed_next_search(space: dict[str, dict], records: list[dict], *, metric: str, mode: str,
                     top_k: int = 2, margin: float = 0.15, fresh: dict[str, dict] | None = None,
                     drop: tuple[str, ...] = (), fresh_point: dict | None = None, control: bool = False) -> dict:
    """Cycle n+1's space, seeded points and already-evaluated trials from cycle n's records (see module doc)."""
    _validate(mode, top_k, margin)
    fresh, fresh_point = dict(fresh or {}), dict(fresh_point or {})
    missing = [k for k in fresh if k not in fresh_point]
    if missing:
        raise ValueError(f"fresh keys {missing} need a value in fresh_point for the seeded points")
    if control and any(not _inside(spec, 0) for spec in fresh.values()):
        raise ValueError("the control point sets every fresh key to 0, so each fresh range must include 0")
    best = best_trials(records, metric, mode, top_k)
    old = {k: s for k, s in space.items() if k not in drop and k not in fresh}
    changed = _changed_ranges(space, fresh, drop)
    if not best:
        ranges = [{"key": k, "type": s["type"], "old": _bounds(s), "new": _bounds(s),
                   "rule": "kept: no trial of the previous cycle finished"} for k, s in old.items()]
        return {"space": {**copy.deepcopy(old), **copy.deepcopy(fresh)}, "points": [], "carried": [],
                "ranges": ranges + changed, "control": None,
                "rule": f"No trial of the previous cycle finished with a finite {metric}, so the search space "
                        "is kept unchanged and no point is seeded or carried over."}
    new_space, ranges = {}, []
    for key, spec in old.items():
        if spec["type"] in CONTINUOUS:
            new_space[key], rule = _narrow(spec, [r.get("config", {}).get(key) for r in best], margin)
        else:
            new_space[key], rule = copy.deepcopy(spec), "kept: not continuous"
        ranges.append({"key": key, "type": spec["type"], "old": _bounds(spec), "new": _bounds(new_space[key]),
                       "rule": rule})
    new_space.update(copy.deepcopy(fresh))
    points = [{**{k: _snap(new_space[k], r["config"][k]) for k in old if k in r.get("config", {})}, **fresh_point}
              for r in best]
    control_point = {**points[0], **{k: 0 for k in fresh}} if control else None
    carried = [{"trial": r["trial"], "trial_id": r["trial_id"],
                "config": {k: _snap(new_space[k], r["config"][k]) for k in new_space},
                "value": r["metrics"][metric]}
               for r in sorted(finished(records, metric), key=lambda r: r["trial"])
               if all(k in r.get("config", {}) and _inside(new_space[k], r["config"][k]) for k in new_space)]
    rule = _rule_text(metric, mode, top_k, margin, len(best), len(carried))
    if fresh or drop:
        rule += (" Keys whose meaning changes between the cycles are not narrowed: see their rows "
                 "(dropped, or searched anew over their full range).")
    if control_point:
        rule += (f" The first trial is the control: trial {best[0]['trial']}'s config with nothing on top "
                 f"({', '.join(f'{k}=0' for k in fresh)}), so it trains on that trial's own set with a new seed.")
    return {"space": new_space, "points": ([control_point] if control_point else []) + points, "carried": carried,
            "ranges": ranges + changed, "rule": rule,
            "control": {"config": control_point, "of_trial": best[0]["trial"], "of_trial_id": best[0]["trial_id"]}
            if control_point else None}


def _changed_ranges(space: dict, fresh: dict, drop: tuple) -> list[dict]:
    """Range rows for the keys whose meaning changes: dropped ones and those searched anew."""
    rows = [{"key": k, "type": s["type"], "old": _bounds(s), "new": None,
             "rule": "dropped: its meaning ends with the previous cycle"}
            for k, s in space.items() if k in drop and k not in fresh]
    rows += [{"key": k, "type": s["type"], "old": _bounds(space[k]) if k in space else None, "new": _bounds(s),
              "rule": "searched anew over its full range, not narrowed: its meaning changed (rows on top of the "
                      "previous best's set, for this cycle's focus)"}
             for k, s in fresh.items()]
    return rows


def _rule_text(metric: str, mode: str, top_k: int, margin: float, n_best: int, n_carried: int) -> str:
    return (f"The {n_best} best finished trial(s) of the previous cycle by {metric} ({mode}; top_k={top_k}, ties "
            f"broken by trial index) are evaluated first. Each loguniform (in log10 space), uniform and quniform "
            f"range of width W is narrowed to [lowest best value - {_fmt(margin)}*W, highest best value + "
            f"{_fmt(margin)}*W] (margin={_fmt(margin)}); an interval that sticks out of the current range is moved "
            f"back inside keeping its width, one wider than the current range becomes the current range, and "
            f"quniform bounds are rounded outwards onto the grid low + n*q. choice and randint keys are kept "
            f"unchanged. The {n_carried} finished trial(s) whose configs lie inside the new space (quniform values on "
            f"their grid) are told to the next study as already evaluated.")
