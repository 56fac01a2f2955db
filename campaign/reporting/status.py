"""``campaign status``: where a campaign stands, read from its files (Ray need not run).

A finished (or failed) cycle's counts come from its ``validation_snapshot.json``.
A cycle still searching is read live, without Ray and without torch, from three
kinds of files (``live_trials`` is the pure rule, ``read_live`` gathers the files):

* Tune's experiment state, ``<cycle>/tune/experiment_state-*.json`` (the newest
  by name, as Tune picks it), read as raw JSON. Its ``trial_data`` is a list of
  ``[trial_json, run_metadata_json]`` string pairs; the trial JSON carries
  ``status``, ``trial_id``, ``experiment_tag``, ``custom_trial_name``,
  ``relative_logdir``, and the run metadata carries ``last_result``. The raw
  ``status`` is what the driver recorded, RUNNING included: it is
  ``Trial.__setstate__`` (ray/tune/experiment/trial.py), run by
  ``Trial.from_json_state`` when ``ExperimentAnalysis`` loads the file, that
  turns RUNNING into PENDING (so a restored search restarts those trials). That
  reset made status print ``0 / 0 / 0 / 6`` in the middle of a search, so this
  module never goes through ``ExperimentAnalysis``. The driver rewrites the file
  only every ~10 s (Tune's "auto" checkpoint period, longer on big experiments)
  and copies each trial folder (``result.json``, ``progress.csv``) to the cycle
  folder in the same sync, so those lag just as much (Tune writes them first to
  a staging folder in Ray's session directory, which this module does not read:
  it is Ray-internal and local to the driver's node).
* The engine's attempts log, ``<cycle>/train/attempts/<trial_id>.jsonl``
  (``start`` when the trial function begins, ``trained`` / ``rereport`` when it
  ends; other events such as worker checkpoints are ignored), appended at once.
* The newest Ray Train checkpoint of the trial's run,
  ``<cycle>/train/<trial_id>/checkpoint_*/metrics.json``, written by the worker
  at every reported epoch, at once (``num_to_keep=2`` keeps the newest).

Which file wins:

* done / failed: Tune's recorded status (TERMINATED / ERROR) wins. Tune
  decides that a trial ended (its result processed, retries used up), and the
  validation snapshot later uses the same verdict. One exception, for the
  seconds between a trial's end and Tune's next save: an attempt that ended
  (``trained`` / ``rereport``: the trial function returned normally, which Tune
  records as TERMINATED) after the state file was written counts as done, not
  as the RUNNING the stale file still says (while the driver lives; without it
  Tune's record alone counts).
* running: Tune's raw RUNNING (unless the exception above applies), or,
  because the attempts log is seconds newer than the saved state, an attempt
  that has started and not ended (a ``start`` with no later ``trained`` /
  ``rereport``), even for a trial the saved state does not list yet (its
  number then shows as ``?``). An open attempt that started after
  the state file was written wins even over a recorded ERROR (Tune is retrying
  the trial). Both count only while the driver lives: once it is gone nothing
  runs, and those trials count as pending (``campaign resume`` restarts them).
  When the driver was started on another host its liveness is unknown and the
  files are taken at their word.
* pending: ``num_samples`` less the three counts above (PENDING, PAUSED, and
  trials Tune has not created yet).
* a running trial's epoch and objective: the newest report by time among its
  newest Train checkpoint's ``metrics.json`` (file time), the last line of its
  ``result.json`` and the state's ``last_result`` (their ``timestamp``). The
  checkpoint is normally the newest, being written by the worker itself.
* best so far: the best ``search.metric`` among the trials Tune recorded as
  TERMINATED, from their ``last_result`` (as before).
"""
from __future__ import annotations

import json
import math
import socket
import time
from pathlib import Path

from campaign.decide.state import cycle_folder, driver_alive, focus_of, load_state, read_json

__all__ = ["campaign_status", "cycle_rows", "live_trials", "read_live", "running_line"]

END_EVENTS = ("trained", "rereport")  # attempts-log events that end a trial function's attempt


