"""A cycle's data: the training and validation splits plus its augmentation pools (no Ray, no torch).

Cycle 1 trains on the base version (``v1``) with pools built from it: unfocused
generated rows (``train.add_ratio``) and training rows far from the task's
model-free expectation (``train.replay_ratio``).

Every later cycle trains on a new, immutable dataset version ``v<N>`` whose
training split is **what the previous cycle's best trial trained on** (its
realised rows, checked against the sha256 the trial recorded), so a config that
won on v1 keeps every row it won with. On top come two pools: rows generated
for the hard facets (``train.focus_ratio``) and the training rows the previous
best adapter got most wrong (``train.replay_ratio``). The validation split stays
the same, so validation errors compare across cycles. The manifest records the
parent, the trial whose set it starts from, the focus facets, ratios and counts.
A version with the same recorded inputs is reused, never rewritten, which is
what makes a resumed campaign derive the identical version.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from campaign.data.augment import VARIANT_MARK, counts_for, generate_pool, pool_seed, ratio_bound, trial_train_set
from campaign.data.io import read_table, sha256_file, write_json, write_table
from campaign.data.pipeline import DataVersionError, load_version
from campaign.tasks.base import Task, task_or_default

__all__ = ["CycleData", "pool_sizes", "realised_train_set", "first_cycle_data", "derive_version", "load_derived",
           "dataset_root"]


@dataclass
class CycleData:
    """What one cycle's trials train on."""

    version: str  # dataset version name, e.g. "v2"
    path: Path
    train: list[dict]
    valid: list[dict]
    generated: list[dict]  # generated pool, in the order trials take it
    replay: list[dict]  # training rows, hardest first
    focus_facets: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)
    generated_key: str = "add_ratio"  # the train.* ratio that draws the generated pool: add_ratio in cycle 1, else focus_ratio

    def summary(self, base_size: int) -> str:
        return (f"{self.version}: {len(self.train)} train / {len(self.valid)} valid rows; pools of up to "
                f"{len(self.generated)} generated and {len(self.replay)} replayed rows "
                f"(focus: {', '.join(self.focus_facets) or 'none'}; ratios apply to base size {base_size})")

    def for_workers(self, base_size: int, eval_rows: list[dict], seed: int) -> dict:
        """What every trial's workers get through the object store (``seed``: the cycle's training seed)."""
        return {"train": self.train, "valid": self.valid, "eval": eval_rows, "version": self.version,
                "base_size": base_size, "generated_key": self.generated_key, "seed": seed,
                "generated": self.generated, "replay": self.replay, "focus_facets": list(self.focus_facets)}


def dataset_root(data_cfg) -> Path:
    return Path(data_cfg.root) / data_cfg.name


def pool_sizes(cfg, cycle: int = 1) -> tuple[int, int]:
    """Pool sizes for the largest ratios the cycle's space (or the config) allows."""
    if cycle == 1:
        space, key = cfg.search.space, "add_ratio"
    else:
        space, key = cfg.cycles.data_space(cfg.task.instance().has_generator), "focus_ratio"
    add = ratio_bound(space, f"train.{key}", getattr(cfg.train, key))
    replay = ratio_bound(space, "train.replay_ratio", cfg.train.replay_ratio)
    return counts_for(cfg.data.base_size, add, replay)


def realised_train_set(cfg, data: CycleData, config: dict, recorded_sha256: str | None) -> tuple[list[dict], dict]:
    """The rows a trial of ``data``'s cycle trained on, rebuilt from its ``config`` (searched keys).

    ``recorded_sha256`` is the digest the trial wrote in its ``train_set.json``; a rebuild that
    differs (pools or ratios changed since) is refused rather than trained on.
    """
    def value(key: str):
        return config.get(f"train.{key}", getattr(cfg.train, key))

    rows, manifest = trial_train_set(data.train, version=data.version, base_size=cfg.data.base_size,
                                     add_ratio=value(data.generated_key), replay_ratio=value("replay_ratio"),
                                     generated=data.generated, replay=data.replay, focus_facets=data.focus_facets)
    if recorded_sha256 and recorded_sha256 != manifest["sha256"]:
        raise DataVersionError(f"rebuilding the training set of {data.version}'s best trial gives sha256 "
                               f"{manifest['sha256'][:12]}, but the trial recorded {recorded_sha256[:12]}; "
                               f"the pools of {data.path} changed after the trial ran")
    return rows, manifest


def _exclude(train: list[dict], valid: list[dict], eval_rows: list[dict], task: Task) -> set[str]:
    return {task.row_key(r) for r in train + valid + eval_rows}


def first_cycle_data(cfg, version, eval_rows: list[dict]) -> CycleData:
    """Cycle 1: the base version and pools built from it (deterministic, so rebuilt identically on resume)."""
    task = cfg.task.instance()
    n_add, n_replay = pool_sizes(cfg)
    seed = pool_seed(version.manifest["files"]["train.parquet"], "cycle1")
    generated = generate_pool(n_add, seed=seed, focus_facets=(), exclude=_exclude(version.train, version.valid, eval_rows, task),
                              ja_share=cfg.data.ja_share, task=task)
    by_id = {r["id"]: r for r in version.train}
    replay = [by_id[i] for i in task.baseline_rank(version.train)[:n_replay]]
    manifest = {"version": version.manifest["version"], "pools": {"generated": len(generated), "replay": len(replay)},
                "generator_seed": seed, "replay_ranking": f"{task.baseline_rank_text} (no model yet)"}
    return CycleData(version.manifest["version"], version.path, version.train, version.valid, generated, replay, [],
                     manifest)


