"""Ray plumbing of a campaign: start Ray, score baselines, run (or restore) one cycle's Tune search.

Nothing here imports torch, transformers or bitsandbytes at module level; the
model-touching work happens in Ray workers and tasks (``trainables``), and the
tiny model is built on the CPU without bitsandbytes.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from campaign.config.search import tune_space
from campaign.core.errors import SearchInterrupted
from campaign.core.progress import console
from campaign.decide.seeding import optuna_point
from campaign.engine.ray_output import save_ray_logs
from campaign.tasks.base import Task
from campaign.tracking.wandb_mode import wandb_callbacks

__all__ = ["TRIAL_FN_CPU", "SearchInterrupted", "smoke_overrides", "max_concurrent_trials", "resolve_model_path",
           "RaySession", "start_ray", "run_search", "trial_statuses"]

TRIAL_FN_CPU = 0.01  # the Tune function only coordinates; its Train workers hold the real resources
# A Ray instance the campaign starts itself runs on one machine, which no scheduler preempts: Ray Train's
# per-trial preemption-watcher actor (one more process per trial, 10-50% of a core while trials start on
# 2 cores) has nothing to watch there. Clusters (RAY_ADDRESS) keep Ray's defaults.
LOCAL_RAY_ENV = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}


def smoke_overrides() -> dict:
    """``--smoke-test``: the same pipeline end to end, on small data and a few steps per trial."""
    return {"data": {"base_size": 60, "eval_size": 12, "name": "smoke"},
            "train": {"max_steps": 3}, "preflight": {"steps": 5},
            "search": {"num_samples": 2, "n_startup_trials": 1}}


def max_concurrent_trials(cfg, cluster: dict) -> tuple[int, str]:
    """Trials that fit the cluster at once (pure: ``cluster`` is ``ray.cluster_resources()``)."""
    from campaign.config.profiles import concurrency

    return concurrency(cfg.resources.plan()["trial_resources"], cluster, cfg.search.num_samples,
                       cfg.resources.max_concurrent, coordinator_cpu=TRIAL_FN_CPU)


def resolve_model_path(cfg) -> str:
    """'tiny' -> the locally built model folder; a local folder -> its absolute path; a Hub id as is.

    A relative folder must become absolute here: Ray workers do not run in the driver's
    directory, and from_pretrained would take the relative path there for a Hub id.
    """
    if cfg.model.base_model != "tiny":
        local = Path(cfg.model.base_model).expanduser()
        return str(local.resolve()) if local.is_dir() else cfg.model.base_model
    from trainables.tiny_model import ensure_tiny_model

    return str(ensure_tiny_model(task=cfg.task.instance()))


class RaySession:
    """A started (or attached) Ray, with the model's location and its files in the object store."""

    def __init__(self, cfg, env: dict[str, str], model_path: str, verbose: bool = False):
        import ray

        from campaign.engine.ray_output import quiet_console, ray_init_options

        self.verbose = verbose  # --verbose: Ray's worker output, Tune's tables and result dicts on the console
        self.local = not os.environ.get("RAY_ADDRESS")  # a Ray this driver starts, and which ends with it
        quiet_console(verbose)
        if not ray.is_initialized():
            if os.environ.get("RAY_ADDRESS"):
                ray.init(**ray_init_options(verbose))  # attach: the job's runtime env already applies
            else:
                # One extra logical CPU for the coordinating processes (0.01 CPU each, no compute),
                # so N cores run N one-CPU trials at once.
                ray.init(num_cpus=(os.cpu_count() or 1) + 1, runtime_env={"env_vars": {**LOCAL_RAY_ENV, **env}},
                         **ray_init_options(verbose))
        self.cfg, self.model_path = cfg, model_path
        self.concurrency, self.why = max_concurrent_trials(cfg, ray.cluster_resources())
        self.files_ref = None
        if cfg.model.base_model == "tiny":  # workers on other nodes load the tiny model from these bytes
            self.files_ref = ray.put({p.name: p.read_bytes() for p in Path(model_path).iterdir() if p.is_file()})
        self.precision = self._resolve_precision()  # a dtype the device cannot run stops here, before any trial

    def _resolve_precision(self) -> dict:
        """``model.compute_dtype`` resolved once for the device a trial worker gets (probed in such a task)."""
        import ray

        from campaign.decide.precision import resolve_compute_dtype

        from trainables.probe import probe_device

        probe = ray.get(self._task(probe_device).remote(self.cfg.resources.gpus_per_worker > 0))
        return resolve_compute_dtype(self.cfg.model.compute_dtype, probe)

    def worker_config(self) -> dict:
        """The config as workers get it: dtype and prompt resolved (``self.cfg`` keeps what the user wrote)."""
        config = self.cfg.to_dict()
        config["model"] = {**config["model"], "compute_dtype": self.precision["dtype"],
                           "prompt_template": self.cfg.prompt()[0]}
        return config

    def _task(self, fn):
        """A Ray task holding one trial worker's resources (custom ones such as mig_20gb included)."""
        import ray

        from campaign.config.profiles import ray_task_options

        return ray.remote(**ray_task_options(self.cfg.resources.plan()))(fn)

    def baselines(self, train_rows: list[dict], eval_rows: list[dict]) -> list[dict]:
        """The task's model-free baselines here; prompt_baseline in a Ray task (it loads the model).

        Each keeps its per-row outputs (``{row id: output}``), which the gate pairs with a model's.
        """
        import ray

        from trainables.baseline_task import prompt_baseline

        task = self.cfg.task.instance()
        out = []
        scored = task.baselines(train_rows, eval_rows)
        for mode, outputs in task.baseline_outputs(train_rows, eval_rows).items():
            out.append({"mode": mode, "metrics": {f"eval/{k}": v for k, v in scored[mode].items()},
                        "outputs": {r["id"]: o for r, o in zip(eval_rows, outputs)},
                        "tables": task.tables(eval_rows, outputs)})
        # the base model as the trials are scored, and also by loglikelihood where the task offers it: a base
        # model that does not follow the answer format still has a fair score there
        modes = {"prompt_baseline": task.scoring}
        if task.scoring != "loglikelihood" and type(task).continuations is not Task.continuations:
            modes["prompt_baseline_loglikelihood"] = "loglikelihood"
        for mode, scoring in modes.items():
            config = self.worker_config()
            config["task"] = {**config["task"], "scoring": scoring} if scoring != task.scoring else config["task"]
            scores, details = ray.get(self._task(prompt_baseline).remote(config, self.model_path, eval_rows,
                                                                         self.files_ref))
            out.append({"mode": mode, "metrics": scores,
                        "outputs": {o["id"]: o["output"] for o in details["outputs"]},
                        "latency_ms": {o["id"]: o["latency_ms"] for o in details["outputs"]},
                        "tables": details.get("tables") or {}})
        return out

    def outputs_with_adapter(self, rows: list[dict], adapter: Path) -> dict[str, str]:
        """Greedy outputs of the base model + ``adapter`` for ``rows`` (in a Ray task), keyed by row id."""
        import ray

        from trainables.baseline_task import model_outputs

        files = {str(p.relative_to(adapter)): p.read_bytes() for p in adapter.rglob("*") if p.is_file()}
        return ray.get(self._task(model_outputs).remote(self.worker_config(), self.model_path, rows, files,
                                                        self.files_ref))


