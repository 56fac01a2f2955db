"""The row schema of the safety classifier, label normalisation, and row validation.

A row is ``{"id", "text", "lang", "source", "label"}``. User files must carry ``text``
and ``label``; ``id`` (default: a stable hash of the text), ``lang`` (``en``/``ja``,
default: detected from the text) and ``source`` (default ``user``) are optional. Any
other key is an error, and every problem of a file is reported at once.

The case rule for gold labels (``task.label_case``):

- ``insensitive`` (the default): a label equal to a configured label up to case
  (``"allow"``, ``"Deny"``) is accepted and stored in the configured spelling
  (``"ALLOW"``), since spreadsheets and older pipelines write labels in any case.
- ``exact``: only the configured spelling is accepted; ``"allow"`` is rejected with a
  did-you-mean hint.

Surrounding whitespace is never stripped (``" ALLOW"`` is rejected under both): it
usually means a broken export, and silently fixing it would hide that. This module
imports neither Ray nor torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from campaign.tasks.rows import Problem, check_keys, detect_lang, row_id, validate_all

__all__ = ["REQUIRED_KEYS", "OPTIONAL_KEYS", "LANGS", "LABEL_CASES", "features", "row_id", "detect_lang",
           "normalize_label", "validate_rows"]

REQUIRED_KEYS = ("text", "label")
OPTIONAL_KEYS = ("id", "lang", "source")
LANGS = ("en", "ja")
LABEL_CASES = ("insensitive", "exact")


def features():
    """The ``datasets.Features`` of a row (imported lazily: datasets is heavy)."""
    from datasets import Features, Value

    return Features({k: Value("string") for k in ("id", "text", "lang", "source", "label")})


def _by_fold(labels: Sequence[str], value: str) -> str | None:
    """The one label equal to ``value`` up to case, or None (also when several are: exact-case label sets)."""
    hits = [label for label in labels if label.casefold() == value.casefold()]
    return hits[0] if len(hits) == 1 else None


def normalize_label(value: Any, labels: Sequence[str], label_case: str = "insensitive") -> tuple[str | None, str | None]:
    """``(label in its configured spelling, None)`` for an accepted gold label, else ``(None, reason)``."""
    allowed = ", ".join(labels)
    if not isinstance(value, str):
        got = "null" if value is None else f"{type(value).__name__} {value!r}"
        return None, f"must be a string naming one of {allowed}, got {got}"
    if value in labels:
        return value, None
    folded = _by_fold(labels, value)
    if folded is not None and label_case == "insensitive":
        return folded, None
    hint = ""
    if folded is not None:
        hint = f"; did you mean {folded!r}? (task.label_case: exact)"
    elif value.strip() != value and (value.strip() in labels or _by_fold(labels, value.strip())):
        hint = "; surrounding whitespace is not stripped"
    return None, f"{value!r} is not a label; allowed: {allowed}{hint}"


def _check_text(raw: dict, file: str, row: int, problems: list[Problem]) -> None:
    text = raw.get("text")
    if "text" in raw and (not isinstance(text, str) or not text.strip()):
        got = "" if isinstance(text, str) else f", got {'null' if text is None else type(text).__name__}"
        problems.append(Problem(file, row, "text", f"must be a non-empty string{got}"))


def _check_optional(raw: dict, file: str, row: int, problems: list[Problem]) -> None:
    for key in OPTIONAL_KEYS:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            problems.append(Problem(file, row, key, f"must be a string, got {type(raw[key]).__name__}"))
    if isinstance(raw.get("lang"), str) and raw["lang"] not in LANGS:
        problems.append(Problem(file, row, "lang", f"must be one of {', '.join(LANGS)}, got {raw['lang']!r}"))


def _validate_row(raw: Any, file: str, row: int, problems: list[Problem], labels: Sequence[str],
                  label_case: str) -> dict | None:
    start = len(problems)
    if not check_keys(raw, file, row, problems, REQUIRED_KEYS, OPTIONAL_KEYS):
        return None
    _check_text(raw, file, row, problems)
    label = None
    if "label" in raw:
        label, reason = normalize_label(raw["label"], labels, label_case)
        if reason:
            problems.append(Problem(file, row, "label", reason))
    _check_optional(raw, file, row, problems)
    if len(problems) > start:
        return None
    text = raw["text"]
    return {"id": raw.get("id") or row_id(text), "text": text, "lang": raw.get("lang") or detect_lang(text),
            "source": raw.get("source") or "user", "label": label}


def validate_rows(rows: Iterable[tuple[int, Any]], file: str | Path, labels: Sequence[str],
                  label_case: str = "insensitive") -> list[dict]:
    """Validate ``(row_number, raw_row)`` pairs; return canonical rows or raise with every problem."""
    file = str(file)
    return validate_all(rows, file, lambda raw, f, row, problems: _validate_row(raw, f, row, problems, labels,
                                                                               label_case))
