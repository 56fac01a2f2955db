"""Row-validation errors every task raises: each problem located by file, 1-based row and field."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Problem", "DataValidationError", "MAX_PROBLEMS_SHOWN", "row_id", "detect_lang", "check_keys", "check_generate_args",
           "validate_all"]

MAX_PROBLEMS_SHOWN = 20


@dataclass(frozen=True)
class Problem:
    """One validation failure, located by file, 1-based row and field."""

    file: str
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}: row {self.row}"
        return f"{where}: {'field ' + repr(self.field) + ': ' if self.field else ''}{self.message}"


class DataValidationError(ValueError):
    """Raised when a dataset fails validation; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(f"{len(problems)} data problem(s); nothing was written:\n  {shown}{tail}")


def row_id(text: str) -> str:
    """A stable id from a row's input text, so the same text always maps to one id."""
    import hashlib

    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:12]


def detect_lang(text: str) -> str:
    """``ja`` when the text has any kana or CJK ideographs, else ``en``."""
    return "ja" if any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def check_keys(raw, file: str, row: int, problems: list[Problem], required: tuple[str, ...],
               optional: tuple[str, ...]) -> bool:
    """Append a problem for a non-object row, each missing required key and each unexpected key; False for a non-object."""
    if not isinstance(raw, dict):
        problems.append(Problem(file, row, None, f"expected a JSON object, got {type(raw).__name__}"))
        return False
    for key in required:
        if key not in raw:
            problems.append(Problem(file, row, key, "missing required key"))
    for key in raw:
        if key not in required + optional:
            problems.append(Problem(file, row, key, f"unexpected key (allowed: {', '.join(required + optional)})"))
    return True


def check_generate_args(n, seed, ja_share, source, id_prefix, focus, known: tuple[str, ...], what: str,
                        name: str = "focus_facets") -> tuple[str, ...]:
    """A row generator's arguments checked (ValueError naming the argument); the focus in ``known``'s order."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(ja_share, bool) or not isinstance(ja_share, (int, float)) or not 0 <= ja_share <= 1:
        raise ValueError(f"ja_share must be a number in [0, 1], got {ja_share!r}")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"source must be a non-empty string, got {source!r}")
    if not isinstance(id_prefix, str):
        raise ValueError(f"id_prefix must be a string, got {id_prefix!r}")
    if isinstance(focus, str):  # a bare string would be iterated character by character
        raise ValueError(f"{name} must be a sequence of {what} names, not the string {focus!r}")
    for item in focus:
        if item not in known:
            raise ValueError(f"{name}: unknown {what} {item!r} (known: {', '.join(known)})")
    return tuple(k for k in known if k in focus)


def validate_all(rows, file: str, validate_row) -> list[dict]:
    """Run ``validate_row(raw, file, row, problems)`` over ``(row_number, raw)`` pairs; raise with every problem."""
    problems: list[Problem] = []
    out = []
    for row, raw in rows:
        clean = validate_row(raw, file, row, problems)
        if clean is not None:
            out.append(clean)
    if not out and not problems:
        problems.append(Problem(file, None, None, "file holds no rows"))
    if problems:
        raise DataValidationError(problems)
    return out