def start_ray(cfg, env: dict[str, str], verbose: bool = False) -> RaySession:
    session = RaySession(cfg, env, resolve_model_path(cfg), verbose=verbose)
    _print_ray_locations(cfg)
    return session


def _print_ray_locations(cfg) -> None:
    """Where Ray's dashboard and its own logs are (Ray's INFO line with the dashboard is off when quiet)."""
    from campaign.engine.ray_output import ray_logs_note

    try:
        import ray._private.worker as ray_worker

        url = ray_worker.get_dashboard_url()
    except Exception:  # noqa: BLE001 - only a hint
        url = None
    if url:
        console.print(f"  Ray dashboard: http://{url}" if "://" not in url else f"  Ray dashboard: {url}")
    console.print(f"  {ray_logs_note(cfg.results_path())}", soft_wrap=True)


def _searcher(cfg, seeding: dict, study: dict):
    """OptunaSearch over the cycle's space on its stored study (``study``: path, name, attrs, key metrics).

    A new search starts on an empty study: one left by an earlier search of the cycle that Tune never saved is
    dropped first. The seeding's points run first; its carried trials are told as known, marked with the trial
    they came from.
    """
    import optuna

    from campaign.engine.optuna_search import CampaignOptunaSearch
    from campaign.tracking.optuna_study import delete_study_if_present, open_storage
    from trainables import trial_name

    s = cfg.search
    sampler = (optuna.samplers.TPESampler(n_startup_trials=s.n_startup_trials, seed=s.seed, multivariate=True,
                                          constant_liar=True)
               if s.sampler == "tpe" else optuna.samplers.RandomSampler(seed=s.seed))
    storage = open_storage(study["path"], create=True)
    dropped = delete_study_if_present(storage, study["name"])
    if dropped:
        console.print(f"  {study['name']}: dropped its {dropped} stored trial(s) from a search Tune never saved; "
                      "the search starts again")
    space = CampaignOptunaSearch.convert_search_space(tune_space(seeding["space"]))
    # points beyond num_samples would never run; enqueued, they would stay in the stored study as WAITING
    points = [optuna_point(p) for p in seeding["points"][:s.num_samples]] or None
    searcher = CampaignOptunaSearch(space=space, metric=s.metric, mode=s.mode, sampler=sampler,
                                    points_to_evaluate=points, storage=storage,
                                    study_name=study["name"], study_path=study["path"], attrs=study["attrs"],
                                    key_metrics=study["key_metrics"], trial_namer=trial_name)
    for known in seeding["carried"]:
        searcher.add_carried(optuna_point(known["config"]), known["value"],
                             f"cycle{study['attrs']['cycle'] - 1}-trial{known['trial']}-{known['trial_id']}")
    return searcher


