"""The per-row evidence the gate pairs: each model's outputs on the frozen eval set, as error tables.

Outputs come from what the campaign already keeps: ``best_adapter/details.json`` of a cycle (its
best trial's eval outputs), ``promoted/details.json``, and the baselines' outputs in
``baselines.json``. A model whose outputs are missing (a folder from before they were kept) is left
out, and the gate then decides that comparison on the metric values.
"""
from __future__ import annotations

import json
from pathlib import Path

from campaign.decide.effects import find_trial, split_effects
from campaign.decide.paired import row_error_table
from campaign.decide.state import cycle_folder

__all__ = ["eval_outputs", "paired_tables", "trial_table", "recorded_train_sha256", "cycle_effects",
           "facet_reference"]


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


def trial_table(task, eval_rows: list[dict], record: dict | None) -> dict | None:
    """Per-row eval errors of one trial, from its final checkpoint's ``details.json``."""
    if not record or not record.get("checkpoint_path"):
        return None
    return _table(task, eval_rows, eval_outputs(Path(record["checkpoint_path"])))


def recorded_train_sha256(record: dict) -> str | None:
    """The sha256 of the rows a trial trained on, as its final checkpoint's ``train_set.json`` recorded it."""
    path = Path(record.get("checkpoint_path") or "") / "train_set.json"
    return json.loads(path.read_text()).get("sha256") if record.get("checkpoint_path") and path.exists() else None


def cycle_effects(task, eval_rows: list[dict], campaign: Path, cycle: int, plan: dict, records: list[dict],
                  best: dict | None, previous_best: dict | None, gate_cfg) -> dict | None:
    """The noise / data / search split of cycle ``cycle`` (``decide.effects``), or None without a control."""
    seeding = plan["seeding"]
    control = seeding.get("control")
    if not control or best is None:
        return None
    points = seeding["points"]
    found = {"control": find_trial(records, control["config"]),
             "data_trial": find_trial(records, points[1]) if len(points) > 1 else None, "best": best}
    tables = {name: trial_table(task, eval_rows, rec) for name, rec in found.items()}
    tables["previous_best"] = _table(task, eval_rows, eval_outputs(cycle_folder(campaign, cycle - 1) / "best_adapter"))
    trials = {name: rec["trial"] if rec else None for name, rec in {**found, "previous_best": previous_best}.items()}
    focus = list(plan.get("focus_facets") or [])
    return split_effects(tables, trials, focus, confidence=gate_cfg.confidence, resamples=gate_cfg.resamples, seed=cycle)


def facet_reference(task, train: list[dict], valid: list[dict]) -> dict | None:
    """Per-facet error of the task's first model-free baseline on ``valid`` (``cycles.hard_by: relative``)."""
    outputs = task.baseline_outputs(train, valid)
    if not outputs:
        return None
    name, outs = next(iter(outputs.items()))
    table = row_error_table(task, valid, {r["id"]: o for r, o in zip(valid, outs)})
    return {"name": name, "errors": {f: sum(v) / len(v) for f, v in table["facets"].items()}}
