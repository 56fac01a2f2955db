"""Helpers the task tests share: load a bad file and check that its one problem names file, row and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from campaign.data.io import load_rows
from campaign.tasks.rows import DataValidationError


def load_error(path: Path, task) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_rows(path, task)
    return info.value


def assert_one(err: DataValidationError, path: Path, row, field, fragment: str) -> None:
    """The single problem names file, row and field, in err.problems and in the message."""
    assert len(err.problems) == 1, err.problems
    p = err.problems[0]
    assert (p.file, p.row, p.field) == (str(path), row, field)
    assert fragment in p.message, p.message
    text = str(err)
    assert str(path) in text and fragment in text
    if row is not None:
        assert f"row {row}" in text
    if field is not None:
        assert f"field {field!r}" in text
