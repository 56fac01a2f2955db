"""Ray's W&B callback, made safe for a logging actor that ends before its trial does."""
from __future__ import annotations

from ray.air.integrations.wandb import WandbLoggerCallback

__all__ = ["TolerantWandbLoggerCallback"]


class TolerantWandbLoggerCallback(WandbLoggerCallback):
    """``WandbLoggerCallback`` whose end-of-trial signal tolerates an already cleaned-up logging actor.

    Ray 2.60 removes a trial's logging actor as soon as its run task is done; when that
    happens before the trial completes, ``log_trial_end`` raises KeyError and Tune marks a
    finished trial as failed (seen on 2 cores with two trials ending together). Tracking
    must never fail training, so the signal is skipped for a trial whose actor is gone.
    """

    def log_trial_end(self, trial, failed: bool = False):
        if trial in self._trial_queues:
            self._signal_logging_actor_stop(trial=trial)
        self._cleanup_logging_actors()
