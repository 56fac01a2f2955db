"""Pure decision logic of a cycle: which trials are best and which facets are hard.

Takes plain trial records (dicts as written in ``validation_snapshot.json``) and
returns plain records. No Ray, no torch.
"""
from __future__ import annotations

import math

from campaign.tasks.base import TaskSpec

__all__ = ["finished", "best_trials", "choose_hard_facets", "facets_record"]


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


def choose_hard_facets(records: list[dict], spec: TaskSpec, *, metric: str, mode: str, k_best: int = 3,
                       n_facets: int = 2, prefix: str = "valid", force_facets: list[str] | tuple[str, ...] = (),
                       reference: dict | None = None) -> dict:
    """Hard facets: the largest mean ``<prefix>/<facet error>`` over the ``k_best`` best finished trials.

    With ``reference`` (``{"name": baseline, "errors": {facet: error}}``, the same split), a facet's
    error is divided by the reference's first: the relative absolute error, so a facet whose labels
    simply spread wider does not win over one the model has barely learned.
    ``force_facets`` overrides the choice; the measured choice is still computed and recorded beside it.
    """
    chosen = _measured_hard_facets(records, spec, metric, mode, k_best, n_facets, prefix)
    if reference and chosen["per_facet_error"]:
        chosen = _relative(chosen, reference, spec, n_facets)
    if not force_facets:
        return {**chosen, "forced": False}
    measured = ", ".join(chosen["hard_facets"]) or "none"
    return {**chosen, "hard_facets": list(force_facets), "forced": True, "measured_hard_facets": chosen["hard_facets"],
            "reason": f"forced by cycles.force_facets ({measured} by measurement: {chosen['reason']})"}


def _measured_hard_facets(records: list[dict], spec: TaskSpec, metric: str, mode: str, k_best: int, n_facets: int,
                          prefix: str) -> dict:
    best = best_trials(records, metric, mode, k_best)
    kind = spec.facet_kind
    if not best:
        return {"best_trials": [], "per_facet_error": {}, "hard_facets": [],
                "reason": f"no finished trial reported {metric}; no hard {spec.facets_word} can be chosen"}
    per_facet = {}
    for facet in spec.facets:
        vals = [v for r in best if (v := _value(r, spec.facet_key(facet, prefix))) is not None]
        if vals:
            per_facet[facet] = sum(vals) / len(vals)
    if not per_facet:
        return {"best_trials": [r["trial_id"] for r in best], "per_facet_error": {}, "hard_facets": [],
                "reason": f"none of the {len(best)} best trial(s) had a valid output on the {prefix} split"}
    hard = sorted(per_facet, key=lambda f: (-per_facet[f], spec.facets.index(f)))[:n_facets]
    listing = ", ".join(f"{f} {per_facet[f]:.2f}" for f in hard)
    return {"best_trials": [r["trial_id"] for r in best], "per_facet_error": per_facet, "hard_facets": hard,
            "reason": f"largest mean {prefix} {spec.facet_error.format(facet='<' + kind + '>')} over the "
                      f"{len(best)} best finished trial(s) by {metric}: {listing}"}


def _relative(chosen: dict, reference: dict, spec: TaskSpec, n_facets: int) -> dict:
    """Re-rank the measured facets by error / the reference's error on the same split."""
    ref = reference["errors"]
    missing = [f for f in chosen["per_facet_error"] if not ref.get(f)]
    if missing:
        raise ValueError(f"reference {reference['name']} has no positive error for {missing}; cannot divide by it")
    rel = {f: e / ref[f] for f, e in chosen["per_facet_error"].items()}
    hard = sorted(rel, key=lambda f: (-rel[f], spec.facets.index(f)))[:n_facets]
    listing = ", ".join(f"{f} {chosen['per_facet_error'][f]:.2f} / {ref[f]:.2f} = {rel[f]:.2f}" for f in hard)
    return {**chosen, "hard_facets": hard, "per_facet_relative": rel, "reference": reference,
            "reason": f"largest error relative to {reference['name']}'s on the same split "
                      f"({chosen['reason'].split(':')[0]}, divided): {listing}"}


def facets_record(record: dict) -> dict:
    """A hard-facet record as written now, from one written before facets had their name (``hard_dims``)."""
    if "hard_facets" in record or "hard_dims" not in record:
        return record
    out = {k: v for k, v in record.items() if k not in ("hard_dims", "per_dim_mae", "measured_hard_dims")}
    out.update({"hard_facets": record["hard_dims"], "per_facet_error": record.get("per_dim_mae", {})})
    if "measured_hard_dims" in record:
        out["measured_hard_facets"] = record["measured_hard_dims"]
    return out
