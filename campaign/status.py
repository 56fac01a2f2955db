"""``campaign status``: where a campaign stands, read from its files (Ray need not run)."""
from __future__ import annotations

from pathlib import Path

from campaign.state import cycle_folder, driver_alive, load_state, read_json

__all__ = ["campaign_status", "cycle_rows"]


def _f(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def _live_counts(folder: Path, num_samples: int, metric: str, mode: str) -> tuple[str, str]:
    """Trial counts and best-so-far of a cycle still searching, from Tune's experiment state."""
    tune_dir = folder / "tune"
    if not any(tune_dir.glob("experiment_state-*.json")):
        return f"0 / 0 / 0 / {num_samples}", "—"
    from ray.tune import ExperimentAnalysis

    trials = ExperimentAnalysis(str(tune_dir.resolve())).trials
    count = {s: sum(t.status == s for t in trials) for s in ("TERMINATED", "RUNNING", "ERROR")}
    pending = num_samples - count["TERMINATED"] - count["RUNNING"] - count["ERROR"]
    scores = [(t.last_result.get(metric), t) for t in trials if t.status == "TERMINATED"
              and isinstance(t.last_result.get(metric), (int, float))]
    best = "—"
    if scores:
        value, trial = (min if mode == "min" else max)(scores, key=lambda x: x[0])
        best = f"{metric} {value:.2f} ({trial})"
    return f"{count['TERMINATED']} / {count['RUNNING']} / {count['ERROR']} / {pending}", best


def cycle_rows(folder: Path, state: dict) -> list[dict]:
    cfg = state["config"]["search"]
    rows = []
    for key in sorted(state["cycles"], key=int):
        cs, cf = state["cycles"][key], cycle_folder(folder, int(key))
        row = {"cycle": int(key), "status": cs["status"], "data_version": cs.get("data_version"),
               "focus_dims": cs.get("focus_dims") or [], "gate": cs.get("gate") or "—"}
        snap = read_json(cf / "validation_snapshot.json") if cs["status"] in ("done", "failed") else None
        if snap:
            trials = snap["trials"]
            done = sum(t["state"] == "TERMINATED" for t in trials)
            failed = sum(t["state"] == "ERROR" for t in trials)
            row["counts"] = f"{done} / 0 / {failed} / 0"
            best = next((t for t in trials if t["trial_id"] == snap["best_trial"]), None)
            row["best"] = (f"trial {best['trial']}: valid {_f(best['metrics'].get(cfg['metric']))}, "
                           f"eval mae_raw {_f(best['metrics'].get('eval/mae_raw'))}") if best else "—"
        else:
            row["counts"], row["best"] = _live_counts(cf, cfg["num_samples"], cfg["metric"], cfg["mode"])
        rows.append(row)
    return rows


def campaign_status(folder: Path) -> list:
    """Lines and a table for the console."""
    from campaign.cli_tables import status_table

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
    if any(r["status"] == "searching" for r in rows):
        lines.append("  (a searching cycle's counts come from Tune's last saved experiment state, a few seconds old)")
    p = state.get("promoted")
    lines.append("promoted: " + (f"cycle {p['cycle']} trial {p['trial']} ({p['trial_id']}, data {p['data_version']}), "
                                 f"eval mae_raw {_f(p['metrics'].get('eval/mae_raw'))}" if p else "nothing yet"))
    for h in state.get("history", []):
        lines.append(f"  cycle {h['cycle']} gate: {h['verdict']} · {h['summary']}")
    return lines
