"""Every task's row generator, through the Task interface: seeded, independent of n and of the process, valid rows."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from campaign.tasks import get_task

REPO = Path(__file__).resolve().parents[2]
KINDS = [("hidden_params", ["nostalgia", "warmth"]), ("classify", ["DENY"]), ("mcq", ["colors"])]


@pytest.mark.parametrize("kind, focus", KINDS)
def test_same_seed_same_rows_and_a_prefix_does_not_depend_on_n(kind, focus):
    task = get_task(kind)
    assert task.generate(60, 7, focus_facets=focus) == task.generate(60, 7, focus_facets=focus)
    assert task.generate(60, 7) != task.generate(60, 8)
    assert task.generate(100, 7)[:60] == task.generate(60, 7)


@pytest.mark.parametrize("kind, focus", KINDS)
def test_identical_across_processes_with_other_hash_seeds(kind, focus):
    code = (f"import json; from campaign.tasks import get_task; "
            f"print(json.dumps(get_task({kind!r}).generate(40, 3, focus_facets={focus!r}), ensure_ascii=False))")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "4321"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                         encoding="utf-8", check=True).stdout
    assert json.loads(out) == get_task(kind).generate(40, 3, focus_facets=focus)


@pytest.mark.parametrize("kind, focus", KINDS)
def test_generated_rows_pass_the_tasks_own_validation(kind, focus):
    task = get_task(kind)
    rows = task.generate(200, 11, focus_facets=focus)
    assert task.validate(enumerate(rows, 1), "generated") == rows
