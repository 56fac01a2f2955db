"""A real two-cycle ``optuna.db`` built with Optuna's own API, as the campaign's searcher stores it.

Cycle 1 searches lr in [1e-4, 1e-2] (log); its third trial fails. Cycle 2 narrows lr to
[5e-4, 5e-3], starts with cycle 1's best told as a carried trial (``carried_from``, no
``trial_id``), and asks eight trials of its own. Trial values follow a smooth function of the
parameters (lr matters most), so the importances and slices have something to show.
"""
from __future__ import annotations

import math
from pathlib import Path

import optuna

from campaign.tracking.optuna_study import open_storage, study_name, study_path

__all__ = ["CAMPAIGN", "CYCLE1", "CYCLE2", "build_study", "objective"]

CAMPAIGN = "demo"
PARAMS = ("train/lr", "train/epochs", "train/add_ratio", "train/replay_ratio")
# (lr, epochs, add_ratio, replay_ratio) per trial; None marks a failed trial.
CYCLE1 = [(1e-4, 4, 0.05, 0.1), (3e-3, 6, 0.10, 0.05), None, (4e-4, 6, 0.12, 0.0), (8e-4, 7, 0.25, 0.05),
          (1e-2, 5, 0.15, 0.1), (1e-3, 8, 0.20, 0.0), (1.2e-3, 8, 0.22, 0.05)]
CYCLE2 = [(1.5e-3, 7, 0.20, 0.05), (9e-4, 8, 0.25, 0.0), (6e-4, 6, 0.15, 0.1), (2e-3, 8, 0.28, 0.05),
          (1.1e-3, 8, 0.21, 0.05), (4e-3, 7, 0.12, 0.0), (7e-4, 8, 0.30, 0.1), (1e-3, 6, 0.18, 0.05)]


def _space(cycle: int) -> dict:
    lr = (1e-4, 1e-2) if cycle == 1 else (5e-4, 5e-3)
    return {"train/lr": optuna.distributions.FloatDistribution(*lr, log=True),
            "train/epochs": optuna.distributions.IntDistribution(4, 8),
            "train/add_ratio": optuna.distributions.FloatDistribution(0.0, 0.3),
            "train/replay_ratio": optuna.distributions.CategoricalDistribution([0.0, 0.05, 0.1])}


def objective(lr: float, epochs: int, add: float, replay: float) -> float:
    """A valid/objective-like error: lowest near lr 1e-3 and 8 epochs."""
    return round(6.0 + 2.0 * (math.log10(lr) + 3) ** 2 + 0.15 * (8 - epochs) + 0.5 * abs(add - 0.2)
                 + replay, 4)


def _cycle(storage, cycle: int, points: list, carried: optuna.trial.FrozenTrial | None) -> optuna.Study:
    study = optuna.create_study(storage=storage, study_name=study_name(CAMPAIGN, cycle), direction="minimize")
    for key, value in {"campaign": CAMPAIGN, "cycle": cycle, "data_version": f"v{cycle}",
                       "metric": "valid/objective", "mode": "min"}.items():
        study.set_user_attr(key, value)
    if carried is not None:
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=carried.value, params=carried.params,
            distributions=_space(cycle), user_attrs={"carried_from": carried.user_attrs["trial_id"]}))
    space = _space(cycle)
    for k, point in enumerate(points, start=1):
        fixed = point or points[0]
        study.enqueue_trial(dict(zip(PARAMS, fixed)))
        trial = study.ask(space)
        tid = f"{cycle:02d}{k:02d}beef"
        for key, value in {"trial_id": tid, "trial_name": f"cycle{cycle}-trial{k}-{tid}", "cycle": cycle,
                           "data_version": f"v{cycle}"}.items():
            trial.set_user_attr(key, value)
        if point is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        value = objective(*point)
        trial.set_user_attr("valid/objective", value)
        study.tell(trial, value)
    return study


def build_study(folder: Path) -> Path:
    """Write the two cycles' studies to ``folder/optuna.db``; return the file's path."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = study_path(folder)
    storage = open_storage(path, create=True)
    first = _cycle(storage, 1, CYCLE1, None)
    _cycle(storage, 2, CYCLE2, first.best_trial)
    storage.remove_session()
    storage.engine.dispose()
    return path
