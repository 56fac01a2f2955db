"""Turn a Tune ResultGrid into plain trial records and write a cycle's snapshot files."""
from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

from campaign.config.search import flatten
from campaign.data.io import write_json

__all__ = ["strict_json", "trial_records", "write_snapshot", "copy_best_adapter", "summary_rows", "timing_rows",
           "orchestration_overhead", "orchestration_line"]


def _trial_id(result, known: dict | None = None) -> str:
    """The reported trial id; a trial that failed before reporting is matched by its folder name."""
    reported = (result.metrics or {}).get("trial_id")
    if reported:
        return reported
    name = Path(result.path).name
    return next((k for k in known or {} if f"-{k}_" in name or f"_{k}_" in name), name)


def _trial_index(record: dict) -> int:
    """Tune's creation counter, from the trial folder name ``<trainable>_<id>_<n>_<params>``."""
    match = re.search(rf"{re.escape(record['trial_id'])}_(\d+)", Path(record["trial_dir"]).name)
    return int(match.group(1)) if match else 10**9


def strict_json(value):
    """NaN/inf -> None, recursively: the snapshot must be strict JSON."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict_json(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def trial_records(result_grid, searched: list[str], statuses: dict[str, str] | None = None) -> list[dict]:
    """One plain record per trial, in trial-creation order; ``statuses`` is Tune's status by trial id."""
    records = []
    for result in result_grid:
        metrics = result.metrics or {}
        config = flatten(result.config or {})
        numeric = {k: strict_json(v) for k, v in metrics.items() if ("/" in k or k in ("epoch", "time_total_s"))
                   and isinstance(v, (int, float)) and not isinstance(v, bool)}
        trial_id = _trial_id(result, statuses)
        state = (statuses or {}).get(trial_id) or ("ERROR" if result.error else "TERMINATED")
        records.append({
            "trial_id": trial_id, "state": state,
            "error": None if result.error is None else str(result.error).strip()[-2000:],
            "config": {k: config.get(k) for k in searched}, "metrics": numeric,
            "checkpoint_path": metrics.get("checkpoint_path"), "trial_dir": str(result.path),
        })
    records.sort(key=lambda r: (_trial_index(r), r["trial_id"]))
    for i, r in enumerate(records, 1):
        r["trial"] = i
    return records


def _csv_rows(snapshot: dict) -> list[dict]:
    rows = []
    for r in snapshot["trials"]:
        rows.append({"kind": "trial", "name": r["trial_id"], "state": r["state"], "error": r["error"] or "",
                     **{f"config/{k}": v for k, v in r["config"].items()}, **r["metrics"]})
    for b in snapshot["baselines"]:
        rows.append({"kind": "baseline", "name": b["mode"], "state": "DONE", "error": "", **b["metrics"]})
    return rows


def write_snapshot(folder: Path, snapshot: dict) -> dict:
    """Write ``validation_snapshot.json`` and ``.csv`` (one row per trial and baseline); return the strict-JSON snapshot."""
    snapshot = strict_json(snapshot)
    write_json(snapshot, folder / "validation_snapshot.json")
    rows = _csv_rows(snapshot)
    fixed = ["kind", "name", "state", "error"]
    rest = sorted({k for row in rows for k in row} - set(fixed), key=lambda k: (not k.startswith("config/"), k))
    tmp = folder / "validation_snapshot.csv.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fixed + rest)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(folder / "validation_snapshot.csv")
    return snapshot


def copy_best_adapter(record: dict, folder: Path, lineage: dict | None = None) -> Path | None:
    """Copy the best trial's final checkpoint (adapter, metrics, outputs) to ``folder``/best_adapter."""
    src = record.get("checkpoint_path")
    if not src or not Path(src).exists():
        return None
    dst = folder / "best_adapter"
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    (dst / "lineage.json").write_text(json.dumps({**(lineage or {}), "trial": record.get("trial"),
                                                  "trial_id": record["trial_id"], "config": record["config"],
                                                  "checkpoint": src}, indent=1))
    return dst


def spec_of(snapshot: dict):
    """The task spec a snapshot was written for (snapshots from before tasks were plug-ins: the default task)."""
    from campaign.tasks.base import TaskSpec, task_or_default

    return TaskSpec.from_dict(snapshot["task"]) if snapshot.get("task") else task_or_default(None).spec


def summary_columns(snapshot: dict) -> list[str]:
    spec = spec_of(snapshot)
    return ["trial", "state", "searched config", "valid objective", f"eval {spec.valid_rate}", f"eval {spec.primary}",
            "wall s"]


