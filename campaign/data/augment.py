"""Augmentation pools and per-trial training sets (pure: no Ray, no torch).

A cycle's data has two ordered pools beside its training split:

- ``generated``: fresh rows from the task's generator, biased to the cycle's
  focus facets, whose row keys are in none of the train, validation or frozen
  eval splits (so the eval set never leaks in);
- ``replay``: training rows, hardest first. Cycle 1 has no model yet, so "hard"
  is the task's model-free ranking (far from the training-set mean for the
  flagship); later cycles rank the training split by the previous cycle's best
  adapter's error on the focus facets.

A trial with generated ratio a (``train.add_ratio`` in cycle 1, ``train.focus_ratio``
later) and ``replay_ratio`` r trains on the training split plus the first
``round(a × base)`` generated rows and the first ``round(r × base)`` replay rows. The pools are built once per cycle, so trials
never regenerate anything, and trials whose ratios round to the same counts get
the same set (the manifest's ``sha256`` shows it).
"""
from __future__ import annotations

import hashlib

from campaign.tasks.base import Task, task_or_default

VARIANT_MARK = "~"  # a replay variant's id: its training row's id, this mark, a suffix (see cycle_data.with_variants)

__all__ = ["VARIANT_MARK", "counts_for", "ratio_bound", "pool_seed", "generate_pool", "rank_by_model_error", "trial_train_set"]


def counts_for(base_size: int, add_ratio: float, replay_ratio: float) -> tuple[int, int]:
    """Rows to add and to replay; trials whose ratios round to the same counts share a training set."""
    return int(add_ratio * base_size + 0.5), int(replay_ratio * base_size + 0.5)  # halves round up


def ratio_bound(space: dict[str, dict], key: str, value: float) -> float:
    """The largest value a ratio can take in this cycle: its searched range's top, else the config value."""
    spec = space.get(key)
    if spec is None:
        return value
    if spec["type"] == "choice":
        return max(spec["values"])
    return spec["high"]


def pool_seed(*parts) -> int:
    """A generator seed that depends only on the pool's recorded inputs (so a resumed run rebuilds it exactly)."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big")


def generate_pool(n: int, *, seed: int, focus_facets: tuple[str, ...], exclude: set[str], ja_share: float,
                  task: Task | None = None) -> list[dict]:
    """``n`` generated rows whose row keys are outside ``exclude`` (the keys of every existing split)."""
    task = task_or_default(task)
    if n and not task.has_generator:
        raise ValueError(f"task {task.spec.kind!r} has no row generator, so train.add_ratio must stay 0")
    rows, seen, attempt = [], set(exclude), 0
    while len(rows) < n:
        if attempt >= 20:
            raise RuntimeError(f"could not generate {n} fresh rows (got {len(rows)}); lower the add_ratio range")
        for row in task.generate(2 * (n - len(rows)) + 8, seed + attempt, focus_facets=focus_facets,
                                 ja_share=ja_share, source="augment"):
            key = task.row_key(row)
            if key not in seen and len(rows) < n:
                seen.add(key)
                rows.append(row)
        attempt += 1
    return rows


def rank_by_model_error(task: Task, train_rows: list[dict], outputs: dict[str, str], focus: list[str]) -> list[dict]:
    """Training rows ranked hardest first by a model's outputs: invalid first, then mean error on the focus facets.

    Where rows belong to facets (``Task.row_facets``: a classifier row to its gold class), the rows of
    the focus facets come first, so the replay pool is the focus classes' misclassified rows; the
    others follow, in case the ratio asks for more rows than those classes hold.
    Returns ``[{"id", "focus_error", "error", "invalid_reason", "in_focus"}]``; errors are None for invalid outputs.
    """
    facets = list(focus) or list(task.spec.facets)
    ranked = []
    for row in train_rows:
        err = task.row_errors(row, outputs[row["id"]])
        per, own = err["facets"], task.row_facets(row)
        focus_error = None if per is None else sum(per[f] for f in facets) / len(facets)
        ranked.append({"id": row["id"], "focus_error": focus_error, "error": err["error"],
                       "invalid_reason": err["invalid_reason"], "in_focus": own is None or bool(set(own) & set(facets))})
    ranked.sort(key=lambda c: (not c["in_focus"], c["focus_error"] is not None, -(c["focus_error"] or 0.0),
                               -(c["error"] or 0.0), c["id"]))
    return ranked


def trial_train_set(train_rows: list[dict], *, version: str, base_size: int, add_ratio: float, replay_ratio: float,
                    generated: list[dict], replay: list[dict], focus_facets: list[str]) -> tuple[list[dict], dict]:
    """Return ``(rows, manifest)`` for one trial: the training split plus prefixes of the cycle's pools."""
    n_add, n_replay = counts_for(base_size, add_ratio, replay_ratio)
    for name, need, pool, key, ratio in (("generated", n_add, generated, "add_ratio", add_ratio),
                                         ("replay", n_replay, replay, "replay_ratio", replay_ratio)):
        if need > len(pool):
            raise ValueError(f"train.{key}={ratio:g} needs {need} {name} rows but this cycle's pool holds "
                             f"{len(pool)}; the pool is sized from search.space.train.{key}'s upper bound")
    train_ids = {r["id"] for r in train_rows}
    outside = [r["id"] for r in replay[:n_replay]
               if r["id"] not in train_ids and r["id"].rsplit(VARIANT_MARK, 1)[0] not in train_ids]
    if outside:
        raise ValueError(f"replay pool holds ids outside the training split (e.g. {outside[0]}); "
                         "hard cases are replayed from the training split only")
    added = generated[:n_add]
    replayed = [{**r, "source": "replay"} for r in replay[:n_replay]]
    rows = list(train_rows) + added + replayed
    digest = hashlib.sha256("\n".join(r["id"] for r in rows).encode()).hexdigest()
    manifest = {"parent_version": version, "base": len(train_rows), "added": len(added), "replayed": len(replayed),
                "total": len(rows), "add_ratio": add_ratio, "replay_ratio": replay_ratio,
                "focus_facets": list(focus_facets), "sha256": digest,
                "summary": f"{len(train_rows)} → {len(rows)}: +{len(added)} generated, +{len(replayed)} replayed"}
    return rows, manifest
