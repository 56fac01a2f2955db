"""Dataset versions: quality filter, deterministic split, frozen eval set, manifests.

Layout under ``<root>/<name>/``::

    eval/eval.parquet, eval/manifest.json      frozen once, never rewritten
    v1/train.parquet, v1/valid.parquet, v1/manifest.json

A version is immutable: asking for ``v1`` with different inputs than the ones
recorded in its manifest is an error, never a silent rebuild.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from campaign.core.text import normalize_request
from campaign.data.io import read_table, sha256_file, write_json, write_table
from campaign.tasks.base import Task, task_or_default

__all__ = [
    "FrozenEvalError", "DataVersionError", "DataVersion", "normalize_request", "quality_filter",
    "split_rows", "hash_bucket", "freeze_eval", "load_eval", "existing_version", "build_base_version", "load_version",
]


class FrozenEvalError(RuntimeError):
    """The frozen eval set is missing, altered, or would be overwritten."""


class DataVersionError(RuntimeError):
    """A dataset version exists with different inputs, or its files do not match its manifest."""


@dataclass(frozen=True)
class DataVersion:
    """A dataset version on disk: its folder, rows and manifest."""

    path: Path
    train: list[dict]
    valid: list[dict]
    manifest: dict


def quality_filter(rows: list[dict], *, min_chars: int, max_chars: int, exclude: set[str] = frozenset(),
                   task: Task | None = None):
    """Drop duplicates, excluded rows (e.g. the frozen eval set) and what the task's own filter rejects.

    Rows are compared by the task's row key. Returns ``(kept_rows, stats)``; the first occurrence wins.
    """
    task = task_or_default(task)
    seen: set[str] = set()
    kept, stats = [], {"input": len(rows), "duplicate": 0, "in_eval_set": 0, "too_short": 0, "too_long": 0, "out_of_range": 0}
    for row in rows:
        key = task.row_key(row)
        reason = "in_eval_set" if key in exclude else "duplicate" if key in seen else \
            task.quality_problem(row, min_chars=min_chars, max_chars=max_chars)
        if reason:
            stats[reason] = stats.get(reason, 0) + 1
            continue
        seen.add(key)
        kept.append(row)
    stats["kept"] = len(kept)
    return kept, stats


def hash_bucket(text: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{normalize_request(text)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_rows(rows: list[dict], valid_fraction: float, salt: str = "split-v1", task: Task | None = None):
    """Deterministic train/valid split by a hash of the task's row key, independent of row order.

    Where rows belong to facets (``Task.row_facets``: a class, a subject), the split is stratified:
    each facet's rows with the lowest hashes, ``round(valid_fraction × its rows)`` of them, go to
    validation, so a class of 30 rows always gets its 6 validation rows instead of a binomial draw
    (2 of 30 happened), and the hard-facet choice sees every facet.
    """
    task = task_or_default(task)
    if rows and task.row_facets(rows[0]) is not None:
        groups: dict[str, list[tuple[float, int]]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(task.row_facets(row)[0], []).append((hash_bucket(task.row_key(row), salt), i))
        chosen = {i for members in groups.values()
                  for _, i in sorted(members)[:int(valid_fraction * len(members) + 0.5)]}
        return [r for i, r in enumerate(rows) if i not in chosen], [r for i, r in enumerate(rows) if i in chosen]
    train, valid = [], []
    for row in rows:
        (valid if hash_bucket(task.row_key(row), salt) < valid_fraction else train).append(row)
    return train, valid


def _manifest_files(folder: Path, names: list[str]) -> dict:
    return {n: sha256_file(folder / n) for n in names}


def _verify_files(folder: Path, manifest: dict, error) -> None:
    for name, digest in manifest["files"].items():
        if not (folder / name).exists() or sha256_file(folder / name) != digest:
            raise error(f"{folder / name} does not match the sha256 in {folder / 'manifest.json'}; "
                        "it was altered after it was written. Restore it or use a new data.name.")


def freeze_eval(folder: Path, rows: list[dict], origin: dict, task: Task | None = None) -> dict:
    """Write the frozen eval set once. Re-freezing identical rows is a no-op; different rows are refused."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        existing = load_eval(folder, task)
        if existing != rows:
            raise FrozenEvalError(f"{folder} already holds a frozen eval set with different rows; "
                                  "a frozen set never changes. Use a new data.name for a new eval set.")
        return json.loads(manifest_path.read_text())
    write_table(rows, folder / "eval.parquet", task)
    manifest = {"kind": "frozen_eval", "rows": len(rows), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "origin": origin, "files": _manifest_files(folder, ["eval.parquet"])}
    write_json(manifest, manifest_path)
    return manifest


def load_eval(folder: Path, task: Task | None = None) -> list[dict]:
    """Load the frozen eval set after checking it against its manifest."""
    folder = Path(folder)
    if not (folder / "manifest.json").exists():
        raise FrozenEvalError(f"no frozen eval set at {folder}; run `campaign data freeze` first")
    _verify_files(folder, json.loads((folder / "manifest.json").read_text()), FrozenEvalError)
    return read_table(folder / "eval.parquet", task)


def existing_version(folder: Path, inputs: dict, task: Task | None = None) -> DataVersion | None:
    """The version at ``folder`` if it exists (its inputs must equal ``inputs``), else None."""
    folder = Path(folder)
    if not (folder / "manifest.json").exists():
        return None
    version = load_version(folder, task)
    if version.manifest["inputs"] != inputs:
        raise DataVersionError(f"{folder} was built from different inputs:\n  on disk: {version.manifest['inputs']}\n"
                               f"  asked:   {inputs}\nVersions are immutable: use a new data.name or remove {folder}.")
    return version


def build_base_version(folder: Path, rows: list[dict], eval_rows: list[dict], *, inputs: dict,
                       valid_fraction: float, min_chars: int, max_chars: int, task: Task | None = None) -> DataVersion:
    """Filter and split ``rows`` into version ``folder`` (normally ``v1``), excluding every eval row."""
    folder, task = Path(folder), task_or_default(task)
    version = existing_version(folder, inputs, task)
    if version is not None:
        return version
    exclude = {task.row_key(r) for r in eval_rows}
    kept, stats = quality_filter(rows, min_chars=min_chars, max_chars=max_chars, exclude=exclude, task=task)
    train, valid = split_rows(kept, valid_fraction, task=task)
    write_table(train, folder / "train.parquet", task)
    write_table(valid, folder / "valid.parquet", task)
    manifest = {"kind": "dataset_version", "task": task.spec.kind, "version": folder.name, "parent": None, "inputs": inputs,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "filter": stats,
                "counts": {"train": len(train), "valid": len(valid)},
                "files": _manifest_files(folder, ["train.parquet", "valid.parquet"])}
    write_json(manifest, folder / "manifest.json")
    return DataVersion(folder, train, valid, manifest)


def load_version(folder: Path, task: Task | None = None) -> DataVersion:
    """Load a dataset version after checking its files against the manifest."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise DataVersionError(f"no dataset version at {folder} (missing manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    _verify_files(folder, manifest, DataVersionError)
    return DataVersion(folder, read_table(folder / "train.parquet", task), read_table(folder / "valid.parquet", task),
                       manifest)
