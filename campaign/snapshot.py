"""Turn a Tune ResultGrid into plain trial records and write a cycle's snapshot files."""
from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

from campaign.data.io import write_json
from campaign.search import flatten

__all__ = ["strict_json", "trial_records", "write_snapshot", "copy_best_adapter", "summary_rows", "timing_rows"]


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


def summary_rows(snapshot: dict) -> list[list[str]]:
    """Rows of the printed summary table: trials, then baselines, on the frozen eval set."""
    def f(v, fmt="{:.2f}"):
        return "—" if v is None else fmt.format(v)

    def short(key, v):
        return f"{key.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{key.split('.')[-1]}={v}"

    rows = []
    for r in snapshot["trials"]:
        m = r["metrics"]
        best = "★" if r["trial_id"] == snapshot.get("best_trial") else ""
        rows.append([f"{r['trial']}{best}", r["state"].lower(), " ".join(short(k, v) for k, v in r["config"].items()),
                     f(m.get("valid/objective")), f(m.get("eval/json_valid_rate")), f(m.get("eval/mae_raw")),
                     f(m.get("time_total_s"), "{:.0f}")])
    for b in snapshot["baselines"]:
        m = b["metrics"]
        rows.append([b["mode"], "", "", "", f(m.get("eval/json_valid_rate")), f(m.get("eval/mae_raw")), ""])
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
