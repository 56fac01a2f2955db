"""The preflight: one worker, a few steps at the largest memory setting, before cycle 1's trials.

``largest_setting`` picks the setting and ``judge`` the verdict (``campaign.decide.preflight``,
pure); ``trainables.preflight.preflight_run`` trains and measures in a Ray task holding one trial
worker's resources. The verdict is printed and written to ``<campaign>/preflight.json``; a failed
preflight stops the campaign before any trial (``CampaignStopped``, with the reason).
"""
from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

from rich.markup import escape

from campaign.core.errors import CampaignStopped, ConfigError
from campaign.core.progress import console, step
from campaign.data.io import write_json
from campaign.decide.preflight import fmt_mb, judge, largest_setting, pct
from campaign.decide.state import read_json, save_state
from campaign.reporting.snapshot import strict_json

__all__ = ["PREFLIGHT_FILE", "run_preflight", "campaign_preflight", "preflight_only", "memory_shared_by"]

PREFLIGHT_FILE = "preflight.json"
OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")  # as trainables.preflight


def _worker_config(session, overrides: dict) -> dict:
    """The config trial workers get, with the largest memory setting laid over it."""
    config = session.worker_config()
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        config[section] = {**config[section], name: value}
    return config


def memory_shared_by(cfg, concurrency: int, node_cpus: float | None) -> int:
    """Workers whose memory adds up on one device: 1 on a GPU (a device per worker); on CPU, the trial
    workers that run at once on the node (its RAM is theirs together)."""
    plan = cfg.resources.plan()
    if plan["use_gpu"]:
        return 1
    at_once = concurrency * plan["num_workers"]
    if node_cpus:
        at_once = min(at_once, math.floor(node_cpus / cfg.resources.cpus_per_worker + 1e-9))
    return max(1, at_once)


def _node_cpus(node_id: str | None) -> float | None:
    import ray

    for node in ray.nodes():
        if node.get("NodeID") == node_id:
            return node.get("Resources", {}).get("CPU")
    return None


def _remote_run(session, config: dict, rows: list[dict], steps: int) -> dict:
    """``preflight_run`` in a Ray task with one trial worker's resources; a crash becomes a result with its reason."""
    import ray

    from trainables.preflight import preflight_run

    task = session._task(preflight_run).options(max_retries=0)  # a killed preflight is an answer, not a hiccup
    try:
        return ray.get(task.remote(config, session.model_path, rows, steps, session.files_ref))
    except ray.exceptions.OutOfMemoryError as err:  # Ray's memory monitor killed the task
        last = str(err).strip().splitlines()[0][:300]
        return {"steps": steps, "losses": [], "oom": f"Ray killed the worker: {last}", "error": last, "error_step": None}
    except ray.exceptions.WorkerCrashedError as err:
        why = "the worker process died (the OS's out-of-memory killer, most likely)"
        return {"steps": steps, "losses": [], "oom": why, "error": str(err)[:300], "error_step": None}
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        text = (f"{type(cause).__name__}: {cause}" if cause is not None else str(err).strip().splitlines()[-1])[:500]
        oom = text if any(t in text.lower() for t in OOM_TEXT) else None  # e.g. CUDA OOM while loading the model
        return {"steps": steps, "losses": [], "error": text, "oom": oom, "error_step": None}


def run_preflight(session, cfg, rows: list[dict], folder: Path | None = None, stop: bool = True) -> dict:
    """Run, judge, print and write the preflight (``<folder>/preflight.json``); raise ``CampaignStopped``
    with the reason when it fails and ``stop`` is set. Returns the written record."""
    import ray

    folder = Path(folder or cfg.results_path())
    setting = largest_setting(cfg.to_dict(), cfg.search.space)  # cycles.space holds data ratios only: no memory
    p = cfg.preflight
    config = _worker_config(session, setting["overrides"])
    shown = ", ".join(f"{k.split('.')[1]} {v}" for k, v in setting["overrides"].items())
    t = time.time()
    with step(f"preflight: {p.steps} step(s) of one worker at the largest memory setting ({shown})"):
        result = _remote_run(session, config, rows, p.steps)
    wall = time.time() - t
    try:
        node_cpus = ray.cluster_resources().get("CPU") if session.local else _node_cpus(result.get("node_id"))
    except Exception:  # noqa: BLE001 - only sharpens the CPU share
        node_cpus = None
    result["memory_shared_by"] = memory_shared_by(cfg, session.concurrency, node_cpus)
    verdict = judge(result, p.memory_fraction)
    record = {"passed": verdict["passed"], "failures": verdict["failures"], "warnings": verdict["warnings"],
              "summary": verdict["summary"], "loss_trend": verdict["loss_trend"], "steps": p.steps,
              "memory_fraction": p.memory_fraction, "setting": setting, "wall_s": wall,
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "result": strict_json(result)}
    _print(record, result)
    write_json(record, folder / PREFLIGHT_FILE)
    if stop and not record["passed"]:
        raise CampaignStopped(f"preflight failed before any trial: {'; '.join(record['failures'])} "
                              f"(details: {folder / PREFLIGHT_FILE}). Fix the cause (for memory: a smaller batch, "
                              "max_seq_len, rank or search range; for NaN: a lower train.lr), then `campaign run "
                              "--overwrite`; `--no-preflight` skips the check.")
    return record