def _scheduler(cfg):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if cfg.search.scheduler == "asha":
        return ASHAScheduler(time_attr="epoch", metric=cfg.search.metric, mode=cfg.search.mode,
                             max_t=max(cfg.train.epochs, 2), grace_period=1, reduction_factor=2)
    return FIFOScheduler()


def _trainable(static: dict):
    from ray import tune

    from trainables import qlora_trial

    return tune.with_resources(tune.with_parameters(qlora_trial, static=static), {"cpu": TRIAL_FN_CPU})


def _new_tuner(cfg, cycle: int, static: dict, folder: Path, concurrency: int, seeding: dict, callbacks: list,
               study: dict, verbose: bool = False):
    from ray import tune

    from campaign.engine.ray_output import tune_verbosity
    from trainables import trial_name

    return tune.Tuner(
        _trainable(static),
        tune_config=tune.TuneConfig(search_alg=_searcher(cfg, seeding, study), scheduler=_scheduler(cfg),
                                    num_samples=cfg.search.num_samples, max_concurrent_trials=concurrency,
                                    trial_name_creator=functools.partial(trial_name, cycle=cycle)),
        run_config=tune.RunConfig(name="tune", storage_path=str(folder.resolve()), callbacks=callbacks,
                                  failure_config=tune.FailureConfig(max_failures=cfg.search.max_failures),
                                  verbose=tune_verbosity(verbose)),
    )


def _with_console(callbacks: list | None, cfg, cycle: int, folder: Path, verbose: bool) -> list:
    """The cycle's Tune callbacks plus the console's epoch lines (a fresh one replaces a restored one)."""
    from campaign.engine.console_callback import TrialConsoleCallback

    kept = [c for c in callbacks or [] if not isinstance(c, TrialConsoleCallback)]
    return [TrialConsoleCallback(cycle, cfg.train.epochs, cfg.search.metric, folder.parent), *kept]


