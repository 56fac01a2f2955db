"""Build one trial's training set from a data version and the trial's ratios (pure: no Ray, no torch).

``add_ratio`` × base size newly generated rows (biased to the focus dimensions
when there are any) and ``replay_ratio`` × base size repeated hard cases, taken
from the training split only. Generated rows whose request is in the frozen
eval set or already in the training split are dropped, so the eval set never
leaks in. Until a model has been evaluated, "hard" means far from the
training-set mean (the rows the mean baseline gets most wrong).
"""
from __future__ import annotations

import hashlib

from campaign.baselines import mean_baseline
from campaign.data.pipeline import normalize_request
from campaign.datagen import generate
from campaign.schema import DIMS

__all__ = ["counts_for", "rank_by_mean_error", "build_trial_train_set"]


def counts_for(base_size: int, add_ratio: float, replay_ratio: float) -> tuple[int, int]:
    """Rows to add and to replay; trials whose ratios round to the same counts share a training set."""
    return int(add_ratio * base_size + 0.5), int(replay_ratio * base_size + 0.5)  # halves round up


def rank_by_mean_error(train_rows: list[dict]) -> list[str]:
    """Training-row ids, hardest first, by absolute error of the training-set mean vector."""
    mean = mean_baseline(train_rows)
    err = {r["id"]: sum(abs(r["hidden_params"][d] - mean[d]) for d in DIMS) for r in train_rows}
    return sorted(err, key=lambda i: (-err[i], i))


def _seed(version: str, n_add: int, focus_dims: tuple[str, ...]) -> int:
    digest = hashlib.sha256(f"{version}|{n_add}|{','.join(focus_dims)}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _generated(n_add: int, seed: int, focus_dims: tuple[str, ...], exclude: set[str], ja_share: float) -> list[dict]:
    rows, seen, attempt = [], set(exclude), 0
    while len(rows) < n_add:
        if attempt >= 20:
            raise RuntimeError(f"could not generate {n_add} fresh rows (got {len(rows)}); lower train.add_ratio")
        for row in generate(2 * (n_add - len(rows)) + 8, seed + attempt, focus_dims=focus_dims,
                            ja_share=ja_share, source="augment"):
            key = normalize_request(row["request"])
            if key not in seen and len(rows) < n_add:
                seen.add(key)
                rows.append(row)
        attempt += 1
    return rows


def build_trial_train_set(train_rows: list[dict], *, version: str, base_size: int, add_ratio: float,
                          replay_ratio: float, replay_pool: list[str], eval_requests: set[str],
                          focus_dims: tuple[str, ...] = (), ja_share: float = 0.5) -> tuple[list[dict], dict]:
    """Return ``(rows, manifest)`` for one trial. ``replay_pool`` lists training ids hardest first."""
    n_add, n_replay = counts_for(base_size, add_ratio, replay_ratio)
    by_id = {r["id"]: r for r in train_rows}
    unknown = [i for i in replay_pool if i not in by_id]
    if unknown:
        raise ValueError(f"replay pool holds ids outside the training split (e.g. {unknown[0]}); "
                         "hard cases are replayed from the training split only")
    exclude = {normalize_request(r["request"]) for r in train_rows} | set(eval_requests)
    added = _generated(n_add, _seed(version, n_add, tuple(focus_dims)), tuple(focus_dims), exclude, ja_share)
    replayed = [{**by_id[i], "source": "replay"} for i in replay_pool[:n_replay]]
    rows = list(train_rows) + added + replayed
    manifest = {"parent_version": version, "base": len(train_rows), "added": len(added), "replayed": len(replayed),
                "total": len(rows), "add_ratio": add_ratio, "replay_ratio": replay_ratio,
                "focus_dims": list(focus_dims),
                "summary": f"{len(train_rows)} → {len(rows)}: +{len(added)} generated, +{len(replayed)} replayed"}
    return rows, manifest