def summary_rows(snapshot: dict) -> list[list[str]]:
    """Rows of the printed summary table: trials, then baselines, on the frozen eval set."""
    spec = spec_of(snapshot)
    valid, primary = f"eval/{spec.valid_rate}", f"eval/{spec.primary}"
    def f(v, fmt="{:.2f}"):
        return "—" if v is None else fmt.format(v)

    def short(key, v):
        return f"{key.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{key.split('.')[-1]}={v}"

    rows = []
    for r in snapshot["trials"]:
        m = r["metrics"]
        best = "★" if r["trial_id"] == snapshot.get("best_trial") else ""
        rows.append([f"{r['trial']}{best}", r["state"].lower(), " ".join(short(k, v) for k, v in r["config"].items()),
                     f(m.get("valid/objective")), f(m.get(valid)), f(m.get(primary)),
                     f(m.get("time_total_s"), "{:.0f}")])
    for b in snapshot["baselines"]:
        m = b["metrics"]
        rows.append([b["mode"], "", "", "", f(m.get(valid)), f(m.get(primary)), ""])
    return rows


TIMING_KEYS = ("time/worker_start_s", "time/model_load_s", "time/train_s", "time/eval_s")


def timing_rows(snapshot: dict) -> list[list[str]]:
    """Per finished trial: wall time split into Ray start-up, model load, train, eval and the rest."""
    rows = []
    for r in snapshot["trials"]:
        m = r["metrics"]
        if r["state"] != "TERMINATED" or not all(isinstance(m.get(k), (int, float)) for k in TIMING_KEYS):
            continue
        wall = m["time_total_s"]
        parts = [m[k] for k in TIMING_KEYS]
        if m.get("trial/rereported") == 1:  # finished before a restart: Tune timed only the re-report
            rows.append([str(r["trial"]), "re-reported", *[f"{v:.1f}" for v in parts], "—",
                         f"{m.get('train/tokens_per_s', 0):.0f}"])
            continue
        # The worker's clock starts a moment before Tune's, so "other" can dip just below zero.
        cells = [f"{v:.1f} ({100 * v / wall:.0f}%)" for v in parts + [max(wall - sum(parts), 0.0)]]
        rows.append([str(r["trial"]), f"{wall:.1f}", *cells, f"{m.get('train/tokens_per_s', 0):.0f}"])
    return rows


def orchestration_overhead(records: list[dict], search_wall_s: float | None, concurrency: int,
                           resumed: bool = False) -> dict:
    """A cycle's search wall time against the trials' own train + eval time spread over the concurrency.

    ``ideal_wall_s`` = sum of ``time/train_s + time/eval_s`` over the trials that trained in this
    search (re-reported trials trained before a restart and are left out), divided by the trials
    that could run at once (``concurrency``, at most the number of such trials). ``ratio`` =
    wall / ideal: 1.00 means no orchestration overhead (Ray start-up, model loading, scheduling and
    idle slots make it larger). ``resumed``: the search was restored after an interruption, so the
    wall time covers only the resumed part. Pure: plain records and numbers in, a dict out.
    """
    timed = [r["metrics"] for r in records
             if all(isinstance(r["metrics"].get(k), (int, float)) for k in ("time/train_s", "time/eval_s"))
             and r["metrics"].get("trial/rereported") != 1]
    work = float(sum(m["time/train_s"] + m["time/eval_s"] for m in timed))
    at_once = max(1, min(int(concurrency or 1), len(timed) or 1))
    ideal = work / at_once
    wall = None if search_wall_s is None else float(search_wall_s)
    ratio = wall / ideal if wall is not None and ideal > 0 else None
    return {"search_wall_s": wall, "trials_timed": len(timed), "trials": len(records),
            "train_eval_s": work, "concurrency": int(concurrency or 1), "at_once": at_once,
            "ideal_wall_s": ideal, "ratio": ratio, "resumed": bool(resumed)}


def orchestration_line(o: dict) -> str:
    """``  orchestration: search wall 312s vs trials' train+eval 251s / 2 at once = 126s → ratio 2.48 (...)``."""
    if o.get("search_wall_s") is None:
        return "  orchestration: search wall time not measured"
    def secs(v: float) -> str:
        return f"{v:.0f}s" if v >= 10 else f"{v:.1f}s"

    ratio = "—" if o.get("ratio") is None else f"{o['ratio']:.2f}"
    line = (f"  orchestration: search wall {secs(o['search_wall_s'])} vs trials' train+eval {secs(o['train_eval_s'])}"
            f" / {o['at_once']} at once = {secs(o['ideal_wall_s'])} → ratio {ratio} (1.00 = no overhead)")
    if o.get("trials_timed", 0) < o.get("trials", 0):
        line += f"; {o['trials_timed']} of {o['trials']} trials timed"
    if o.get("resumed"):
        line += "; search resumed after an interruption: the wall time covers only the resumed part"
    return line
