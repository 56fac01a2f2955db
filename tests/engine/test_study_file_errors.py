"""`campaign resume` on a campaign whose optuna.db is locked by another process or damaged.

It stops before Ray starts and before any trial, with rc 2 and a message naming the file; the
file (and the rest of the folder) is left exactly as it was, never replaced.
"""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracking"))
from study_campaign import make_campaign, tree  # noqa: E402

from campaign.cli.main import main  # noqa: E402


def test_resume_with_a_damaged_study_file_names_it_and_leaves_it(tmp_path, capsys):
    folder = make_campaign(tmp_path)
    (folder / "optuna.db").write_bytes(b"not a database " * 300)
    before = tree(tmp_path)
    assert main(["resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'optuna.db'}: the Optuna study file is damaged or not an SQLite database" in err
    assert "It was left as it is" in err and "Traceback" not in err
    assert tree(tmp_path) == before


def test_resume_with_a_locked_study_file_names_it_and_leaves_it(tmp_path, capsys):
    folder = make_campaign(tmp_path)
    before = tree(tmp_path)
    holder = sqlite3.connect(folder / "optuna.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # what a second writer (or a sqlite3 shell mid-transaction) holds
    try:
        assert main(["resume", str(folder)]) == 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert f"{folder / 'optuna.db'}: the Optuna study file is locked by another process" in err
    assert "The file was not changed." in err
    assert tree(tmp_path) == before
