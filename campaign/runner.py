"""Run one campaign cycle: data, baselines, a Ray Tune + Optuna search of Ray Train trials, snapshot.

Nothing here imports torch, transformers or bitsandbytes at module level; the
model-touching work happens in Ray workers (trainables), and the tiny model is
built on the CPU without bitsandbytes.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from campaign.augment import rank_by_mean_error
from campaign.baselines import score_model_free
from campaign.data.io import sha256_file
from campaign.data.pipeline import normalize_request
from campaign.data.prepare import eval_dir, prepare_data
from campaign.decisions import best_trials, choose_hard_dims
from campaign.errors import ConfigError
from campaign.progress import console, step
from campaign.snapshot import copy_best_adapter, trial_records, write_snapshot
from campaign.tracking import resolve_wandb_mode, wandb_callbacks, worker_env

__all__ = ["CycleResult", "run_cycle", "max_concurrent_trials", "smoke_overrides", "resolve_model_path"]

TRIAL_FN_CPU = 0.01  # the Tune function only coordinates; its Train workers hold the real resources


@dataclass
class CycleResult:
    """Where a finished cycle wrote its results, and its snapshot."""

    folder: Path
    snapshot: dict


def smoke_overrides() -> dict:
    """``--smoke-test``: the same pipeline end to end, on small data and a few steps per trial."""
    return {"data": {"base_size": 60, "eval_size": 12, "name": "smoke"},
            "train": {"max_steps": 3},
            "search": {"num_samples": 2, "n_startup_trials": 1}}


def max_concurrent_trials(cfg, cluster: dict) -> tuple[int, str]:
    """Trials that fit the cluster at once (pure: ``cluster`` is ``ray.cluster_resources()``)."""
    r = cfg.resources
    cpu_need = r.num_workers * r.cpus_per_worker + TRIAL_FN_CPU
    fits = [math.floor(cluster.get("CPU", 0) / cpu_need + 1e-9)]
    why = f"{cluster.get('CPU', 0):g} CPUs / {cpu_need:g} per trial"
    if r.gpus_per_worker > 0:
        gpu_need = r.num_workers * r.gpus_per_worker
        fits.append(math.floor(cluster.get("GPU", 0) / gpu_need + 1e-9))
        why += f", {cluster.get('GPU', 0):g} GPUs / {gpu_need:g} per trial"
    if min(fits) < 1:
        raise ConfigError(f"resources: one trial needs more than the cluster has ({why})")
    if r.max_concurrent:
        return min(r.max_concurrent, cfg.search.num_samples), "resources.max_concurrent"
    return min(fits + [cfg.search.num_samples]), why


def resolve_model_path(cfg) -> str:
    """'tiny' -> the locally built model folder; anything else is passed to from_pretrained as is."""
    if cfg.model.base_model != "tiny":
        return cfg.model.base_model
    from campaign.tiny_model import ensure_tiny_model

    return str(ensure_tiny_model())


def _init_ray(env: dict[str, str]) -> None:
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=True)  # attach: the job's runtime env already applies
        return
    # One extra logical CPU for the coordinating processes (0.01 CPU each, no compute),
    # so N cores run N one-CPU trials at once.
    ray.init(num_cpus=(os.cpu_count() or 1) + 1, runtime_env={"env_vars": env}, log_to_driver=True)


def _baselines(cfg, version, eval_rows, model_path, files_ref) -> list[dict]:
    """mean_baseline and rule_baseline here; prompt_baseline in a Ray task (it loads the model)."""
    import ray

    from trainables.baseline_task import prompt_baseline

    out = [{"mode": mode, "metrics": {f"eval/{k}": v for k, v in scores.items()}}
           for mode, scores in score_model_free(version.train, eval_rows).items()]
    task = ray.remote(num_cpus=cfg.resources.cpus_per_worker, num_gpus=cfg.resources.gpus_per_worker)(prompt_baseline)
    scores, _ = ray.get(task.remote(cfg.to_dict(), model_path, eval_rows, files_ref))
    out.append({"mode": "prompt_baseline", "metrics": scores})
    return out


def _model_files_ref(cfg, model_path: str):
    """The tiny model's files in the object store, so workers on other nodes can load it."""
    if cfg.model.base_model != "tiny":
        return None
    import ray

    return ray.put({p.name: p.read_bytes() for p in Path(model_path).iterdir() if p.is_file()})


def _static(cfg, folder: Path, version, eval_rows, model_path, files_ref) -> dict:
    import ray

    data = {"train": version.train, "valid": version.valid, "eval": eval_rows, "version": version.manifest["version"],
            "base_size": cfg.data.base_size, "replay_pool": rank_by_mean_error(version.train),
            "eval_requests": {normalize_request(r["request"]) for r in eval_rows},
            "focus_dims": []}  # cycle 1 has no hard dimensions yet
    return {"config": cfg.to_dict(), "data_ref": ray.put(data), "model_path": model_path, "model_files_ref": files_ref,
            "train_storage": str((folder / "train").resolve())}


