"""Pure decision logic of a cycle: which trials are best and which dimensions are hard.

Takes plain trial records (dicts as written in ``validation_snapshot.json``) and
returns plain records. No Ray, no torch.
"""
from __future__ import annotations

import math

from campaign.schema import DIMS

__all__ = ["finished", "best_trials", "choose_hard_dims"]


def _value(record: dict, key: str) -> float | None:
    v = record.get("metrics", {}).get(key)
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def finished(records: list[dict], metric: str) -> list[dict]:
    """Trials that ended without error and reported a finite ``metric``."""
    return [r for r in records if r.get("state") == "TERMINATED" and _value(r, metric) is not None]


def best_trials(records: list[dict], metric: str, mode: str, k: int) -> list[dict]:
    """The ``k`` best finished trials by ``metric``; ties go to the earlier trial (Ray's trial ids are random)."""
    sign = 1 if mode == "min" else -1
    ranked = sorted(finished(records, metric),
                    key=lambda r: (sign * _value(r, metric), r.get("trial", 10**9), r["trial_id"]))
    return ranked[:k]


def choose_hard_dims(records: list[dict], *, metric: str, mode: str, k_best: int = 3, n_dims: int = 2,
                     prefix: str = "valid", force_dims: list[str] | tuple[str, ...] = ()) -> dict:
    """Hard dimensions: the largest mean ``<prefix>/mae_raw_<dim>`` over the ``k_best`` best finished trials.

    ``force_dims`` overrides the choice; the measured choice is still computed and recorded beside it.
    """
    chosen = _measured_hard_dims(records, metric, mode, k_best, n_dims, prefix)
    if not force_dims:
        return {**chosen, "forced": False}
    measured = ", ".join(chosen["hard_dims"]) or "none"
    return {**chosen, "hard_dims": list(force_dims), "forced": True, "measured_hard_dims": chosen["hard_dims"],
            "reason": f"forced by cycles.force_dims ({measured} by measurement: {chosen['reason']})"}


def _measured_hard_dims(records: list[dict], metric: str, mode: str, k_best: int, n_dims: int, prefix: str) -> dict:
    best = best_trials(records, metric, mode, k_best)
    if not best:
        return {"best_trials": [], "per_dim_mae": {}, "hard_dims": [],
                "reason": f"no finished trial reported {metric}; no hard dimensions can be chosen"}
    per_dim = {}
    for dim in DIMS:
        vals = [v for r in best if (v := _value(r, f"{prefix}/mae_raw_{dim}")) is not None]
        if vals:
            per_dim[dim] = sum(vals) / len(vals)
    if not per_dim:
        return {"best_trials": [r["trial_id"] for r in best], "per_dim_mae": {}, "hard_dims": [],
                "reason": f"none of the {len(best)} best trial(s) produced valid JSON on the {prefix} split"}
    hard = sorted(per_dim, key=lambda d: (-per_dim[d], DIMS.index(d)))[:n_dims]
    listing = ", ".join(f"{d} {per_dim[d]:.2f}" for d in hard)
    return {"best_trials": [r["trial_id"] for r in best], "per_dim_mae": per_dim, "hard_dims": hard,
            "reason": f"largest mean {prefix} mae_raw_<dim> over the {len(best)} best finished trial(s) by "
                      f"{metric}: {listing}"}
