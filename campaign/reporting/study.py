"""Whether the data loop helps, measured over seeds: one row per 2-cycle campaign, and the aggregate.

Per seed: the focus facets cycle 2 chose, their eval error in cycle 1's best and cycle 2's best
trial, the primary metric of both, and cycle 2's gate verdict. In aggregate: the share of seeds
where every focus facet improved, the median relative change of the focus facets' error and of the
primary metric, and how many seeds promoted a regression (a cycle-2 model worse than cycle 1's
best on the primary metric), which must be none. Where cycle 2 ran a control, each seed also
shows the noise (control vs cycle 1's best) and the data effect (the same config with the focused
rows on top vs the control) on the focus facets, from the cycle's ``effects.json``.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from campaign.decide.state import focus_of, load_state, read_json
from campaign.tasks.base import TaskSpec, task_from_config

__all__ = ["seed_record", "summarize", "study_markdown"]


def _best(folder: Path, cycle: int) -> dict | None:
    snap = read_json(folder / f"cycle_{cycle}" / "validation_snapshot.json") or {}
    return next((t for t in snap.get("trials", []) if t["trial_id"] == snap.get("best_trial")), None)


def _worse(spec: TaskSpec, new: float, old: float) -> bool:
    return new > old if spec.mode == "min" else new < old


def _effects(folder: Path) -> dict:
    """Per step (noise, data, search): the focus facets' mean paired difference and whether all beat the noise."""
    effects = read_json(folder / "cycle_2" / "effects.json") or {}
    out = {}
    for step in effects.get("steps", []):
        if "missing" in step or not step.get("facets"):
            continue
        iv = list(step["facets"].values())
        out[step["step"]] = {"focus_diff": sum(c["diff"] for c in iv) / len(iv),
                             "all_below_zero": all(c["high"] < 0 for c in iv), "primary_diff": step["primary"]["diff"]}
    return out


def seed_record(seed: int, folder: Path) -> dict:
    """One finished 2-cycle campaign as a plain record."""
    state = load_state(folder)
    spec = task_from_config(state["config"].get("task")).spec
    one, two = _best(folder, 1), _best(folder, 2)
    focus = focus_of(read_json(folder / "cycle_2" / "plan.json"))
    m1, m2 = (one or {}).get("metrics", {}), (two or {}).get("metrics", {})
    facets = {f: {"cycle1": m1.get(spec.facet_key(f, "eval")), "cycle2": m2.get(spec.facet_key(f, "eval"))}
              for f in focus}
    verdict = next((h["verdict"] for h in state.get("history", []) if h["cycle"] == 2), "not run")
    p1, p2 = m1.get(f"eval/{spec.primary}"), m2.get(f"eval/{spec.primary}")
    known = [v for v in facets.values() if v["cycle1"] is not None and v["cycle2"] is not None]
    return {"seed": seed, "campaign": str(folder), "task": spec.to_dict(), "focus": focus, "facets": facets,
            "primary": {"name": spec.primary, "cycle1": p1, "cycle2": p2}, "verdict": verdict,
            "all_focus_improved": bool(focus) and len(known) == len(focus)
            and all(v["cycle2"] < v["cycle1"] for v in known),
            "promoted_regression": verdict == "promoted" and None not in (p1, p2) and _worse(spec, p2, p1),
            "effects": _effects(folder)}


def _relative(new, old) -> float | None:
    return None if new is None or old in (None, 0) else (new - old) / old


def summarize(records: list[dict]) -> dict:
    """The aggregate over seeds (plain numbers; None where nothing could be measured)."""
    focus_changes, primary_changes = [], []
    for r in records:
        changes = [c for v in r["facets"].values() if (c := _relative(v["cycle2"], v["cycle1"])) is not None]
        if changes:
            focus_changes.append(sum(changes) / len(changes))  # a seed's mean over its focus facets
        if (c := _relative(r["primary"]["cycle2"], r["primary"]["cycle1"])) is not None:
            primary_changes.append(c)
    n = len(records)
    return {"seeds": n, "all_focus_improved": sum(r["all_focus_improved"] for r in records),
            "share_all_focus_improved": sum(r["all_focus_improved"] for r in records) / n if n else None,
            "median_focus_change": statistics.median(focus_changes) if focus_changes else None,
            "median_primary_change": statistics.median(primary_changes) if primary_changes else None,
            "promoted": sum(r["verdict"] == "promoted" for r in records),
            "promoted_regressions": sum(r["promoted_regression"] for r in records),
            "data_effect_beyond_noise": sum(bool((r.get("effects") or {}).get("data", {}).get("all_below_zero"))
                                            for r in records)}


def _f(v, fmt="{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:+.1f}%"


def _split(record: dict) -> str:
    """``+0.12 / −1.50``: mean focus-facet error change of the noise and the data steps; ``*``: beyond noise."""
    e = record.get("effects") or {}
    if "noise" not in e and "data" not in e:
        return "—"
    return " / ".join(_f(e[k]["focus_diff"], "{:+.2f}") + ("*" if e[k]["all_below_zero"] else "") if k in e else "—"
                      for k in ("noise", "data"))


def study_markdown(records: list[dict], summary: dict, command: str) -> str:
    """The per-seed table and the aggregate, as Markdown (written next to the JSON, printed by the CLI)."""
    primary = records[0]["primary"]["name"] if records else "primary"
    lines = [f"`{command}`", "", f"| seed | focus | focus error: cycle 1 best → cycle 2 best | {primary}: cycle 1 → "
             "cycle 2 | all focus improved | gate | focus: noise / data effect |", "|---|---|---|---|---|---|---|"]
    for r in records:
        facets = "; ".join(f"{f} {_f(v['cycle1'])} → {_f(v['cycle2'])} ({_pct(_relative(v['cycle2'], v['cycle1']))})"
                           for f, v in r["facets"].items()) or "—"
        p = r["primary"]
        lines.append(f"| {r['seed']} | {', '.join(r['focus']) or '—'} | {facets} | {_f(p['cycle1'])} → {_f(p['cycle2'])} "
                     f"| {'yes' if r['all_focus_improved'] else 'no'} | {r['verdict']} | {_split(r)} |")
    s = summary
    lines += ["", f"- every focus facet improved in **{s['all_focus_improved']} of {s['seeds']}** seeds",
              f"- median relative change of the focus facets' error: **{_pct(s['median_focus_change'])}**",
              f"- median relative change of {primary}: **{_pct(s['median_primary_change'])}**",
              f"- cycle 2 promoted in {s['promoted']} seeds; regressions promoted: **{s['promoted_regressions']}**",
              f"- the data effect on every focus facet was beyond noise (whole 95% interval below 0) in "
              f"{s.get('data_effect_beyond_noise', 0)} of {s['seeds']} seeds"]
    return "\n".join(lines) + "\n"
