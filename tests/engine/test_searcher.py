"""The search is not random search: TPE with 2 start-up trials, the default point evaluated first."""
from __future__ import annotations

from pathlib import Path

import optuna
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from campaign.config import load_config
from campaign.decide.seeding import seed_next_search
from campaign.engine.driver import _first_seeding
from campaign.engine.runner import _scheduler, _searcher, _study_spec

DEFAULT = Path(__file__).resolve().parents[2] / "search_spaces" / "balanced_6run.yaml"


def _study(cfg, tmp_path: Path, cycle: int = 1) -> dict:
    return _study_spec(cfg, cycle, tmp_path / f"cycle_{cycle}", f"v{cycle}")


def test_tpe_sampler_with_short_startup_and_default_point_first(tmp_path):
    cfg = load_config(DEFAULT)
    searcher = _searcher(cfg, _first_seeding(cfg), _study(cfg, tmp_path))
    sampler = searcher._sampler
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == 2 != optuna.samplers.TPESampler()._n_startup_trials
    assert searcher._points_to_evaluate == [{"train/lr": 2e-3, "train/epochs": 6, "train/add_ratio": 0.1,
                                             "train/replay_ratio": 0.03}]
    assert searcher.metric == "valid/objective" and searcher.mode == "min"


def test_random_sampler_and_no_default_point_on_request(tmp_path):
    cfg = load_config(DEFAULT, ["search.sampler=random", "search.evaluate_default_first=false"])
    searcher = _searcher(cfg, _first_seeding(cfg), _study(cfg, tmp_path))
    assert isinstance(searcher._sampler, optuna.samplers.RandomSampler)
    assert not searcher._points_to_evaluate


def test_scheduler_choice():
    assert isinstance(_scheduler(load_config(DEFAULT)), FIFOScheduler)
    asha = _scheduler(load_config(DEFAULT, ["search.scheduler=asha"]))
    assert isinstance(asha, ASHAScheduler) and asha._time_attr == "epoch"


def test_next_cycle_searcher_runs_best_points_first_and_knows_the_previous_trials(tmp_path):
    cfg = load_config(DEFAULT)
    records = [{"trial": i, "trial_id": f"t{i}", "state": "TERMINATED", "error": None,
                "config": {"train.lr": lr, "train.epochs": ep, "train.add_ratio": add, "train.replay_ratio": rep},
                "metrics": {"valid/objective": obj}}
               for i, (lr, ep, add, rep, obj) in enumerate([(2e-3, 6, 0.1, 0.03, 7.0), (3e-3, 8, 0.2, 0.05, 6.0),
                                                           (1.1e-3, 4, 0.29, 0.09, 9.0)], 1)]
    seeding = seed_next_search(cfg.search.space, records, metric="valid/objective", mode="min", top_k=2, margin=0.15)
    searcher = _searcher(cfg, seeding, _study(cfg, tmp_path, cycle=2))
    study = searcher._ot_study
    told = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    queued = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    assert sorted(t.value for t in told) == sorted(c["value"] for c in seeding["carried"])
    assert {t.user_attrs["carried_from"] for t in told} == {f"cycle1-trial{c['trial']}-{c['trial_id']}"
                                                            for c in seeding["carried"]}
    assert len(told) >= 2  # at least the two best trials lie inside the narrowed space
    assert [t.system_attrs["fixed_params"]["train/lr"] for t in queued] == [3e-3, 2e-3]  # best first
    lr = told[0].distributions["train/lr"]
    assert lr.log and 1e-3 <= lr.low < 2e-3 and 3e-3 < lr.high <= 5e-3 and (lr.low, lr.high) != (1e-3, 5e-3)


def _tell(searcher, trial_id: str, tag: str, objective: float) -> None:
    assert searcher.suggest(trial_id) is not None
    result = {"experiment_tag": tag, "training_iteration": 1, "valid/objective": objective,
              "eval/mae_raw": objective + 1, "eval/json_valid_rate": 1.0, "valid/mae_raw": float("nan")}
    searcher.on_trial_result(trial_id, result)
    searcher.on_trial_complete(trial_id, result)


