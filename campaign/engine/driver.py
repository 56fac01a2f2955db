"""The cycle driver: run cycles, derive each next cycle from the last, gate and promote, resume after a crash.

Cycle n: plan (data version, search seeding) → search (Ray Tune) → snapshot →
hard facets for n+1 → gate → promotion → decision log. Each step writes its
files before ``campaign.json`` records it as done, so ``campaign resume`` after
a Ctrl-C or a ``kill -9`` repeats at most the step that was cut off, and Tune's
own restore continues the search without re-running finished trials.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import yaml

from campaign.config import load_config, merge
from campaign.config.sections import CYCLE1_DATA_KEYS, CYCLE_DATA_KEYS
from campaign.core.errors import CampaignStopped, ConfigError, SearchInterrupted
from campaign.core.progress import console, step
from campaign.data.augment import rank_by_model_error
from campaign.data.cycle_data import (CycleData, dataset_root, derive_version, first_cycle_data, load_derived,
                                      realised_train_set)
from campaign.data.io import sha256_file, write_json
from campaign.data.prepare import eval_dir, prepare_data
from campaign.decide.gates import evaluate_gate
from campaign.decide.hard_facets import best_trials, choose_hard_facets
from campaign.decide.seeding import seed_next_search
from campaign.decide.state import (cycle_folder, focus_of, load_state, mark_driver, new_state, promote, read_hard_facets,
                                   read_json, save_state)
from campaign.engine.ab import promoted_vs_base
from campaign.engine.evidence import cycle_effects, facet_reference, paired_tables, recorded_train_sha256
from campaign.engine.preflight import PREFLIGHT_FILE, campaign_preflight
from campaign.engine.runner import run_search, start_ray
from campaign.reporting.decision_log import render_decision_log
from campaign.reporting.snapshot import (copy_best_adapter, orchestration_overhead, strict_json, trial_records,
                                         write_snapshot)
from campaign.tracking.optuna_study import check_storage, study_path
from campaign.tracking.wandb_mode import resolve_wandb_mode, worker_env
from campaign.tracking.weave_check import check_weave

__all__ = ["CampaignStopped", "run_campaign", "resume_campaign"]


def run_campaign(cfg, overwrite: bool = False, verbose: bool = False) -> dict:
    """Start the campaign ``cfg`` from cycle 1 and run ``cfg.cycles.count`` cycles (``verbose``: Ray's own output too)."""
    folder = cfg.results_path()
    if folder.exists() and any(p.name != PREFLIGHT_FILE for p in folder.iterdir()) and not overwrite:
        raise ConfigError(f"{folder} already holds a campaign; continue it with `campaign resume {folder}`, "
                          "replace it with --overwrite, or choose another name (name=...)")
    return _drive(cfg, folder, None, verbose)


def _start_folder(cfg, folder: Path) -> dict:
    """A fresh campaign folder, made only once the config, trackers and data have been validated."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    state = new_state(cfg)
    save_state(folder, state)
    return state


def resume_campaign(folder: Path, cycles: int | None = None, verbose: bool = False) -> dict:
    """Continue the campaign in ``folder`` where it stopped; ``cycles`` may raise its cycle count."""
    state = load_state(folder)
    stored = study_path(folder)
    if stored.exists():  # locked or damaged: stop here, before Ray and before any trial, and leave it as it is
        check_storage(stored, write=True)
    overrides = {"results_dir": str(Path(folder).resolve().parent), "cycles": {"count": cycles or
                                                                              state["config"]["cycles"]["count"]}}
    config = _anchored(state["config"], Path(state.get("cwd") or "."))
    cfg = load_config(None, merge(config, overrides))
    state["config"] = cfg.to_dict()
    state["status"], state["stop_reason"] = "running", None
    return _drive(cfg, Path(folder), state, verbose)


def _anchored(config: dict, cwd: Path) -> dict:
    """Relative data paths resolved against the directory the campaign was started from."""
    data = dict(config["data"])
    for key in ("root", "source", "eval_source"):
        value = data.get(key)
        if value and value != "generate" and not Path(value).is_absolute():
            data[key] = str(cwd / value)
    model = dict(config["model"])
    if (cwd / model["base_model"]).exists() and not Path(model["base_model"]).is_absolute():
        model["base_model"] = str(cwd / model["base_model"])
    return {**config, "data": data, "model": model}


def _drive(cfg, folder: Path, state: dict | None, verbose: bool = False) -> dict:
    task = cfg.task.instance()
    for note in getattr(cfg, "deprecations", []):
        console.print(f"  [yellow]deprecated:[/] {note}")
    wandb_mode, wandb_why = resolve_wandb_mode(cfg.tracking.wandb)
    env = worker_env(cfg)
    if cfg.tracking.weave:
        with step("checking Weave (API key, servers, one real login)"):
            weave_why = check_weave(cfg.tracking)
        console.print(f"  {weave_why}")
    with step("validating data and freezing the eval set"):
        version, eval_rows = prepare_data(cfg.data, task)
    console.print(f"  data {version.path}: {version.manifest['counts']}; frozen eval set: {len(eval_rows)} rows")
    with step("starting Ray and preparing the base model"):
        session = start_ray(cfg, env, verbose)  # a cluster without the profile's resources stops here, before the folder
    state = state or _start_folder(cfg, folder)
    console.print(f"  {session.concurrency} trial(s) at once ({session.why}); W&B: {wandb_why}")
    console.print(f"  resources: {cfg.resources.plan()['why']}")
    console.print(f"  {session.precision['reason']}")
    template, source = cfg.prompt()
    console.print(f"  prompt: {template!r} ({source})")
    if session.precision["warning"]:
        console.print(f"  [yellow]warning:[/] {session.precision['warning']}")
    for item in getattr(cfg, "preset_applied", []):
        console.print(f"  memory preset {item['preset']}: {item['key']} = {item['value']} (not set in the config)")
    mark_driver(state)
    save_state(folder, state)
    ctx = {"cfg": cfg, "task": task, "folder": folder, "state": state, "session": session, "version": version,
           "eval_rows": eval_rows, "wandb_mode": wandb_mode, "wandb_why": wandb_why}
    try:
        if cfg.preflight.enabled:  # before any model work of the campaign: a setting that cannot fit stops here
            campaign_preflight(session, cfg, folder, version.train, state)
        ctx["baselines"] = _baselines(ctx)
        previous = None
        for cycle in range(1, cfg.cycles.count + 1):
            previous = _run_cycle(ctx, cycle, previous)
    except (SearchInterrupted, KeyboardInterrupt):
        state.update(status="interrupted", stop_reason=f"interrupted; continue with `campaign resume {folder}`")
        save_state(folder, state)
        raise
    state["status"] = "finished"
    save_state(folder, state)
    return state


def _baselines(ctx) -> list[dict]:
    """Scored once per campaign on the frozen eval set (they do not change across cycles)."""
    path = ctx["folder"] / "baselines.json"
    if path.exists():
        return read_json(path)
    with step("baselines on the frozen eval set (the task's model-free ones, then the base model: prompt_baseline)"):
        base = strict_json(ctx["session"].baselines(ctx["version"].train, ctx["eval_rows"]))
    write_json(base, path)
    return base


def _run_cycle(ctx, cycle: int, previous: dict | None) -> dict:
    """Run (or finish, or skip) one cycle; return what the next cycle needs from it."""
    state, folder = ctx["state"], cycle_folder(ctx["folder"], cycle)
    cs = state["cycles"].get(str(cycle))
    if cs and cs["status"] == "done":
        console.print(f"cycle {cycle}: done earlier ({cs['gate']}); skipping")
        return _load_done(ctx, cycle)
    folder.mkdir(parents=True, exist_ok=True)
    plan, data = _plan(ctx, cycle, previous)
    state["cycles"][str(cycle)] = {"status": "searching", "data_version": plan["data_version"],
                                   "focus_facets": focus_of(plan), "gate": None, "best_trial": None}
    save_state(ctx["folder"], state)
    cfg = ctx["cfg"]
    console.rule(f"[bold]cycle {cycle}: {cfg.search.num_samples} trials on {plan['data_version']}"
                 f" (focus: {', '.join(focus_of(plan)) or 'none'})")
    _print_plan(cfg, plan)
    t = time.time()
    workers = data.for_workers(cfg.data.base_size, ctx["eval_rows"], plan.get("train_seed", cfg.train.seed))
    grid, statuses = run_search(ctx["session"], cycle, folder, workers, plan["seeding"], ctx["wandb_mode"],
                                  plan["data_version"])
    ctx.setdefault("search_wall", {})[cycle] = (time.time() - t, cs is not None)  # cs: resumed mid-search
    console.print(f"  search finished in {time.time() - t:.0f}s")
    return _finish(ctx, cycle, plan, data, previous, trial_records(grid, list(plan["seeding"]["space"]), statuses))


def _plan(ctx, cycle: int, previous: dict | None) -> tuple[dict, CycleData]:
    """The cycle's data and search seeding: read back if already planned, else decided now and written."""
    folder = cycle_folder(ctx["folder"], cycle)
    plan = read_json(folder / "plan.json")
    if plan is not None:
        return plan, _cycle_data(ctx, plan)
    cfg = ctx["cfg"]
    if previous is None:
        data = first_cycle_data(cfg, ctx["version"], ctx["eval_rows"])
        seeding = _first_seeding(cfg)
        hard, parent, ranking_text = None, None, data.manifest["replay_ranking"]
    else:
        hard = previous["hard_facets"]
        data = _derive(ctx, cycle, previous, hard)
        seeding = _next_seeding(cfg, ctx["task"], previous, cycle)
        parent, ranking_text = data.manifest["parent"], f"the cycle's focus {ctx['task'].spec.facets_word}' error " \
            f"of cycle {cycle - 1}'s best adapter on the training split (invalid outputs first)"
    plan = {"cycle": cycle, "data_version": data.version, "data_path": str(data.path), "data_parent": parent,
            "data_summary": data.summary(cfg.data.base_size), "focus_facets": list(data.focus_facets), "hard_facets": hard,
            "replay_ranking": ranking_text, "seeding": seeding, "data_rule": DATA_RULE if previous else None,
            "train_seed": cfg.train.seed + 1000 * (cycle - 1),
            "eval_set": {"rows": len(ctx["eval_rows"]), "sha256": sha256_file(eval_dir(cfg.data) / "eval.parquet")}}
    write_json(plan, folder / "plan.json")
    (folder / "resolved_config.yaml").write_text(yaml.safe_dump({**cfg.to_dict(), "resolved": {
        "wandb_mode": ctx["wandb_mode"], "wandb_why": ctx["wandb_why"], "cycle": cycle,
        "scaling": cfg.resources.plan(), "memory_preset_applied": getattr(cfg, "preset_applied", []),
        "compute_dtype": ctx["session"].precision, "prompt_template": cfg.prompt()[0]}},
        sort_keys=False, allow_unicode=True))
    _write_log(ctx, cycle, plan, previous)
    return plan, data


DATA_RULE = ("Cycle n+1 trains on what cycle n's best trial trained on (its realised rows, checked against the "
             "sha256 it recorded), plus rows on top: train.focus_ratio × base size rows generated for the focus "
             "facets and train.replay_ratio × base size training rows the previous best got most wrong. Cycle 1's "
             "train.add_ratio (unfocused rows) meant something else, so it is not carried into these keys, and the "
             "data ratios are searched over their full range every cycle, never narrowed.")


def _next_seeding(cfg, task, previous: dict, cycle: int) -> dict:
    """Cycle ``cycle``'s search from the previous one: narrowed ranges, fresh data ratios, the control first."""
    fresh = cfg.cycles.data_space(task.has_generator)
    seeding = seed_next_search(previous["space"], previous["records"], metric=cfg.search.metric, mode=cfg.search.mode,
                               top_k=cfg.cycles.seed_top_k, margin=cfg.cycles.narrow_margin, fresh=fresh,
                               drop=CYCLE1_DATA_KEYS + CYCLE_DATA_KEYS,
                               fresh_point={k: cfg.train_value(k) for k in fresh}, control=cfg.cycles.control_on())
    control = "the control, then " if seeding.get("control") else ""
    seeding["summary"] = (f"{control}{len(seeding['points']) - bool(control)} best config(s) of cycle {cycle - 1}, "
                          f"{len(seeding['carried'])} trial(s) carried into Optuna, ranges narrowed")
    return seeding


def _first_seeding(cfg) -> dict:
    s = cfg.search
    points = [{k: getattr(getattr(cfg, k.split(".")[0]), k.split(".")[1]) for k in s.space}] \
        if s.evaluate_default_first and s.space else []
    rule = ("Cycle 1: trial 1 runs the config's own values of the searched keys, then Optuna TPE "
            f"({s.n_startup_trials} random start-up trial(s), multivariate, constant liar)."
            if points else "Cycle 1: Optuna proposes every trial.")
    return {"space": dict(s.space), "points": points, "carried": [], "ranges": [], "rule": rule,
            "summary": "the config's own point first, then TPE" if points else "TPE from the start"}


def _derive(ctx, cycle: int, previous: dict, hard: dict) -> CycleData:
    """Rank the training split by the previous best adapter's errors, then build (or reuse) the new version."""
    cfg, prev_data, best = ctx["cfg"], previous["data"], previous["best"]
    adapter = cycle_folder(ctx["folder"], cycle - 1) / "best_adapter"
    train, made = realised_train_set(cfg, prev_data, best["config"], recorded_train_sha256(best))
    unique = list({r["id"]: r for r in train}.values())  # replayed rows appear twice; rank each row once
    with step(f"ranking cycle {cycle - 1}'s best training set ({len(unique)} rows) by its adapter"):
        outputs = ctx["session"].outputs_with_adapter(unique, adapter / "adapter")
    ranking = rank_by_model_error(ctx["task"], unique, outputs, hard["hard_facets"])
    train_from = {"cycle": cycle - 1, "trial": best["trial"], "trial_id": best["trial_id"], "sha256": made["sha256"],
                  "rows": len(train), "summary": made["summary"]}
    with step(f"building cycle {cycle}'s data version"):
        return derive_version(cfg, prev_data, ctx["eval_rows"], cycle=cycle, focus_facets=hard["hard_facets"],
                              focus_reason=hard["reason"], ranking=ranking, train=train, train_from=train_from,
                              replay_source={"cycle": cycle - 1, "trial": best["trial"], "trial_id": best["trial_id"],
                                             "adapter": str(adapter)})


def _cycle_data(ctx, plan: dict) -> CycleData:
    if plan["cycle"] == 1:
        return first_cycle_data(ctx["cfg"], ctx["version"], ctx["eval_rows"])
    return load_derived(dataset_root(ctx["cfg"].data) / plan["data_version"], ctx["task"])


def _write_log(ctx, cycle, plan, previous, snapshot=None, gate=None, promoted=None, effects=None) -> None:
    text = render_decision_log(ctx["cfg"].name, cycle, plan, previous, ctx["baselines"], snapshot, gate, promoted,
                               ctx["task"].spec, effects)
    (cycle_folder(ctx["folder"], cycle) / "decision_log.md").write_text(text, encoding="utf-8")


def _finish(ctx, cycle: int, plan: dict, data: CycleData, previous: dict | None, records: list[dict]) -> dict:
    """Snapshot, hard facets for the next cycle, gate, promotion, decision log; then mark the cycle done."""
    cfg, state, folder = ctx["cfg"], ctx["state"], cycle_folder(ctx["folder"], cycle)
    c = cfg.search
    best = (best_trials(records, c.metric, c.mode, 1) or [None])[0]
    snapshot = _snapshot(ctx, cycle, plan, records, best)
    effects = cycle_effects(ctx["task"], ctx["eval_rows"], ctx["folder"], cycle, plan, records, best,
                            previous["best"] if previous else None, cfg.gate) if previous else None
    if effects:
        write_json(effects, folder / "effects.json")
    gate = evaluate_gate(best["metrics"] if best else None, spec=ctx["task"].spec, focus_facets=focus_of(plan),
                         previous_best=previous["best"]["metrics"] if previous and previous["best"] else None,
                         promoted=(state["promoted"] or {}).get("metrics"),
                         baselines={b["mode"]: b["metrics"] for b in ctx["baselines"]},
                         min_valid_rate=cfg.gate.min_valid_rate, focus_min_improvement=cfg.gate.focus_min_improvement,
                         primary_tolerance=cfg.gate.primary_tolerance,
                         paired=paired_tables(ctx["task"], ctx["eval_rows"], ctx["folder"], cycle, ctx["baselines"]),
                         statistics=cfg.gate.statistics, confidence=cfg.gate.confidence, resamples=cfg.gate.resamples,
                         seed=cycle)
    write_json(gate, folder / "gate.json")
    if gate["passed"]:
        state["promoted"] = promote(ctx["folder"], cycle, best, plan["data_version"], gate)
        ab = promoted_vs_base(ctx["folder"], ctx["task"], ctx["eval_rows"], ctx["baselines"],
                              confidence=cfg.gate.confidence, resamples=cfg.gate.resamples, seed=cycle)
        console.print(f"  A/B of the promoted model against the base model: {ab or 'not written (outputs missing)'}")
    state["history"] = [h for h in state["history"] if h["cycle"] != cycle] + [
        {"cycle": cycle, "verdict": "promoted" if gate["passed"] else "refused", "summary": gate["summary"]}]
    _write_log(ctx, cycle, plan, previous, snapshot, gate, state["promoted"], effects)
    if best is None:
        return _stop(ctx, cycle, records)
    reference = facet_reference(ctx["task"], data.train, data.valid) if cfg.cycles.hard_by == "relative" else None
    hard = choose_hard_facets(records, ctx["task"].spec, metric=c.metric, mode=c.mode, k_best=cfg.cycles.k_best,
                              n_facets=cfg.cycles.n_facets, force_facets=cfg.cycles.force_facets, reference=reference,
                              min_support=cfg.cycles.min_support)
    write_json(hard, folder / "hard_facets.json")
    state["cycles"][str(cycle)].update(status="done", best_trial=best["trial_id"], gate=gate["summary"])
    save_state(ctx["folder"], state)
    _print_cycle(cycle, snapshot, gate, hard, effects)
    return {"cycle": cycle, "records": records, "best": best, "hard_facets": hard, "data": data,
            "space": plan["seeding"]["space"]}


def _snapshot(ctx, cycle, plan, records, best) -> dict:
    folder = cycle_folder(ctx["folder"], cycle)
    snapshot = {"campaign": ctx["cfg"].name, "cycle": cycle, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "metric": ctx["cfg"].search.metric, "mode": ctx["cfg"].search.mode, "data_version": plan["data_version"],
                "task": ctx["task"].spec.to_dict(), "focus_facets": focus_of(plan), "eval_set": plan["eval_set"],
                "best_trial": best["trial_id"] if best else None, "trials": records,
                "baselines": [{k: v for k, v in b.items() if k not in ("outputs", "latency_ms")} for b in ctx["baselines"]]}
    if cycle in ctx.get("search_wall", {}):
        wall, resumed = ctx["search_wall"][cycle]
        snapshot["orchestration"] = orchestration_overhead(records, wall, ctx["session"].concurrency, resumed)
    if best:
        adapter = copy_best_adapter(best, folder, {"cycle": cycle, "data_version": plan["data_version"]})
        details = read_json(adapter / "details.json") if adapter else {}
        snapshot["hard_cases"] = {split: d["hard_cases"] for split, d in (details or {}).items()
                                  if split in ("valid", "eval")}
        snapshot["tables"] = ((details or {}).get("eval") or {}).get("tables") or {}
        for name, table in snapshot["tables"].items():  # the cycle's own copy, e.g. confusion_matrix.json
            write_json(table, folder / f"{name}.json")
    return write_snapshot(folder, snapshot)


def _stop(ctx, cycle: int, records: list[dict]) -> dict:
    failed = [r for r in records if r["state"] == "ERROR"]
    first = next((r["error"].strip().splitlines()[-1] for r in failed if r.get("error")), "no error recorded")
    reason = (f"cycle {cycle}: no trial finished ({len(failed)} of {len(records)} failed; first error: {first}). "
              f"Nothing to learn from, so the campaign stops. Fix the cause, then `campaign run --overwrite`.")
    ctx["state"].update(status="stopped", stop_reason=reason)
    ctx["state"]["cycles"][str(cycle)]["status"] = "failed"
    save_state(ctx["folder"], ctx["state"])
    raise CampaignStopped(reason)


def _load_done(ctx, cycle: int) -> dict:
    folder = cycle_folder(ctx["folder"], cycle)
    plan, snapshot = read_json(folder / "plan.json"), read_json(folder / "validation_snapshot.json")
    records = snapshot["trials"]
    best = next((r for r in records if r["trial_id"] == snapshot["best_trial"]), None)
    return {"cycle": cycle, "records": records, "best": best, "hard_facets": read_hard_facets(folder),
            "data": _cycle_data(ctx, plan), "space": plan["seeding"]["space"]}


def _print_plan(cfg, plan: dict) -> None:
    """What cycle n+1's defaults resolved to: its data ratios, the control and the seed."""
    seeding = plan["seeding"]
    if plan["cycle"] == 1:
        return
    fresh = ", ".join(f"{r['key']} {r['new']}" for r in seeding.get("ranges", []) if r["rule"].startswith("searched anew"))
    where = "cycles.space" if cfg.cycles.space is not None else "cycles.space not set: the default"
    console.print(f"  data ratios searched over their full range: {fresh or 'none'} ({where})")
    control = seeding.get("control")
    if control:
        why = "cycles.control: true" if cfg.cycles.control else "cycles.control not set: on by default"
        console.print(f"  trial 1 is the control: cycle {plan['cycle'] - 1}'s best config (trial {control['of_trial']}) "
                      f"with nothing on top, seed {plan.get('train_seed')} ({why})")


def _print_cycle(cycle: int, snapshot: dict, gate: dict, hard: dict, effects: dict | None) -> None:
    from campaign.reporting.effects import effect_lines
    from campaign.reporting.tables import print_cycle_tables

    print_cycle_tables(snapshot)
    for line in effect_lines(effects, snapshot["task"]["primary"] if snapshot.get("task") else "primary"):
        console.print(f"  {line}", markup=False)
    console.print(f"cycle {cycle} gate: [bold]{'PROMOTED' if gate['passed'] else 'REFUSED'}[/] · {gate['summary']}")
    for check in gate["checks"]:  # failures, and every paired comparison with its interval
        if check["status"] == "fail" or "interval" in check:
            console.print(f"  {'✗' if check['status'] == 'fail' else '✓'} {check['reason']}", markup=False)
    console.print(f"hard facets for the next cycle: {', '.join(hard['hard_facets']) or '—'} ({hard['reason']})")

