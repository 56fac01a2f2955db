"""From a DataConfig to a frozen eval set and a base dataset version on disk."""
from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

from campaign.data.io import load_rows, sha256_file
from campaign.data.pipeline import (DataVersion, build_base_version, existing_version, freeze_eval, hash_bucket,
                                    load_eval, quality_filter, split_rows)
from campaign.tasks.base import Task, task_or_default

__all__ = ["eval_dir", "version_dir", "prepare_eval", "prepare_base_version", "prepare_data"]


def eval_dir(data_cfg) -> Path:
    return Path(data_cfg.root) / data_cfg.name / "eval"


def version_dir(data_cfg, version: int = 1) -> Path:
    return Path(data_cfg.root) / data_cfg.name / f"v{version}"


def _carve_eval(rows: list[dict], size: int, task: Task) -> list[dict]:
    """Deterministic eval rows from user data: the ``size`` rows with the lowest split hash."""
    kept, _ = quality_filter(rows, min_chars=1, max_chars=10**6, task=task)
    return sorted(kept, key=lambda r: hash_bucket(task.row_key(r), "eval-v1"))[:size]


def _user_rows(data_cfg, path: str, task: Task) -> list[dict]:
    return load_rows(path, task, data_cfg.columns)


def prepare_eval(data_cfg, task: Task | None = None) -> list[dict]:
    """Load the frozen eval set, freezing it first if this dataset has none yet."""
    folder, task = eval_dir(data_cfg), task_or_default(task)
    if (folder / "manifest.json").exists():
        return load_eval(folder, task)
    limits = {"min_chars": data_cfg.min_chars, "max_chars": data_cfg.max_chars, "task": task}
    if data_cfg.eval_source:
        kept, _ = quality_filter(_user_rows(data_cfg, data_cfg.eval_source, task), **limits)
        rows, origin = kept[: data_cfg.eval_size], {"eval_source": data_cfg.eval_source}
    elif data_cfg.source != "generate":
        rows = _carve_eval(_user_rows(data_cfg, data_cfg.source, task), data_cfg.eval_size, task)
        origin = {"carved_from": data_cfg.source}
    else:
        candidates = task.generate(3 * data_cfg.eval_size, data_cfg.eval_seed, ja_share=data_cfg.ja_share,
                                   source="eval")
        kept, _ = quality_filter(candidates, **limits)
        rows, origin = kept[: data_cfg.eval_size], {"generator_seed": data_cfg.eval_seed, "ja_share": data_cfg.ja_share}
    if len(rows) < data_cfg.eval_size:
        raise ValueError(f"data.eval_size={data_cfg.eval_size} but only {len(rows)} distinct eval rows are available")
    freeze_eval(folder, rows, origin, task)
    return load_eval(folder, task)


def _generated_rows(data_cfg, exclude: set[str], task: Task) -> list[dict]:
    """Generate until the training split of the filtered rows reaches ``base_size``, then trim."""
    n = int(data_cfg.base_size / (1 - data_cfg.valid_fraction) * 1.5) + 20
    kept, _ = quality_filter(task.generate(n, data_cfg.seed, ja_share=data_cfg.ja_share), min_chars=data_cfg.min_chars,
                             max_chars=data_cfg.max_chars, exclude=exclude, task=task)
    train, valid = split_rows(kept, data_cfg.valid_fraction, task=task)
    if len(train) < data_cfg.base_size:
        raise ValueError(f"data.base_size={data_cfg.base_size}: the generator gave only {len(train)} distinct rows")
    # Keep the hash split's proportion: valid rows are those before the last kept train row.
    last = {id(r) for r in train[: data_cfg.base_size]}
    cut = max(i for i, r in enumerate(kept) if id(r) in last) + 1
    return kept[:cut]


def _source_sha256(source: str) -> str:
    """Content fingerprint of a user source (a file, or every file of a datasets folder)."""
    path = Path(source)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return hashlib.sha256("".join(f"{p.relative_to(path) if path.is_dir() else p.name}:{sha256_file(p)};"
                                  for p in files).encode()).hexdigest()


def prepare_base_version(data_cfg, eval_rows: list[dict], task: Task | None = None) -> DataVersion:
    """Reuse version v1 if its recorded inputs match, else build it; rows are produced only when building."""
    task = task_or_default(task)
    inputs = {k: v for k, v in asdict(data_cfg).items() if k not in ("root", "name", "eval_source", "eval_size", "eval_seed")}
    if not data_cfg.columns:  # versions built before data.columns existed keep their recorded inputs
        del inputs["columns"]
    if data_cfg.source != "generate":
        inputs["source_sha256"] = _source_sha256(data_cfg.source)  # an edited file is a new input, not stale v1
    version = existing_version(version_dir(data_cfg, 1), inputs, task)
    if version is not None:
        return version
    exclude = {task.row_key(r) for r in eval_rows}
    rows = (_generated_rows(data_cfg, exclude, task) if data_cfg.source == "generate"
            else _user_rows(data_cfg, data_cfg.source, task))
    return build_base_version(version_dir(data_cfg, 1), rows, eval_rows, inputs=inputs,
                              valid_fraction=data_cfg.valid_fraction, min_chars=data_cfg.min_chars,
                              max_chars=data_cfg.max_chars, task=task)


def prepare_data(data_cfg, task: Task | None = None) -> tuple[DataVersion, list[dict]]:
    """Frozen eval rows and the base version, validated, before any trial starts."""
    eval_rows = prepare_eval(data_cfg, task)
    return prepare_base_version(data_cfg, eval_rows, task), eval_rows
