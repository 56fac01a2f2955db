"""Row-validation errors every task raises: each problem located by file, 1-based row and field."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Problem", "DataValidationError", "MAX_PROBLEMS_SHOWN"]

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
