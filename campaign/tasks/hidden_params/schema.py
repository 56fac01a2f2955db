"""The one explicit schema of a teacher row, and its validation.

A row is ``{"id", "request", "lang", "source", "hidden_params": {six ints}}``.
User files must carry ``request`` and ``hidden_params``; ``id``, ``lang`` and
``source`` are optional and filled in. Any other key is an error.

Integral floats (``40.0``) are accepted and stored as the integer ``40``:
pandas and many JSON writers emit them for integer columns, and the value is
exact. Non-integral floats (``40.5``), NaN, infinities, booleans and strings
are rejected. This module imports neither Ray nor torch.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from campaign.tasks.rows import DataValidationError, Problem, check_keys, detect_lang, row_id, validate_all

DIMS: tuple[str, ...] = ("energy", "warmth", "brightness", "acousticness", "complexity", "nostalgia")
VALUE_MIN, VALUE_MAX = 0, 100
REQUIRED_KEYS = ("request", "hidden_params")
OPTIONAL_KEYS = ("id", "lang", "source")
LANGS = ("en", "ja")

__all__ = [
    "DIMS", "VALUE_MIN", "VALUE_MAX", "Problem", "DataValidationError", "features",
    "arrow_schema", "validate_rows", "row_id", "detect_lang", "target_json",
]


def features():
    """The ``datasets.Features`` of a row (imported lazily: datasets is heavy)."""
    from datasets import Features, Value

    return Features({
        "id": Value("string"),
        "request": Value("string"),
        "lang": Value("string"),
        "source": Value("string"),
        "hidden_params": {d: Value("int64") for d in DIMS},
    })


def arrow_schema():
    """The pyarrow schema matching :func:`features`."""
    return features().arrow_schema


def target_json(hidden_params: dict[str, int]) -> str:
    """The completion the model learns: one JSON object in the fixed key order."""
    return json.dumps({d: int(hidden_params[d]) for d in DIMS}, ensure_ascii=False)


def _check_value(value: Any) -> tuple[int | None, str | None]:
    """Return (int value, None) or (None, reason)."""
    if isinstance(value, bool) or value is None or not isinstance(value, (int, float)):
        return None, f"expected an integer 0–100, got {type(value).__name__} {value!r}"
    if isinstance(value, float):
        if math.isnan(value):
            return None, "value is NaN"
        if math.isinf(value):
            return None, f"value is {value}"
        if not value.is_integer():
            return None, f"value {value} is not integral (integral floats like 40.0 are accepted)"
        value = int(value)
    if not VALUE_MIN <= value <= VALUE_MAX:
        return None, f"value {value} is out of range {VALUE_MIN}–{VALUE_MAX}"
    return int(value), None


def _validate_row(raw: Any, file: str, row: int, problems: list[Problem]) -> dict | None:
    start = len(problems)
    if not check_keys(raw, file, row, problems, REQUIRED_KEYS, OPTIONAL_KEYS):
        return None
    request = raw.get("request")
    if "request" in raw and (not isinstance(request, str) or not request.strip()):
        problems.append(Problem(file, row, "request", "must be a non-empty string"))
    for key in OPTIONAL_KEYS:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            problems.append(Problem(file, row, key, f"must be a string, got {type(raw[key]).__name__}"))
    if raw.get("lang") is not None and raw.get("lang") not in LANGS:
        problems.append(Problem(file, row, "lang", f"must be one of {LANGS}, got {raw['lang']!r}"))
    params = _validate_params(raw.get("hidden_params"), file, row, problems) if "hidden_params" in raw else None
    if len(problems) > start:
        return None
    return {
        "id": raw.get("id") or row_id(request),
        "request": request,
        "lang": raw.get("lang") or detect_lang(request),
        "source": raw.get("source") or "user",
        "hidden_params": params,
    }


def _validate_params(params: Any, file: str, row: int, problems: list[Problem]) -> dict | None:
    if not isinstance(params, dict):
        problems.append(Problem(file, row, "hidden_params", f"expected an object with keys {', '.join(DIMS)}"))
        return None
    out: dict[str, int] = {}
    for dim in DIMS:
        if dim not in params:
            problems.append(Problem(file, row, f"hidden_params.{dim}", "missing required key"))
            continue
        value, reason = _check_value(params[dim])
        if reason:
            problems.append(Problem(file, row, f"hidden_params.{dim}", reason))
        else:
            out[dim] = value
    for key in params:
        if key not in DIMS:
            problems.append(Problem(file, row, f"hidden_params.{key}", f"unexpected key (allowed: {', '.join(DIMS)})"))
    return out if len(out) == len(DIMS) and set(params) == set(DIMS) else None


def validate_rows(rows: Iterable[tuple[int, Any]], file: str | Path) -> list[dict]:
    """Validate ``(row_number, raw_row)`` pairs; return normalised rows or raise with every problem."""
    file = str(file)
    return validate_all(rows, file, _validate_row)