def _restored_console(tuner, cfg, cycle: int, folder: Path, verbose: bool) -> None:
    """``Tuner.restore`` takes no callbacks or run config: both come back from the first run's tuner.pkl.

    Its run config is the restored Tuner's own object, so the console callback and the verbosity
    of this run are set on it before ``fit()`` (in Ray client mode there is none to reach; the
    restored settings then apply).
    """
    from campaign.engine.ray_output import tune_verbosity

    internal = getattr(tuner, "_local_tuner", None)
    if internal is None or not hasattr(internal, "get_run_config"):
        return
    run_config = internal.get_run_config()
    run_config.callbacks = _with_console(run_config.callbacks, cfg, cycle, folder, verbose)
    run_config.verbose = tune_verbosity(verbose)


def trial_statuses(tune_dir: Path) -> dict[str, str]:
    """Tune's recorded status of every trial (works without Ray running)."""
    from ray.tune import ExperimentAnalysis

    return {t.trial_id: t.status for t in ExperimentAnalysis(str(Path(tune_dir).resolve())).trials}


def _study_spec(cfg, cycle: int, folder: Path, data_version: str) -> dict:
    """Where and under which name cycle ``cycle``'s Optuna study is stored, and what its trials carry."""
    from campaign.tracking.optuna_study import study_name, study_path

    spec = cfg.task.instance().spec
    keys = dict.fromkeys([cfg.search.metric, f"valid/{spec.primary}", f"eval/{spec.primary}",
                          f"eval/{spec.valid_rate}"])
    return {"path": study_path(folder.parent), "name": study_name(cfg.name, cycle), "key_metrics": tuple(keys),
            "attrs": {"campaign": cfg.name, "cycle": cycle, "data_version": data_version,
                      "metric": cfg.search.metric, "mode": cfg.search.mode}}


def _print_study(study: dict, tune_ids) -> None:
    """The stored study against Tune's trials: each exactly once, none left open."""
    from campaign.tracking.optuna_study import verify_study

    check = verify_study(study["path"], study["name"], tune_ids)
    carried = f" (+{check['carried']} carried from the previous cycle)" if check["carried"] else ""
    console.print(f"  Optuna study {study['name']}: {check['trials']} trials{carried} in {study['path']}",
                  soft_wrap=True)
    problems = {k: check[k] for k in ("missing", "extra", "duplicated", "open") if check[k]}
    if problems:
        console.print(f"  [yellow]warning:[/] the stored study and Tune's trials differ: {problems}")


def run_search(session: RaySession, cycle: int, folder: Path, data: dict, seeding: dict, wandb_mode: str,
               data_version: str):
    """Run cycle ``cycle``'s search, or restore it from ``folder``/tune after a crash; return (grid, statuses)."""
    import ray
    from ray import tune

    cfg = session.cfg
    static = {"config": session.worker_config(), "data_ref": ray.put(data), "model_path": session.model_path,
              "model_files_ref": session.files_ref, "train_storage": str((folder / "train").resolve()), "cycle": cycle,
              "local_ray": getattr(session, "local", False)}
    tune_dir = folder / "tune"
    study = _study_spec(cfg, cycle, folder, data_version)
    if tune.Tuner.can_restore(str(tune_dir.resolve())):
        console.print(f"  restoring the interrupted search from {tune_dir}")
        tuner = tune.Tuner.restore(str(tune_dir.resolve()), trainable=_trainable(static), resume_errored=True)
        _restored_console(tuner, cfg, cycle, folder, getattr(session, "verbose", False))
    else:
        callbacks = wandb_callbacks(cfg, wandb_mode, study["name"], folder)  # W&B group = Optuna study
        verbose = getattr(session, "verbose", False)
        callbacks = _with_console(callbacks, cfg, cycle, folder, verbose)
        tuner = _new_tuner(cfg, cycle, static, folder, session.concurrency, seeding, callbacks, study, verbose)
    try:
        grid = tuner.fit()
    finally:  # Ray's session logs (worker output included) kept with the campaign, also when interrupted
        save_ray_logs(folder.parent)
    statuses = trial_statuses(tune_dir)
    _print_study(study, statuses)
    unfinished = [t for t, s in statuses.items() if s not in ("TERMINATED", "ERROR")]
    if unfinished or len(statuses) < cfg.search.num_samples:
        raise SearchInterrupted(f"cycle {cycle}: {len(statuses) - len(unfinished)} of {cfg.search.num_samples} "
                                "trials ended before the search stopped")
    return grid, statuses