def _f(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _last_attempt(events: list[dict]) -> tuple[dict | None, dict | None]:
    """The last attempt's ``start`` event and its end event (None while it runs), in log order."""
    opened = ended = None
    for e in events:
        if e.get("event") == "start":
            opened, ended = e, None
        elif e.get("event") in END_EVENTS:
            ended = e
    return opened, ended


def _classify(status: str | None, events: list[dict], driver: bool | None, state_time: float | None) -> str:
    """done / running / failed / pending of one trial, from Tune's raw status and its attempts (see the module doc)."""
    opened, ended = _last_attempt(events)
    newer = lambda e: state_time is None or (_number(e.get("time")) or 0.0) > state_time  # noqa: E731
    if driver is False:  # nothing runs without its driver; resume restarts what Tune had not finished
        return {"TERMINATED": "done", "ERROR": "failed"}.get(status, "pending")
    if status == "TERMINATED":
        return "done"
    if ended is not None and newer(ended):  # returned normally since Tune's last save
        return "done"
    if opened is not None and ended is None and (status != "ERROR" or (state_time is not None and newer(opened))):
        return "running"  # started and not ended; after a recorded ERROR only when started since (a retry)
    if status == "ERROR":
        return "failed"
    return "running" if status == "RUNNING" else "pending"


def _latest_report(reports: list[dict]) -> dict:
    """The newest report (by time, then epoch) that carries an epoch; {} if none."""
    best, key = {}, None
    for r in reports:
        m = r.get("metrics") or {}
        if _number(m.get("epoch")) is None:
            continue
        k = (_number(r.get("time")) or 0.0, _number(m["epoch"]))
        if key is None or k > key:
            best, key = m, k
    return best


def live_trials(tune_trials: list[dict], attempts: dict[str, list[dict]], reports: dict[str, list[dict]],
                num_samples: int, metric: str, mode: str, driver: bool | None = True,
                state_time: float | None = None) -> dict:
    """Counts, running trials and best so far of a searching cycle, from plain records (pure; see the module doc).

    ``tune_trials``: Tune's raw trial records, ``{"trial_id", "status", "trial" (number or None), "name",
    "last_result"}``; ``attempts``: attempts-log events per trial id; ``reports``: candidate latest reports per
    trial id, ``{"time", "metrics"}``; ``driver``: whether the driver lives (None: unknown, on another host);
    ``state_time``: when Tune's state file was written (None: unknown or no file).
    """
    by_id = {t["trial_id"]: t for t in tune_trials}
    counts = {"done": 0, "running": 0, "failed": 0, "pending": 0}
    running = []
    for tid in list(by_id) + sorted(set(attempts) - set(by_id)):
        kind = _classify(by_id.get(tid, {}).get("status"), attempts.get(tid, []), driver, state_time)
        counts[kind] += 1
        if kind == "running":
            m = _latest_report(reports.get(tid, []))
            running.append({"trial": by_id.get(tid, {}).get("trial"), "trial_id": tid,
                            "epoch": int(m["epoch"]) if m else None, "metric": metric, "value": _number(m.get(metric))})
    counts["pending"] = max(num_samples - counts["done"] - counts["running"] - counts["failed"], 0)
    scores = [(_number((t.get("last_result") or {}).get(metric)), t) for t in tune_trials
              if t["status"] == "TERMINATED"]
    scores = [(v, t) for v, t in scores if v is not None]
    best = None
    if scores:
        value, trial = (min if mode == "min" else max)(scores, key=lambda x: x[0])
        best = {"value": value, "trial_id": trial["trial_id"], "name": trial.get("name") or trial["trial_id"]}
    return {**counts, "running_trials": running, "best": best}


def running_line(r: dict) -> str:
    """``trial 3 (a1b2c3): epoch 2, valid/objective 9.41`` for one running trial of ``live_trials``."""
    head = f"trial {'?' if r['trial'] is None else r['trial']} ({r['trial_id']})"
    if r["epoch"] is None:
        return f"{head}: started, no epoch reported yet"
    return f"{head}: epoch {r['epoch']}, {r['metric']} {_f(r['value'])}"


def _loads(text):
    return json.loads(text) if isinstance(text, (str, bytes)) else (text or {})


def _read_tune_state(tune_dir: Path) -> tuple[list[dict], float | None]:
    """Tune's trial records from its newest experiment state, raw (RUNNING kept), and when that file was written."""
    files = sorted(tune_dir.glob("experiment_state-*.json"), key=lambda p: p.name)
    if not files:
        return [], None
    for attempt in range(3):  # the driver may be replacing the file right now
        try:
            written = files[-1].stat().st_mtime
            raw = json.loads(files[-1].read_text(encoding="utf-8"))
            break
        except (OSError, ValueError):
            if attempt == 2:
                return [], None
            time.sleep(0.2)
    trials = []
    for entry in raw.get("trial_data", []):
        try:
            t, meta = _loads(entry[0]), _loads(entry[1])
        except (ValueError, IndexError, TypeError):
            continue
        tag = str(t.get("experiment_tag") or "").split("_", 1)[0]
        trials.append({"trial_id": t.get("trial_id"), "status": t.get("status"),
                       "trial": int(tag) if tag.isdigit() else None, "name": t.get("custom_trial_name"),
                       "logdir": t.get("relative_logdir"), "last_result": meta.get("last_result") or {}})
    return [t for t in trials if t["trial_id"]], written


def _read_jsonl(path: Path) -> list[dict]:
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:  # a line being written
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _reports(cf: Path, trial: dict) -> list[dict]:
    """Candidate latest reports of one trial: its newest Train checkpoint, its result.json, Tune's last_result."""
    out = []
    if trial.get("last_result"):
        out.append({"time": trial["last_result"].get("timestamp"), "metrics": trial["last_result"]})
    if trial.get("logdir"):
        rows = _read_jsonl(cf / "tune" / trial["logdir"] / "result.json")
        if rows:
            out.append({"time": rows[-1].get("timestamp"), "metrics": rows[-1]})
    for ckpt in sorted((cf / "train" / trial["trial_id"]).glob("checkpoint_*"), key=lambda p: p.name, reverse=True):
        try:
            path = ckpt / "metrics.json"
            out.append({"time": path.stat().st_mtime, "metrics": json.loads(path.read_text(encoding="utf-8"))})
            break
        except (OSError, ValueError):  # not written yet, or removed by num_to_keep meanwhile
            continue
    return out


def read_live(cf: Path, num_samples: int, metric: str, mode: str, driver: bool | None) -> dict:
    """``live_trials`` of the searching cycle in folder ``cf``, its records read from the files."""
    tune_trials, written = _read_tune_state(cf / "tune")
    attempts = {p.stem: _read_jsonl(p) for p in sorted((cf / "train" / "attempts").glob("*.jsonl"))}
    known = {t["trial_id"]: t for t in tune_trials}
    reports = {tid: _reports(cf, known.get(tid, {"trial_id": tid})) for tid in set(known) | set(attempts)}
    return live_trials(tune_trials, attempts, reports, num_samples, metric, mode, driver, written)


def _driver(state: dict) -> bool | None:
    """Whether the campaign's driver lives: None when it runs on another host (unknowable from here)."""
    d = state.get("driver") or {}
    if state.get("status") != "running" or not d.get("pid"):
        return False
    if d.get("host") != socket.gethostname():
        return None
    return driver_alive(state)


def _live_counts(folder: Path, num_samples: int, metric: str, mode: str,
                 driver: bool | None = False) -> tuple[str, str, list[dict]]:
    """Trial counts, best-so-far and running trials of a cycle still searching (see the module doc)."""
    live = read_live(folder, num_samples, metric, mode, driver)
    b = live["best"]
    best = f"{metric} {b['value']:.2f} ({b['name']})" if b else "—"
    return (f"{live['done']} / {live['running']} / {live['failed']} / {live['pending']}", best,
            live["running_trials"])


def _primary(state: dict) -> str:
    from campaign.tasks.base import task_from_config

    return task_from_config(state["config"].get("task")).spec.primary


def cycle_rows(folder: Path, state: dict) -> list[dict]:
    cfg, primary = state["config"]["search"], _primary(state)
    driver = _driver(state)
    rows = []
    for key in sorted(state["cycles"], key=int):
        cs, cf = state["cycles"][key], cycle_folder(folder, int(key))
        row = {"cycle": int(key), "status": cs["status"], "data_version": cs.get("data_version"),
               "focus_facets": focus_of(cs), "gate": cs.get("gate") or "—", "running_trials": []}
        snap = read_json(cf / "validation_snapshot.json") if cs["status"] in ("done", "failed") else None
        if snap:
            trials = snap["trials"]
            done = sum(t["state"] == "TERMINATED" for t in trials)
            failed = sum(t["state"] == "ERROR" for t in trials)
            row["counts"] = f"{done} / 0 / {failed} / 0"
            best = next((t for t in trials if t["trial_id"] == snap["best_trial"]), None)
            row["best"] = (f"trial {best['trial']}: valid {_f(best['metrics'].get(cfg['metric']))}, "
                           f"eval {primary} {_f(best['metrics'].get(f'eval/{primary}'))}") if best else "—"
        else:
            row["counts"], row["best"], row["running_trials"] = _live_counts(cf, cfg["num_samples"], cfg["metric"],
                                                                             cfg["mode"], driver)
        rows.append(row)
    return rows


def campaign_status(folder: Path) -> list:
    """Lines and a table for the console."""
    from campaign.reporting.tables import status_table

    state = load_state(folder)
    alive = driver_alive(state)
    status = state["status"]
    if status == "running" and not alive:
        status = f"interrupted (its driver is gone; continue with `campaign resume {folder}`)"
    elif status == "running":
        status = f"running (driver pid {state['driver']['pid']})"
    lines = [f"campaign [bold]{state['campaign']}[/] · {status} · cycles "
             f"{len([c for c in state['cycles'].values() if c['status'] == 'done'])} of "
             f"{state['config']['cycles']['count']} done · updated {state['updated']}"]
    if state.get("stop_reason") and state["status"] != "running":
        lines.append(f"  {state['stop_reason']}")
    rows = cycle_rows(folder, state)
    lines.append(status_table(rows))
    for r in rows:
        for t in r["running_trials"]:
            lines.append(f"  cycle {r['cycle']} running {running_line(t)}")
    if any(r["status"] == "searching" for r in rows):
        lines.append("  (a searching cycle is read from Tune's saved experiment state, up to ~10 s old, with the "
                     "attempts log and Train checkpoints, which are current)")
    p, primary = state.get("promoted"), _primary(state)
    lines.append("promoted: " + (f"cycle {p['cycle']} trial {p['trial']} ({p['trial_id']}, data {p['data_version']}), "
                                 f"eval {primary} {_f(p['metrics'].get(f'eval/{primary}'))}" if p else "nothing yet"))
    for h in state.get("history", []):
        lines.append(f"  cycle {h['cycle']} gate: {h['verdict']} · {h['summary']}")
    return lines
