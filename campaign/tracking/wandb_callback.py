"""W&B runs written by the driver, one per trial, through Tune's ``LoggerCallback`` hooks.

Why not Ray's ``WandbLoggerCallback``: it starts two Ray actors per trial (a queue and a
logging actor, each a Python process that imports Ray and wandb). On 2 cores that was
about 4 process starts per trial, competing with the other trial's training, and its
early cleanup of a logging actor made Tune fail finished trials (KeyError in
``log_trial_end``). wandb runs several runs in one process (``reinit="create_new"``), and
one ``wandb.init`` costs about 0.06 s in offline mode here, so the driver logs directly.
What is logged matches Ray's callback: the flattened numeric results per training
iteration, Tune's bookkeeping keys as run config, the searched config.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from ray.tune.logger import LoggerCallback
from ray.tune.utils import flatten_dict

__all__ = ["DriverWandbCallback", "log_payload"]

NOT_LOGGED = ("done", "should_checkpoint", "config", "checkpoint_path")
AS_CONFIG = ("trial_id", "experiment_tag", "node_ip", "experiment_id", "hostname", "pid", "date")


def log_payload(result: dict, excludes=()) -> tuple[dict, dict]:
    """``(metrics, config_update)`` for one Tune result: numbers to log, bookkeeping to run config."""
    metrics, config = {}, {}
    skip = tuple(NOT_LOGGED) + tuple(excludes)
    for key, value in flatten_dict(result, delimiter="/").items():
        if any(key == s or key.startswith(s + "/") for s in skip):
            continue
        if key in AS_CONFIG:
            config[key] = value
        elif isinstance(value, numbers.Number) and not (isinstance(value, float) and math.isnan(value)):
            metrics[key] = value
    return metrics, config


class DriverWandbCallback(LoggerCallback):
    """One W&B run per trial (id = trial id, name = trial name), written from the driver process."""

    def __init__(self, project: str, group: str, dir: str, excludes=()):
        self.project, self.group, self.dir, self.excludes = project, group, dir, tuple(excludes)
        self._runs: dict[str, Any] = {}

    def log_trial_start(self, trial):
        if trial.trial_id in self._runs:  # a restarted trial keeps its run
            return
        import wandb

        config = {k: v for k, v in flatten_dict(dict(trial.config), delimiter=".").items()
                  if isinstance(v, (numbers.Number, str, bool))}
        self._runs[trial.trial_id] = wandb.init(
            project=self.project, group=self.group, name=str(trial), id=trial.trial_id, dir=self.dir,
            config=config, reinit="create_new", resume="allow", allow_val_change=True,
            # system metrics would describe the driver, not the trial's worker
            settings=wandb.Settings(x_disable_stats=True, silent=True, console="off"))

    def log_trial_result(self, iteration: int, trial, result: dict):
        run = self._runs.get(trial.trial_id)
        if run is None:
            return
        metrics, config = log_payload(result, self.excludes)
        if config:
            run.config.update(config, allow_val_change=True)
        run.log(metrics, step=result.get("training_iteration"))

    def log_trial_end(self, trial, failed: bool = False):
        run = self._runs.pop(trial.trial_id, None)
        if run is not None:
            run.finish(exit_code=1 if failed else 0)

    def on_experiment_end(self, trials, **info):
        for trial_id in list(self._runs):
            self._runs.pop(trial_id).finish(exit_code=1)  # the search ended before the trial did
