"""The search is not random search: TPE with 2 start-up trials, the default point evaluated first."""
from __future__ import annotations

from pathlib import Path

import optuna
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from campaign.config import load_config
from campaign.decide.seeding import seed_next_search
from campaign.engine.driver import _first_seeding
from campaign.engine.runner import _scheduler, _searcher

DEFAULT = Path(__file__).resolve().parents[2] / "search_spaces" / "balanced_6run.yaml"


def test_tpe_sampler_with_short_startup_and_default_point_first():
    cfg = load_config(DEFAULT)
    searcher = _searcher(cfg, _first_seeding(cfg))
    sampler = searcher._sampler
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == 2 != optuna.samplers.TPESampler()._n_startup_trials
    assert searcher._points_to_evaluate == [{"train/lr": 2e-3, "train/epochs": 6, "train/add_ratio": 0.1,
                                             "train/replay_ratio": 0.03}]
    assert searcher.metric == "valid/objective" and searcher.mode == "min"


def test_random_sampler_and_no_default_point_on_request():
    cfg = load_config(DEFAULT, ["search.sampler=random", "search.evaluate_default_first=false"])
    searcher = _searcher(cfg, _first_seeding(cfg))
    assert isinstance(searcher._sampler, optuna.samplers.RandomSampler)
    assert not searcher._points_to_evaluate


def test_scheduler_choice():
    assert isinstance(_scheduler(load_config(DEFAULT)), FIFOScheduler)
    asha = _scheduler(load_config(DEFAULT, ["search.scheduler=asha"]))
    assert isinstance(asha, ASHAScheduler) and asha._time_attr == "epoch"


def test_next_cycle_searcher_runs_best_points_first_and_knows_the_previous_trials():
    cfg = load_config(DEFAULT)
    records = [{"trial": i, "trial_id": f"t{i}", "state": "TERMINATED", "error": None,
                "config": {"train.lr": lr, "train.epochs": ep, "train.add_ratio": add, "train.replay_ratio": rep},
                "metrics": {"valid/objective": obj}}
               for i, (lr, ep, add, rep, obj) in enumerate([(2e-3, 6, 0.1, 0.03, 7.0), (3e-3, 8, 0.2, 0.05, 6.0),
                                                           (1.1e-3, 4, 0.29, 0.09, 9.0)], 1)]
    seeding = seed_next_search(cfg.search.space, records, metric="valid/objective", mode="min", top_k=2, margin=0.15)
    searcher = _searcher(cfg, seeding)
    study = searcher._ot_study
    told = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    queued = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    assert sorted(t.value for t in told) == sorted(c["value"] for c in seeding["carried"])
    assert len(told) >= 2  # at least the two best trials lie inside the narrowed space
    assert [t.system_attrs["fixed_params"]["train/lr"] for t in queued] == [3e-3, 2e-3]  # best first
    lr = told[0].distributions["train/lr"]
    assert lr.log and 1e-3 <= lr.low < 2e-3 and 3e-3 < lr.high <= 5e-3 and (lr.low, lr.high) != (1e-3, 5e-3)
