"""The per-row evidence the gate pairs: each model's outputs on the frozen eval set, as error tables.

Outputs come from what the campaign already keeps: ``best_adapter/details.json`` of a cycle (its
best trial's eval outputs), ``promoted/details.json``, and the baselines' outputs in
``baselines.json``. A model whose outputs are missing (a folder from before they were kept) is left
out, and the gate then decides that comparison on the metric values.
"""
from __future__ import annotations

import json
from pathlib import Path

from campaign.decide.paired import row_error_table
from campaign.decide.state import cycle_folder

__all__ = ["eval_outputs", "paired_tables"]


def eval_outputs(model_dir: Path) -> dict[str, str] | None:
    """``{row id: output}`` on the frozen eval set of the model saved in ``model_dir``, if recorded."""
    path = Path(model_dir) / "details.json"
    if not path.exists():
        return None
    outputs = (json.loads(path.read_text()).get("eval") or {}).get("outputs")
    return {o["id"]: o["output"] for o in outputs} if outputs else None


def _table(task, rows: list[dict], outputs: dict | None) -> dict | None:
    if not outputs or any(r["id"] not in outputs for r in rows):
        return None
    return row_error_table(task, rows, outputs)


def paired_tables(task, eval_rows: list[dict], campaign: Path, cycle: int, baselines: list[dict]) -> dict | None:
    """Per-row error tables of this cycle's best, the previous cycle's best, the promoted model and each baseline."""
    candidate = _table(task, eval_rows, eval_outputs(cycle_folder(campaign, cycle) / "best_adapter"))
    if candidate is None:
        return None
    previous = _table(task, eval_rows, eval_outputs(cycle_folder(campaign, cycle - 1) / "best_adapter")) \
        if cycle > 1 else None
    return {"candidate": candidate, "previous_best": previous,
            "promoted": _table(task, eval_rows, eval_outputs(Path(campaign) / "promoted")),
            "baselines": {b["mode"]: t for b in baselines if (t := _table(task, eval_rows, b.get("outputs")))}}