def test_stored_trials_carry_tune_id_name_cycle_data_version_and_key_metrics(tmp_path):
    from campaign.tracking.optuna_study import study_records

    cfg = load_config(DEFAULT, ["name=demo"])
    study = _study(cfg, tmp_path, cycle=2)
    searcher = _searcher(cfg, _first_seeding(cfg), study)
    _tell(searcher, "abc12_00000", "1_train_lr=0.002", 5.0)
    [record] = study_records(study["path"])
    assert record["name"] == "demo-cycle2" and record["direction"] == "minimize"
    assert optuna.load_study(study_name="demo-cycle2", storage=f"sqlite:///{study['path']}").metric_names == [
        "valid/objective"]  # what optuna-dashboard labels the objective with
    assert record["user_attrs"] == {"campaign": "demo", "cycle": 2, "data_version": "v2",
                                    "metric": "valid/objective", "mode": "min"}
    [trial] = record["trials"]
    assert trial["state"] == "COMPLETE" and trial["value"] == 5.0
    assert trial["params"] == {"train/lr": 2e-3, "train/epochs": 6, "train/add_ratio": 0.1, "train/replay_ratio": 0.03}
    # the same name as Tune's trial_name_creator gives the trial, hence the W&B run's name
    assert trial["user_attrs"] == {"trial_id": "abc12_00000", "trial_name": "cycle2-trial1-abc12_00000",
                                   "cycle": 2, "data_version": "v2", "valid/objective": 5.0, "eval/mae_raw": 6.0,
                                   "eval/json_valid_rate": 1.0}  # NaN valid/mae_raw left out


def test_restore_rolls_the_stored_study_back_to_tunes_save(tmp_path):
    """Asked after Tune's last save, then killed: the restore drops that ask, so the re-ask is no duplicate."""
    from campaign.tracking.optuna_study import verify_study

    cfg = load_config(DEFAULT, ["name=demo"])
    study = _study(cfg, tmp_path)
    searcher = _searcher(cfg, _first_seeding(cfg), study)
    _tell(searcher, "t1", "1_a", 5.0)
    ckpt = tmp_path / "searcher.pkl"
    searcher.save(str(ckpt))
    searcher.suggest("t2")  # asked, then the driver dies before Tune's next save
    assert verify_study(study["path"], study["name"], ["t1"])["extra"] == ["t2"]
    searcher.restore(str(ckpt))
    assert verify_study(study["path"], study["name"], ["t1"]) == {
        "trials": 1, "carried": 0, "missing": [], "extra": [], "duplicated": [], "open": []}
    _tell(searcher, "t3", "2_b", 4.0)  # Tune asks again under a new id
    check = verify_study(study["path"], study["name"], ["t1", "t3"])
    assert check["trials"] == 2 and not (check["missing"] or check["extra"] or check["duplicated"] or check["open"])


def test_a_new_search_drops_the_study_of_an_attempt_tune_never_saved(tmp_path, capsys):
    """Killed before Tune's first save: the resume starts the search again, so the old asks must not linger."""
    from campaign.tracking.optuna_study import verify_study

    cfg = load_config(DEFAULT, ["name=demo"])
    study = _study(cfg, tmp_path)
    _searcher(cfg, _first_seeding(cfg), study).suggest("lost")
    assert verify_study(study["path"], study["name"], [])["extra"] == ["lost"]
    searcher = _searcher(cfg, _first_seeding(cfg), study)
    assert "demo-cycle1: dropped its 1 stored trial(s) from a search Tune never saved" in capsys.readouterr().out
    _tell(searcher, "t1", "1_a", 5.0)
    assert verify_study(study["path"], study["name"], ["t1"]) == {
        "trials": 1, "carried": 0, "missing": [], "extra": [], "duplicated": [], "open": []}
