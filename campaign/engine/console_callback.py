"""One console line per trial epoch, and one when a trial ends, fails or is retried: a Ray Tune callback.

    cycle 1 · trial 3 (a1b2c3d4) · epoch 2/6 · loss 0.812 · valid/objective 9.41 · 2,480 tok/s

Trials are numbered as Tune names them (``cycle{n}-trial{k}-{id}``, see ``trainables.tune_fn.trial_name``).
The line builders are pure functions of the result dict and a trial-like object (``trial_id``,
``config``, ``str()`` = the trial name; ``experiment_tag`` as a fallback), so they are tested
without Ray. The callback is pickled into Tune's ``tuner.pkl`` with the run config, so it holds
only plain values.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from ray.tune import Callback

__all__ = ["TrialConsoleCallback", "trial_number", "trial_epochs", "epoch_line", "end_line", "error_line",
           "retry_line"]


def _get(result: dict, key: str):
    """``result[key]`` for a flat key such as ``train/loss``, or the same key nested (``result['train']['loss']``)."""
    if key in result:
        return result[key]
    node = result
    for part in key.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _num(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _fmt(value, spec: str) -> str:
    v = _num(value)
    return "—" if v is None else format(v, spec)


def trial_number(trial) -> str:
    """``k`` of Tune's trial name ``cycle{n}-trial{k}-{id}``; else Tune's counter from the experiment tag."""
    match = re.search(r"(?:^|-)trial(\d+)-", str(trial))
    if match:
        return match.group(1)
    return str(getattr(trial, "experiment_tag", "") or "").split("_", 1)[0] or "?"


def trial_epochs(trial, default: int | None) -> int | None:
    """Epochs this trial trains: its searched ``train.epochs`` if any, else the campaign's."""
    config = getattr(trial, "config", None) or {}
    train = config.get("train")
    for value in (train.get("epochs") if isinstance(train, dict) else None, config.get("train.epochs"),
                  config.get("train/epochs")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return default


def _head(cycle: int, trial) -> str:
    return f"  cycle {cycle} · trial {trial_number(trial)} ({getattr(trial, 'trial_id', '?')})"


def epoch_line(cycle: int, trial, result: dict, epochs: int | None, metric: str = "valid/objective") -> str:
    """The line printed for one reported epoch of a trial."""
    epoch = _num(_get(result, "epoch"))
    epoch_text = "?" if epoch is None else str(int(epoch))
    parts = [_head(cycle, trial), f"epoch {epoch_text}/{epochs or '?'}",
             f"loss {_fmt(_get(result, 'train/loss'), '.3f')}", f"{metric} {_fmt(_get(result, metric), '.2f')}",
             f"{_fmt(_get(result, 'train/tokens_per_s'), ',.0f')} tok/s"]
    if _get(result, "trial/rereported") == 1:
        parts.append("re-reported: trained before the restart")
    return " · ".join(parts)


def end_line(cycle: int, trial, result: dict, metric: str = "valid/objective") -> str:
    """The line printed when a trial finishes."""
    epoch = _num(_get(result, "epoch"))
    steps = _num(_get(result, "train/steps"))
    done = "finished" if epoch is None else f"finished after {int(epoch)} epoch{'s' if epoch != 1 else ''}"
    if steps is not None:
        done += f", {int(steps)} steps"
    return " · ".join([_head(cycle, trial), f"{done} in {_fmt(_get(result, 'time_total_s'), '.0f')}s",
                       f"{metric} {_fmt(_get(result, metric), '.2f')}"])


def _last_error_line(text: str | None, limit: int = 240) -> str:
    """The last line of a traceback (``Type: message``), cut to ``limit`` characters."""
    lines = [line.strip() for line in str(text or "").strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no error message recorded"
    return line if len(line) <= limit else line[:limit - 1] + "…"


def error_line(cycle: int, trial, error: str | None, where: str | None = None) -> str:
    """The line printed when a trial fails for good: its last error line and where the full traceback is."""
    line = f"{_head(cycle, trial)} · FAILED: {_last_error_line(error)}"
    return line + (f" (full traceback: {where})" if where else "")


def retry_line(cycle: int, trial, error: str | None) -> str:
    """The line printed when a failed trial is scheduled again (``search.max_failures``)."""
    return f"{_head(cycle, trial)} · failed, retrying: {_last_error_line(error)}"


def _error_text(trial) -> str | None:
    """The trial's error as Tune wrote it: its local error file first (the copy in the results folder is
    synced later), then Tune's own reader."""
    try:
        local = trial.error_file
        if local and Path(local).is_file():
            return Path(local).read_text(encoding="utf-8", errors="replace")
        text = trial.get_error()
    except Exception:  # noqa: BLE001 - the message is a courtesy; Tune logs the traceback itself
        text = None
    return str(text) if text else None


def _error_file(trial) -> str | None:
    try:
        path = getattr(trial, "path", None)
        name = trial.run_metadata.error_filename
    except Exception:  # noqa: BLE001
        return None
    return f"{path}/{name}" if path and name else None


class TrialConsoleCallback(Callback):
    """Prints the campaign's per-epoch and end-of-trial lines while Tune runs a cycle's search.

    With ``campaign_folder``, Ray's session logs are also refreshed into ``<campaign>/logs/ray/``
    whenever a trial ends, so a driver killed mid-search (no ``finally``) still leaves them there.
    """

    def __init__(self, cycle: int, epochs: int | None, metric: str = "valid/objective",
                 campaign_folder: str | None = None):
        self.cycle, self.epochs, self.metric = cycle, epochs, metric
        self.campaign_folder = None if campaign_folder is None else str(campaign_folder)

    def _save_logs(self) -> None:
        if self.campaign_folder:
            from campaign.engine.ray_output import save_ray_logs

            save_ray_logs(Path(self.campaign_folder))

    @staticmethod
    def _print(line: str) -> None:
        from campaign.core.progress import console

        console.print(line, markup=False, highlight=False, soft_wrap=True)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._print(epoch_line(self.cycle, trial, result, trial_epochs(trial, self.epochs), self.metric))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._print(end_line(self.cycle, trial, getattr(trial, "last_result", None) or {}, self.metric))
        self._save_logs()

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._print(retry_line(self.cycle, trial, _error_text(trial)))

    def on_trial_error(self, iteration, trials, trial, **info):
        self._print(error_line(self.cycle, trial, _error_text(trial), _error_file(trial)))
        self._save_logs()