def _searcher(cfg):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    s = cfg.search
    sampler = (optuna.samplers.TPESampler(n_startup_trials=s.n_startup_trials, seed=s.seed, multivariate=True,
                                          constant_liar=True)
               if s.sampler == "tpe" else optuna.samplers.RandomSampler(seed=s.seed))
    points = [s.default_point(cfg)] if s.evaluate_default_first and s.space else None
    return OptunaSearch(metric=s.metric, mode=s.mode, sampler=sampler, points_to_evaluate=points)


def _scheduler(cfg):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if cfg.search.scheduler == "asha":
        return ASHAScheduler(time_attr="epoch", metric=cfg.search.metric, mode=cfg.search.mode,
                             max_t=max(cfg.train.epochs, 2), grace_period=1, reduction_factor=2)
    return FIFOScheduler()


def _tuner(cfg, static: dict, folder: Path, concurrency: int, callbacks: list):
    from ray import tune

    from trainables import qlora_trial

    trainable = tune.with_resources(tune.with_parameters(qlora_trial, static=static), {"cpu": TRIAL_FN_CPU})
    return tune.Tuner(
        trainable,
        param_space=cfg.search.tune_space(),
        tune_config=tune.TuneConfig(search_alg=_searcher(cfg), scheduler=_scheduler(cfg),
                                    num_samples=cfg.search.num_samples, max_concurrent_trials=concurrency),
        run_config=tune.RunConfig(name="tune", storage_path=str(folder.resolve()), callbacks=callbacks,
                                  failure_config=tune.FailureConfig(max_failures=cfg.search.max_failures),
                                  verbose=1),
    )


def _prepare_folder(cfg, cycle: int, overwrite: bool) -> Path:
    folder = cfg.results_path() / f"cycle_{cycle}"
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise ConfigError(f"{folder} already holds results; pass --overwrite to replace them, "
                              f"or choose another campaign name (name=...)")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_cycle(cfg, cycle: int = 1, overwrite: bool = False) -> CycleResult:
    """Run cycle ``cycle`` of the campaign ``cfg`` and write its folder."""
    wandb_mode, wandb_why = resolve_wandb_mode(cfg.tracking.wandb)
    env = worker_env(cfg)  # validates tracking before any work starts
    with step("validating data and freezing the eval set"):
        version, eval_rows = prepare_data(cfg.data)
    console.print(f"  data {version.path}: {version.manifest['counts']}; frozen eval set: {len(eval_rows)} rows")
    folder = _prepare_folder(cfg, cycle, overwrite)
    (folder / "resolved_config.yaml").write_text(yaml.safe_dump({**cfg.to_dict(), "resolved": {
        "wandb_mode": wandb_mode, "wandb_why": wandb_why, "worker_env": env}}, sort_keys=False, allow_unicode=True))
    with step("preparing the base model"):
        model_path = resolve_model_path(cfg)
    with step("starting Ray"):
        _init_ray(env)
        import ray

        concurrency, why = max_concurrent_trials(cfg, ray.cluster_resources())
    console.print(f"  {concurrency} trial(s) at once ({why}); W&B: {wandb_why}")
    files_ref = _model_files_ref(cfg, model_path)
    with step("baselines on the frozen eval set (mean, rule, prompt)"):
        base = _baselines(cfg, version, eval_rows, model_path, files_ref)
    static = _static(cfg, folder, version, eval_rows, model_path, files_ref)
    callbacks = wandb_callbacks(cfg, wandb_mode, f"{cfg.name}-cycle{cycle}", folder)
    t = time.time()
    console.rule(f"[bold]cycle {cycle}: {cfg.search.num_samples} trials")
    grid = _tuner(cfg, static, folder, concurrency, callbacks).fit()
    console.print(f"  search finished in {time.time() - t:.0f}s")
    return CycleResult(folder, _finish(cfg, cycle, folder, grid, base, version, eval_rows))


def _finish(cfg, cycle, folder, grid, base, version, eval_rows) -> dict:
    records = trial_records(grid, list(cfg.search.space))
    best = best_trials(records, cfg.search.metric, cfg.search.mode, 1)
    hard = choose_hard_dims(records, metric=cfg.search.metric, mode=cfg.search.mode)
    snapshot = {"campaign": cfg.name, "cycle": cycle, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "metric": cfg.search.metric, "mode": cfg.search.mode, "data_version": str(version.path),
                "eval_set": {"rows": len(eval_rows), "sha256": sha256_file(eval_dir(cfg.data) / "eval.parquet")},
                "best_trial": best[0]["trial_id"] if best else None, "trials": records, "baselines": base}
    if best:
        adapter = copy_best_adapter(best[0], folder)
        details = json.loads((adapter / "details.json").read_text()) if adapter else {}
        snapshot["hard_cases"] = {split: d["hard_cases"] for split, d in details.items()}
    snapshot = write_snapshot(folder, snapshot)
    (folder / "hard_dims.json").write_text(json.dumps(hard, indent=2) + "\n")
    return snapshot