def _print(record: dict, result: dict) -> None:
    out = lambda text: console.print(f"  {text}", markup=False, soft_wrap=True)  # noqa: E731
    out("setting: " + "; ".join(record["setting"]["why"]))
    if result.get("device"):
        out(f"device: {result.get('device_name') or result['device']}, {result.get('precision')}, "
            f"{result.get('batching')}; {result.get('batch_size')} x {result.get('seq_len')} tokens per micro-batch "
            f"(rows repeated to max_seq_len), grad_accum {result.get('grad_accum')}, {result.get('rows')} training rows")
    if result.get("peak_memory_mb") is not None and result.get("device_memory_mb"):
        shared = result["memory_shared_by"]
        out(f"memory: peak {fmt_mb(result['peak_memory_mb'])} of {fmt_mb(result['device_memory_mb'])}"
            + (f", shared by {shared} workers at once" if shared > 1 else "")
            + f" (limit {pct(record['memory_fraction'])} of {fmt_mb(result['device_memory_mb'] / shared)})")
    losses = result.get("losses") or []
    if losses:
        nan = result.get("nan_step")
        out(f"loss: {_f(losses[0])} → {_f(losses[-1])} over {len(losses)} step(s); "
            + (f"NaN at step {nan}" if nan else "no NaN"))
    if result.get("tokens_per_s"):
        out(f"speed: {result['tokens_per_s']:,.0f} tokens/s ({result.get('steps_run')} steps in "
            f"{result.get('train_s', 0):.1f}s; model load {result.get('load_s', 0):.1f}s)")
    for warning in record["warnings"]:
        console.print(f"  [yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    mark = "[bold green]✓ preflight passed[/]" if record["passed"] else "[bold red]✗ preflight FAILED[/]"
    console.print(f"  {mark}" + ("" if record["passed"] else ": " + escape("; ".join(record["failures"]))),
                  soft_wrap=True)


def _f(value) -> str:
    return "nan" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.4g}"


def campaign_preflight(session, cfg, folder: Path, rows: list[dict], state: dict) -> dict | None:
    """The driver's preflight before cycle 1: skipped when it passed earlier or a cycle has started (resume)."""
    done = read_json(Path(folder) / PREFLIGHT_FILE)
    if done and done.get("passed"):
        console.print(f"preflight: passed earlier ({done['summary']}); not repeated")
        return done
    if state.get("cycles"):
        return None  # trials have run already: they answered what a preflight asks
    try:
        return run_preflight(session, cfg, rows, folder)
    except CampaignStopped as err:
        state.update(status="stopped", stop_reason=str(err))
        save_state(folder, state)
        raise


def preflight_only(cfg, overwrite: bool = False, verbose: bool = False) -> dict:
    """``campaign run --preflight``: data, Ray and the preflight, nothing else; its record is in
    ``<campaign>/preflight.json`` (the only file written under the results)."""
    from campaign.data.prepare import prepare_data
    from campaign.engine.runner import start_ray
    from campaign.tracking.wandb_mode import worker_env

    folder = cfg.results_path()
    if folder.exists() and any(p.name != PREFLIGHT_FILE for p in folder.iterdir()) and not overwrite:
        raise ConfigError(f"{folder} already holds a campaign; a preflight would replace its {PREFLIGHT_FILE}. "
                          "Choose another name (name=...), or replace the campaign with --overwrite")
    task = cfg.task.instance()
    with step("validating data and freezing the eval set"):
        version, _ = prepare_data(cfg.data, task)
    with step("starting Ray and preparing the base model"):
        session = start_ray(cfg, worker_env(cfg), verbose)
    console.print(f"  {session.precision['reason']}")
    if folder.exists() and overwrite:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return run_preflight(session, cfg, version.train, folder, stop=False)
