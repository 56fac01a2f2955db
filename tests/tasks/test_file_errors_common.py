"""File-level bad input, the same for every task: a broken JSON line, an empty file, non-UTF-8 bytes.

Each is rejected before any row is validated, naming the file (and the row where there is one).
"""
from __future__ import annotations

import json

import pytest
from row_problems import assert_one, load_error

from campaign.tasks import get_task

KINDS = ["hidden_params", "classify", "mcq"]


def _good(kind: str) -> str:
    return json.dumps(get_task(kind).generate(1, 0)[0], ensure_ascii=False)


@pytest.mark.parametrize("kind", KINDS)
def test_a_broken_json_line(tmp_path, kind):
    path = tmp_path / "b.jsonl"
    path.write_text(_good(kind) + "\n" + _good(kind)[:-9] + "\n", encoding="utf-8")
    assert_one(load_error(path, get_task(kind)), path, 2, None, "broken JSON line")


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_file_and_a_file_of_blank_lines(tmp_path, kind):
    empty, blank = tmp_path / "empty.jsonl", tmp_path / "blank.jsonl"
    empty.write_bytes(b"")
    blank.write_text("\n\n", encoding="utf-8")
    for path in (empty, blank):
        assert_one(load_error(path, get_task(kind)), path, None, None, "file is empty")


@pytest.mark.parametrize("kind", KINDS)
def test_non_utf8_bytes(tmp_path, kind):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(_good(kind).encode() + b"\n" + b'{"x": "caf\xe9"}\n')
    assert_one(load_error(path, get_task(kind)), path, 2, None, "not UTF-8 text")
