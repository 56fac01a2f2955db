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

    # Set (to a file) for a quiet console: Ray's C++ core worker logs, once per process and at ERROR
    # level, that the logging actor "has constructor arguments in the object store and max_restarts > 0"
    # (its queue handle); that line goes to this file instead of the driver's terminal.
    quiet_stderr_log = None

    def _start_logging_actor(self, trial, exclude_results, **wandb_init_kwargs):
        if self.quiet_stderr_log is None:
            return super()._start_logging_actor(trial, exclude_results, **wandb_init_kwargs)
        from campaign.ray_output import stderr_to

        with stderr_to(self.quiet_stderr_log):
            return super()._start_logging_actor(trial, exclude_results, **wandb_init_kwargs)
