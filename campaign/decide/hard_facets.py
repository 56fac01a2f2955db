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
                       reference: dict | None = None, min_support: int = 0) -> dict:
    """Hard facets: the largest mean ``<prefix>/<facet error>`` over the ``k_best`` best finished trials.

    Where the task reports each facet's row count (``spec.facet_support``), a facet with fewer than
    ``min_support`` rows on the split cannot be chosen: 3 questions of a subject are too few to steer a
    cycle. The facets left out are recorded with their support.

    With ``reference`` (``{"name": baseline, "errors": {facet: error}}``, the same split), a facet's
    error is divided by the reference's first: the relative absolute error, so a facet whose labels
    simply spread wider does not win over one the model has barely learned.
    ``force_facets`` overrides the choice; the measured choice is still computed and recorded beside it.
    """
    chosen = _measured_hard_facets(records, spec, metric, mode, k_best, n_facets, prefix, min_support)
    if reference and chosen["per_facet_error"]:
        chosen = _relative(chosen, reference, spec, n_facets)
    if not force_facets:
        return {**chosen, "forced": False}
    measured = ", ".join(chosen["hard_facets"]) or "none"
    return {**chosen, "hard_facets": list(force_facets), "forced": True, "measured_hard_facets": chosen["hard_facets"],
            "reason": f"forced by cycles.force_facets ({measured} by measurement: {chosen['reason']})"}


def _supports(best: list[dict], spec: TaskSpec, prefix: str) -> dict[str, float]:
    """Each facet's row count on the split, as the best trial reported it (the split is the same for all)."""
    if not spec.facet_support or not best:
        return {}
    keys = {f: f"{prefix}/{spec.facet_support.format(facet=f)}" for f in spec.facets}
    return {f: v for f, key in keys.items() if (v := _value(best[0], key)) is not None}


def _measured_hard_facets(records: list[dict], spec: TaskSpec, metric: str, mode: str, k_best: int, n_facets: int,
                          prefix: str, min_support: int = 0) -> dict:
    best = best_trials(records, metric, mode, k_best)
    kind = spec.facet_kind
    if not best:
        return {"best_trials": [], "per_facet_error": {}, "hard_facets": [],
                "reason": f"no finished trial reported {metric}; no hard {spec.facets_word} can be chosen"}
    support = _supports(best, spec, prefix)
    too_few = {f: n for f, n in support.items() if n < min_support}
    per_facet = {}
    for facet in spec.facets:
        vals = [v for r in best if (v := _value(r, spec.facet_key(facet, prefix))) is not None]
        if vals:
            per_facet[facet] = sum(vals) / len(vals)
    if not per_facet:
        return {"best_trials": [r["trial_id"] for r in best], "per_facet_error": {}, "hard_facets": [],
                "reason": f"none of the {len(best)} best trial(s) had a valid output on the {prefix} split"}
    # a facet the best trials never got wrong is not hard, whatever its rank: with every error 0 nothing is
    eligible = [f for f in per_facet if f not in too_few and per_facet[f] > 0]
    hard = sorted(eligible, key=lambda f: (-per_facet[f], spec.facets.index(f)))[:n_facets]
    listing = ", ".join(f"{f} {per_facet[f]:.2f}" for f in hard) or f"none (no eligible {kind} has an error above 0)"
    skipped = (f"; left out with fewer than {min_support} {prefix} rows: "
               + ", ".join(f"{f} ({n:.0f})" for f, n in too_few.items())) if too_few else ""
    out = {"best_trials": [r["trial_id"] for r in best], "per_facet_error": per_facet, "hard_facets": hard,
           "reason": f"largest mean {prefix} {spec.facet_error.format(facet='<' + kind + '>')} over the "
                     f"{len(best)} best finished trial(s) by {metric}: {listing}{skipped}"}
    if support:
        out.update(support=support, min_support=min_support, too_few=sorted(too_few))
    return out


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