def _fingerprint(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _find_version(root: Path, fingerprint: str) -> Path | None:
    for manifest in sorted(root.glob("v*/manifest.json")):
        if json.loads(manifest.read_text()).get("fingerprint") == fingerprint:
            return manifest.parent
    return None


def _next_name(root: Path) -> str:
    numbers = [int(p.name[1:]) for p in root.glob("v*") if p.name[1:].isdigit()]
    return f"v{max(numbers, default=0) + 1}"


def with_variants(rows: list[dict], task: Task, seed: int) -> list[dict]:
    """Each replayed row followed by its variant where the task makes one (a question with its choices shuffled).

    A variant's id is its row's id + ``~`` + a suffix, which marks it as a copy of a training row.
    """
    out = []
    for i, row in enumerate(rows):
        out.append(row)
        variant = task.replay_variant(row, seed + i)
        if variant is not None:
            out.append({**variant, "id": f"{row['id']}{VARIANT_MARK}{i}"})
    return out


def derive_version(cfg, parent: CycleData, eval_rows: list[dict], *, cycle: int, focus_facets: list[str],
                   focus_reason: str, ranking: list[dict], replay_source: dict, train: list[dict],
                   train_from: dict) -> CycleData:
    """The dataset version cycle ``cycle`` trains on, derived from the previous cycle's ``parent``.

    ``train`` is the previous best trial's realised training set (``realised_train_set``) and
    ``train_from`` says which trial it is; ``ranking`` lists its rows hardest first (see
    ``augment.rank_by_model_error``).
    """
    root, task = dataset_root(cfg.data), cfg.task.instance()
    n_add, n_replay = pool_sizes(cfg, cycle)
    inputs = {"parent": parent.version, "parent_train_sha256": sha256_file(Path(parent.path) / "train.parquet"),
              "train_from_sha256": train_from["sha256"],
              # named focus_dims still, so versions derived before facets had their name keep their
              # fingerprints (and so their generator seeds) and are reused
              "focus_dims": list(focus_facets), "replay_ids": [c["id"] for c in ranking[:n_replay]],
              "pool_sizes": [n_add, n_replay], "ja_share": cfg.data.ja_share, "cycle": cycle}
    fingerprint = _fingerprint(inputs)
    found = _find_version(root, fingerprint)
    if found is not None:
        return load_derived(found, task)
    seed = pool_seed(fingerprint)
    generated = generate_pool(n_add, seed=seed, focus_facets=tuple(focus_facets),
                              exclude=_exclude(train, parent.valid, eval_rows, task), ja_share=cfg.data.ja_share, task=task)
    by_id = {r["id"]: r for r in train}
    replay = with_variants([by_id[i] for i in inputs["replay_ids"]], task, seed)
    errors = {c["id"]: c for c in ranking[:n_replay]}
    name, space = _next_name(root), cfg.cycles.data_space(task.has_generator)
    manifest = {
        "kind": "dataset_version", "task": task.spec.kind, "version": name, "parent": parent.version, "cycle": cycle,
        "campaign": cfg.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "fingerprint": fingerprint, "inputs": inputs,
        "focus_facets": list(focus_facets), "focus_reason": focus_reason, "replay_source": replay_source,
        "train_from": train_from, "generated_ratio_key": "focus_ratio",
        "ratios": {k: space.get(f"train.{k}", getattr(cfg.train, k)) for k in ("focus_ratio", "replay_ratio")},
        "counts": {"train": len(train), "valid": len(parent.valid), "generated_pool": len(generated),
                   "replay_pool": len(replay)},
        "generator_seed": seed,
        "summary": (f"training split = cycle {cycle - 1}'s best trial's set ({train_from['summary']}); on top, "
                    f"pools of +{len(generated)} generated rows (focus {', '.join(focus_facets) or 'none'}) and "
                    f"+{len(replay)} replayed hard training rows; each trial takes focus_ratio × "
                    f"{cfg.data.base_size} and replay_ratio × {cfg.data.base_size} of them"),
        "replay_errors": [errors[r["id"]] for r in replay if r["id"] in errors],
    }
    return _write_version(root / name, parent, train, generated, replay, manifest, task)


def _write_version(folder: Path, parent: CycleData, train, generated, replay, manifest: dict, task: Task) -> CycleData:
    """Write the folder under a temporary name and rename it: a killed driver never leaves half a version."""
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tables = {"train.parquet": train, "valid.parquet": parent.valid, "generated.parquet": generated,
              "replay.parquet": replay}
    for name, rows in tables.items():
        write_table(rows, tmp / name, task)
    manifest["files"] = {name: sha256_file(tmp / name) for name in tables}
    write_json(manifest, tmp / "manifest.json")
    os.replace(tmp, folder)
    return load_derived(folder, task)


def load_derived(folder: Path, task: Task | None = None) -> CycleData:
    """Load a derived version after checking its files against the manifest."""
    task = task_or_default(task)
    base = load_version(folder, task)  # verifies every file's sha256
    m = base.manifest
    if "generated.parquet" not in m.get("files", {}):
        raise DataVersionError(f"{folder} is a base version, not one derived for a cycle")
    focus = m.get("focus_facets", m.get("focus_dims", []))  # focus_dims: versions written before facets
    return CycleData(m["version"], Path(folder), base.train, base.valid,
                     read_table(Path(folder) / "generated.parquet", task),
                     read_table(Path(folder) / "replay.parquet", task), list(focus), m,
                     m.get("generated_ratio_key", "add_ratio"))  # add_ratio: versions from before focus_ratio
