"""Read user data (JSONL, Parquet, a ``datasets`` folder) and write dataset files atomically.

Every reader maps the user's column names onto the task's fields
(``data.columns``) and validates every row with the task's own rules before
returning; on any problem it raises :class:`DataValidationError` naming the
file, row and field. Writers write to a temporary name and rename, so a failed
run never leaves a partial file behind.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

from campaign.tasks.base import Task, task_or_default
from campaign.tasks.columns import map_columns
from campaign.tasks.rows import DataValidationError, Problem

__all__ = ["load_rows", "read_table", "write_table", "sha256_file", "write_json"]

SUPPORTED = "a .jsonl/.json file, a .parquet file, or a folder written by datasets' save_to_disk"


def load_rows(path: str | Path, task: Task | None = None, columns: dict[str, str] | None = None) -> list[dict]:
    """Load user rows from any supported format, rename ``columns`` (task field -> your column), validate."""
    path, task = Path(path), task_or_default(task)
    if not path.exists():
        raise DataValidationError([Problem(str(path), None, None, f"does not exist (expected {SUPPORTED})")])
    if path.is_dir():
        rows = _iter_datasets_dir(path)
    elif path.stat().st_size == 0:
        raise DataValidationError([Problem(str(path), None, None, "file is empty")])
    elif path.suffix.lower() in (".jsonl", ".json"):
        rows = _iter_jsonl(path)
    elif path.suffix.lower() == ".parquet":
        rows = _iter_parquet(path)
    else:
        raise DataValidationError([Problem(str(path), None, None,
                                           f"unsupported format {path.suffix.lower()!r} (expected {SUPPORTED})")])
    return task.validate(map_columns(list(rows), columns or {}, str(path)), str(path))


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """JSON Lines; a ``.json`` file may instead hold one JSON array of rows (numbered from 1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataValidationError([Problem(str(path), line, None, f"not UTF-8 text ({err.reason} at byte {err.start})")]) from err
    if not text.strip():
        raise DataValidationError([Problem(str(path), None, None, "file is empty")])
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataValidationError([Problem(str(path), err.lineno, None, f"broken JSON: {err.msg}")]) from err
        yield from enumerate(items, 1)
        return
    problems, rows = [], []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            # NaN and Infinity parse to floats here; row validation rejects them with the field named.
            rows.append((line_no, json.loads(line)))
        except json.JSONDecodeError as err:
            problems.append(Problem(str(path), line_no, None, f"broken JSON line: {err.msg} at column {err.colno}"))
    if problems:
        raise DataValidationError(problems)
    yield from rows


def _iter_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataValidationError([Problem(str(path), None, None, f"not a readable Parquet file: {err}")]) from err
    yield from enumerate(table.to_pylist(), 1)


def _iter_datasets_dir(path: Path) -> Iterator[tuple[int, Any]]:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except Exception as err:
        raise DataValidationError([Problem(str(path), None, None, f"not a datasets folder ({err})")]) from err
    if isinstance(ds, DatasetDict):
        if "train" not in ds:
            raise DataValidationError([Problem(str(path), None, None, f"DatasetDict has no 'train' split (has {list(ds)})")])
        ds = ds["train"]
    assert isinstance(ds, Dataset)
    yield from enumerate(ds.to_list(), 1)


def read_table(path: str | Path, task: Task | None = None) -> list[dict]:
    """Read a Parquet file this engine wrote; the schema must match exactly."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if not table.schema.equals(task_or_default(task).features().arrow_schema, check_metadata=False):
        raise DataValidationError([Problem(str(path), None, None, f"schema differs from the engine's:\n{table.schema}")])
    return table.to_pylist()


def write_table(rows: list[dict], path: str | Path, task: Task | None = None) -> str:
    """Write rows as Parquet with the explicit schema, atomically; return its sha256."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=task_or_default(task).features().arrow_schema)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return sha256_file(path)


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON atomically (indent 2, UTF-8 kept readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
