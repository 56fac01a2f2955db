"""The search is not random search: TPE with 2 start-up trials, the default point evaluated first."""
from __future__ import annotations

from pathlib import Path

import optuna
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from campaign.config import load_config
from campaign.runner import _scheduler, _searcher

DEFAULT = Path(__file__).resolve().parents[1] / "search_spaces" / "balanced_6run.yaml"


def test_tpe_sampler_with_short_startup_and_default_point_first():
    cfg = load_config(DEFAULT)
    searcher = _searcher(cfg)
    sampler = searcher._sampler
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == 2 != optuna.samplers.TPESampler()._n_startup_trials
    assert searcher._points_to_evaluate == [{"train/lr": 2e-3, "train/epochs": 6, "train/add_ratio": 0.1,
                                             "train/replay_ratio": 0.03}]
    assert searcher.metric == "valid/objective" and searcher.mode == "min"


def test_random_sampler_and_no_default_point_on_request():
    cfg = load_config(DEFAULT, ["search.sampler=random", "search.evaluate_default_first=false"])
    searcher = _searcher(cfg)
    assert isinstance(searcher._sampler, optuna.samplers.RandomSampler)
    assert not searcher._points_to_evaluate


def test_scheduler_choice():
    assert isinstance(_scheduler(load_config(DEFAULT)), FIFOScheduler)
    asha = _scheduler(load_config(DEFAULT, ["search.scheduler=asha"]))
    assert isinstance(asha, ASHAScheduler) and asha._time_attr == "epoch"
