"""A campaign's state on disk: ``results/<campaign>/campaign.json`` and the per-cycle files (no Ray, no torch).

``campaign.json`` is rewritten atomically after every step that matters, so a
killed driver leaves the last completed step on disk and ``campaign resume``
continues from it. Everything else a person reads (status, report) is built
from these files.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from campaign.data.io import write_json

__all__ = ["focus_of", "read_hard_facets", "STATE_FILE", "new_state", "load_state", "save_state", "mark_driver", "cycle_folder", "read_json", "driver_alive",
           "promote", "load_view"]

STATE_FILE = "campaign.json"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_state(cfg) -> dict:
    return {"campaign": cfg.name, "created": _now(), "updated": _now(), "status": "running", "stop_reason": None,
            "cwd": os.getcwd(), "config": cfg.to_dict(), "driver": None, "cycles": {}, "promoted": None,
            "history": []}


def load_state(folder: Path) -> dict:
    path = Path(folder) / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{folder} is not a campaign folder (no {STATE_FILE}); "
                                "start one with `campaign run --config ...`")
    return json.loads(path.read_text(encoding="utf-8"))


def save_state(folder: Path, state: dict) -> None:
    state["updated"] = _now()
    write_json(state, Path(folder) / STATE_FILE)


def mark_driver(state: dict) -> None:
    state["driver"] = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}


def driver_alive(state: dict) -> bool:
    """Whether the driver recorded in ``state`` still runs (only knowable on its own host)."""
    d = state.get("driver") or {}
    if d.get("host") != socket.gethostname() or not d.get("pid"):
        return False
    try:
        os.kill(d["pid"], 0)
    except OSError:
        return False
    return True


def cycle_folder(folder: Path, cycle: int) -> Path:
    return Path(folder) / f"cycle_{cycle}"


def read_json(path: Path):
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def promote(folder: Path, cycle: int, best: dict, data_version: str, gate: dict) -> dict:
    """Copy cycle ``cycle``'s best adapter to ``folder``/promoted (swapped in whole) and return its record."""
    src = cycle_folder(folder, cycle) / "best_adapter"
    record = {"cycle": cycle, "trial": best["trial"], "trial_id": best["trial_id"], "data_version": data_version,
              "config": best["config"], "metrics": {k: v for k, v in best["metrics"].items() if k.startswith("eval/")},
              "gate": gate["summary"], "promoted": _now(), "source": str(src)}
    tmp = Path(folder) / ".promoted.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    write_json(record, tmp / "lineage.json")
    write_json(record["metrics"], tmp / "metrics.json")
    old = Path(folder) / ".promoted.old"
    shutil.rmtree(old, ignore_errors=True)
    if (Path(folder) / "promoted").exists():
        os.replace(Path(folder) / "promoted", old)
    os.replace(tmp, Path(folder) / "promoted")
    shutil.rmtree(old, ignore_errors=True)
    return record


def focus_of(record: dict | None) -> list[str]:
    """A plan's or cycle's focus facets (``focus_dims`` in folders written before facets had their name)."""
    record = record or {}
    return list(record.get("focus_facets", record.get("focus_dims")) or [])


def read_hard_facets(cycle_dir: Path) -> dict | None:
    """A cycle's hard-facet choice (``hard_dims.json`` in folders written before facets had their name)."""
    from campaign.decide.hard_facets import facets_record

    record = read_json(Path(cycle_dir) / "hard_facets.json") or read_json(Path(cycle_dir) / "hard_dims.json")
    return facets_record(record) if record is not None else None


AB_FOLDER = "ab_promoted_vs_base"  # in a campaign folder: the A/B of the promoted model against the base model


def load_view(folder: Path) -> dict:
    """Everything the report shows, as plain data (see ``campaign.reporting.report``)."""
    from campaign.tasks.base import task_from_config

    state = load_state(folder)
    cfg = state["config"]
    cycles = []
    for key in sorted(state["cycles"], key=int):
        cs = state["cycles"][key]
        cf = cycle_folder(folder, int(key))
        plan = read_json(cf / "plan.json") or {}
        cycles.append({"cycle": int(key), "status": cs["status"], "focus_facets": focus_of(plan),
                       "data_version": plan.get("data_version"), "data_summary": plan.get("data_summary", ""),
                       "seeding": (plan.get("seeding") or {}).get("summary", ""),
                       "snapshot": read_json(cf / "validation_snapshot.json") if cs["status"] == "done" else None,
                       "hard_facets": read_hard_facets(cf), "gate": read_json(cf / "gate.json"),
                       "effects": read_json(cf / "effects.json")})
    spec = task_from_config(cfg.get("task")).spec
    return {"campaign": state["campaign"], "generated": _now(), "metric": cfg["search"]["metric"],
            "mode": cfg["search"]["mode"], "task": spec.to_dict(), "facets": list(spec.facets),
            "cycles": cycles, "promoted": state["promoted"], "ab": read_json(Path(folder) / AB_FOLDER / "ab.json"),
            "ab_href": f"{AB_FOLDER}/ab.html",
            "status": state["status"], "stop_reason": state.get("stop_reason")}
