"""Is choosing a cycle's best trial by validation noise-dominated? Measured on finished campaigns.

For every cycle of every campaign folder given (e.g. the ``campaign study-loop`` seeds), this
rebuilds each finished trial's per-row validation objective from its saved outputs and compares
selection rules by the eval objective of the trial each one picks:

- ``argmin``: the best validation objective (what the engine does);
- ``1se-cheapest``: among trials within one *paired* standard error of the best (the per-row
  difference's SE, on the same validation rows), the one that saw the fewest training examples
  (rows × epochs), the usual noise-aware tie-break;
- ``oracle``: the best eval objective (not available in practice; the ceiling).

It also prints the rank correlation between validation and eval objective. Run::

    python -m campaign.bench.selection results/after-seed*     # --smoke-test: one cycle of one folder
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

__all__ = ["cycle_trials", "pick", "main"]


def _per_row(task, rows: list[dict], outputs: dict[str, str]) -> list[float]:
    return [task.invalid_error if (e := task.row_errors(r, outputs[r["id"]])["error"]) is None else float(e)
            for r in rows]


def cycle_trials(folder: Path, cycle: int) -> tuple[list[dict], str]:
    """Finished trials of one cycle with their per-row validation objective, training cost and eval objective."""
    from campaign.data.io import read_table
    from campaign.tasks.base import task_from_config

    state = json.loads((folder / "campaign.json").read_text())
    task = task_from_config(state["config"].get("task"))
    snap = json.loads((folder / f"cycle_{cycle}" / "validation_snapshot.json").read_text())
    plan = json.loads((folder / f"cycle_{cycle}" / "plan.json").read_text())
    data = Path(plan["data_path"])
    data = data if data.is_absolute() else Path(state.get("cwd") or ".") / data  # relative to where it ran
    valid = read_table(data / "valid.parquet", task)
    epochs = state["config"]["train"]["epochs"]
    trials = []
    for r in snap["trials"]:
        details = Path(r.get("checkpoint_path") or "") / "details.json"
        if r["state"] != "TERMINATED" or not details.exists():
            continue
        outputs = {o["id"]: o["output"] for o in json.loads(details.read_text())["valid"]["outputs"]}
        m = r["metrics"]
        trials.append({"trial": r["trial"], "valid": m[snap["metric"]], "eval": m[snap["metric"].replace("valid/", "eval/")],
                       "rows": _per_row(task, valid, outputs),
                       "cost": m.get("train/rows", 0) * r["config"].get("train.epochs", epochs)})
    return trials, snap["mode"]


def _paired_se(a: list[float], b: list[float]) -> float:
    d = [x - y for x, y in zip(a, b)]
    return statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else 0.0


def pick(trials: list[dict], mode: str, rule: str) -> dict:
    """The trial a selection rule picks (ties by trial number)."""
    sign = 1 if mode == "min" else -1
    best = min(trials, key=lambda t: (sign * t["valid"], t["trial"]))
    if rule == "argmin":
        return best
    if rule == "oracle":
        return min(trials, key=lambda t: (sign * t["eval"], t["trial"]))
    close = [t for t in trials if sign * (t["valid"] - best["valid"]) <= _paired_se(t["rows"], best["rows"])]
    return min(close, key=lambda t: (t["cost"], sign * t["valid"], t["trial"]))


def main(argv: list[str] | None = None) -> int:
    from scipy.stats import spearmanr

    ap = argparse.ArgumentParser(prog="python -m campaign.bench.selection", description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="finished campaign folders (results/<campaign>)")
    ap.add_argument("--smoke-test", action="store_true", help="only the first cycle of the first folder")
    args = ap.parse_args(argv)
    folders = args.folders[:1] if args.smoke_test else args.folders
    changes, regrets, rhos = [], [], []
    print("| campaign | cycle | trials | argmin: trial (eval) | 1se-cheapest: trial (eval) | oracle: trial (eval) |")
    print("|---|---|---|---|---|---|")
    for folder in folders:
        cycles = sorted(int(p.parent.name.split("_")[1]) for p in folder.glob("cycle_*/validation_snapshot.json"))
        for cycle in cycles[:1] if args.smoke_test else cycles:
            trials, mode = cycle_trials(folder, cycle)
            if not trials:
                continue
            sign = 1 if mode == "min" else -1
            a, c, o = (pick(trials, mode, rule) for rule in ("argmin", "1se-cheapest", "oracle"))
            changes.append(sign * (c["eval"] - a["eval"]))
            regrets.append(sign * (a["eval"] - o["eval"]))
            if len(trials) > 2:
                rhos.append(spearmanr([t["valid"] for t in trials], [t["eval"] for t in trials])[0])
            print(f"| {folder.name} | {cycle} | {len(trials)} | {a['trial']} ({a['eval']:.2f}) | "
                  f"{c['trial']} ({c['eval']:.2f}) | {o['trial']} ({o['eval']:.2f}) |")
    if not changes:
        print("no finished cycle with saved outputs found")
        return 1
    print(f"\ncycles: {len(changes)}; argmin picked the eval-best trial in {sum(r == 0 for r in regrets)}")
    print(f"1se-cheapest vs argmin, eval objective (+ = worse): median {statistics.median(changes):+.2f}, "
          f"worse in {sum(x > 0 for x in changes)}, better in {sum(x < 0 for x in changes)}")
    print(f"argmin's regret vs the oracle: median {statistics.median(regrets):.2f}, mean {statistics.mean(regrets):.2f}")
    if rhos:
        print(f"Spearman rank correlation valid vs eval objective per cycle: median {statistics.median(rhos):.2f} "
              f"(min {min(rhos):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
