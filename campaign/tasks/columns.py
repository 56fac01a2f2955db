"""``data.columns``: the user's column names onto a task's field names, as LLaMA-Factory's column map.

``{request: request_text}`` reads the column ``request_text`` as the field
``request``. A mapped column that no row has, or a row holding both the field
and the column mapped onto it, is an error naming the file (and the row).
Which fields a task has is checked against the config (``data.columns.<field>``).
"""
from __future__ import annotations

from typing import Any

from campaign.tasks.rows import DataValidationError, Problem

__all__ = ["map_columns"]


def map_columns(rows: list[tuple[int, Any]], columns: dict[str, str], file: str) -> list[tuple[int, Any]]:
    """``(row_number, raw_row)`` pairs with each mapped column renamed to its task field."""
    if not columns:
        return rows
    seen: set[str] = set()
    for _, raw in rows:
        if isinstance(raw, dict):
            seen.update(raw)
    missing = [(field, col) for field, col in columns.items() if col not in seen]
    if missing:
        listing = ", ".join(sorted(seen)) or "none"
        raise DataValidationError([Problem(file, None, col, f"data.columns.{field} names column {col!r}, which no "
                                           f"row has (columns found: {listing})") for field, col in missing])
    problems, out = [], []
    renamed = {col: field for field, col in columns.items()}
    for number, raw in rows:
        if not isinstance(raw, dict):
            out.append((number, raw))
            continue
        clash = [f for c, f in renamed.items() if c in raw and f in raw and f != c]
        for field in clash:
            problems.append(Problem(file, number, field, f"present both as {field!r} and as the column "
                                    f"{columns[field]!r} mapped onto it by data.columns.{field}"))
        out.append((number, {renamed.get(k, k): v for k, v in raw.items()}))
    if problems:
        raise DataValidationError(problems)
    return out
