"""What changed a cycle's result: the new data, the search, or noise (pure: no Ray, no torch).

Cycle n+1 runs two seeded trials before the search proposes anything (see ``seeding``):

- the **control**: cycle n's best config on cycle n's best training set, with cycle n+1's seed;
- the **data trial**: the same config with this cycle's focused and replayed rows on top.

Every model is scored on the same frozen eval rows, so the change from cycle n's best to
cycle n+1's best splits into three paired steps that add up to it:

- noise = control − cycle n's best (same config, same rows, another seed);
- data effect = data trial − control (only the rows on top differ);
- search effect = cycle n+1's best − data trial (what the search found beyond that config).

Each step is a paired comparison (``paired.compare``) of the primary metric and of every
focus facet: the mean per-row difference, its bootstrap interval and a paired p-value.
Negative means lower error (better).
"""
from __future__ import annotations

import math

from campaign.decide.paired import compare

__all__ = ["STEPS", "split_effects", "find_trial"]

# (name, reference model, candidate model, what differs)
STEPS = (
    ("noise", "previous_best", "control", "the same config on the same rows, re-run with this cycle's seed"),
    ("data", "control", "data_trial", "the previous best config with this cycle's rows on top vs without"),
    ("search", "data_trial", "best", "this cycle's best vs the previous best config on this cycle's data"),
    ("total", "previous_best", "best", "this cycle's best vs the previous cycle's best"),
)


def find_trial(records: list[dict], point: dict | None) -> dict | None:
    """The first finished trial (by index) whose config is ``point`` (floats compared to 1e-9)."""
    if not point:
        return None

    def same(a, b) -> bool:
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        return a == b

    for r in sorted(records, key=lambda r: r["trial"]):
        if r["state"] == "TERMINATED" and all(same(r.get("config", {}).get(k), v) for k, v in point.items()):
            return r
    return None


def _step(ref: dict, cand: dict, focus: list[str], stats: dict) -> dict:
    out = {"primary": compare(ref["primary"], cand["primary"], **stats)}
    out["facets"] = {f: compare(ref["facets"][f], cand["facets"][f], **stats) for f in focus}
    return out


def split_effects(tables: dict[str, dict | None], trials: dict[str, int | None], focus: list[str], *,
                  confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> dict:
    """The noise / data / search / total steps between the models in ``tables``.

    ``tables`` maps ``previous_best``, ``control``, ``data_trial`` and ``best`` to per-row error
    tables (``paired.row_error_table``) or None where the model or its outputs are missing;
    ``trials`` names their trial numbers for the record. A step with a missing side says why.
    """
    stats = {"confidence": confidence, "resamples": resamples, "seed": seed}
    steps = []
    for name, ref, cand, what in STEPS:
        row = {"step": name, "reference": ref, "candidate": cand, "what": what,
               "reference_trial": trials.get(ref), "candidate_trial": trials.get(cand)}
        gone = [m for m in (ref, cand) if tables.get(m) is None]
        if gone:
            row["missing"] = f"no eval outputs for {' and '.join(gone)}"
        else:
            row.update(_step(tables[ref], tables[cand], focus, stats))
        steps.append(row)
    return {"focus_facets": list(focus), "confidence": confidence, "steps": steps}
