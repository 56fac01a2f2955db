"""The quiet console: one line per trial epoch, Ray's chatter off the terminal, the orchestration line.

The end-to-end check (a real campaign's stdout) is in test_campaign_e2e.py, on the campaign it
already runs; this file needs no Ray cluster.
"""
from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import pytest

from campaign.engine.console_callback import (TrialConsoleCallback, end_line, epoch_line, error_line, retry_line,
                                       trial_epochs, trial_number)
from campaign.reporting.snapshot import orchestration_line, orchestration_overhead


class FakeTrial:
    """What the callback reads from a Tune trial: id, searched config, name (str) and experiment tag."""

    def __init__(self, trial_id="a1b2c3d4", counter=3, cycle=1, config=None, name=None, error_file=None):
        self.trial_id, self.config = trial_id, config if config is not None else {"train": {"epochs": 6}}
        self.experiment_tag = f"{counter}_lr=0.002"
        self._name = name if name is not None else f"cycle{cycle}-trial{counter}-{trial_id}"
        self.error_file, self.path, self.last_result = error_file, "/results/c/cycle_1/tune/t", {}

    def __str__(self):
        return self._name

    def get_error(self):
        return None


RESULT = {"epoch": 2, "train/loss": 0.81234, "valid/objective": 9.4123, "train/tokens_per_s": 2480.4,
          "time_total_s": 41.2, "train/steps": 24, "trial_id": "a1b2c3d4", "eval/mae_raw": float("nan")}


def test_epoch_line_names_trial_epoch_loss_objective_and_throughput():
    line = epoch_line(1, FakeTrial(), RESULT, 6)
    assert line == "  cycle 1 · trial 3 (a1b2c3d4) · epoch 2/6 · loss 0.812 · valid/objective 9.41 · 2,480 tok/s"


def test_epoch_line_missing_or_nan_values_and_nested_results():
    line = epoch_line(2, FakeTrial(cycle=2), {"epoch": 1, "train/loss": float("nan"),
                                              "valid": {"objective": 50.0}}, None)
    assert line == "  cycle 2 · trial 3 (a1b2c3d4) · epoch 1/? · loss — · valid/objective 50.00 · — tok/s"
    again = epoch_line(1, FakeTrial(), {**RESULT, "trial/rereported": 1}, 6)
    assert again.endswith("re-reported: trained before the restart")


def test_trial_number_follows_tunes_trial_name_and_falls_back_to_the_tag():
    assert trial_number(FakeTrial(counter=12)) == "12"
    assert trial_number(FakeTrial(counter=5, name="qlora_trial_a1b2c3d4")) == "5"  # no custom name: Tune's counter


def test_epochs_total_is_the_searched_value_else_the_campaigns():
    assert trial_epochs(FakeTrial(config={"train": {"epochs": 8, "lr": 1e-3}}), 6) == 8
    assert trial_epochs(FakeTrial(config={"train": {"lr": 1e-3}}), 6) == 6
    assert trial_epochs(FakeTrial(config={"train.epochs": 4}), 6) == 4
    assert trial_epochs(FakeTrial(config={}), None) is None


def test_end_error_and_retry_lines():
    assert end_line(1, FakeTrial(), RESULT) == ("  cycle 1 · trial 3 (a1b2c3d4) · finished after 2 epochs, 24 steps "
                                                "in 41s · valid/objective 9.41")
    traceback = "Traceback (most recent call last):\n  File x\npeft.NoMatchingPeftModuleError: No modules\n\n"
    assert error_line(1, FakeTrial(), traceback, "/r/error.txt") == (
        "  cycle 1 · trial 3 (a1b2c3d4) · FAILED: peft.NoMatchingPeftModuleError: No modules "
        "(full traceback: /r/error.txt)")
    assert error_line(1, FakeTrial(), None).endswith("FAILED: no error message recorded")
    assert len(error_line(1, FakeTrial(), "E: " + "x" * 1000)) < 300
    assert retry_line(1, FakeTrial(), traceback).endswith("failed, retrying: peft.NoMatchingPeftModuleError: No modules")


def test_callback_prints_one_line_per_event_and_pickles(capsys, tmp_path, monkeypatch):
    from campaign.engine import ray_output

    saved = []
    monkeypatch.setattr(ray_output, "save_ray_logs", saved.append)
    cb = TrialConsoleCallback(cycle=1, epochs=6, campaign_folder=tmp_path / "c")
    cb = pickle.loads(pickle.dumps(cb))  # Tune keeps it in tuner.pkl
    trial = FakeTrial(config={"train": {"epochs": 4}})
    cb.on_trial_result(iteration=1, trials=[trial], trial=trial, result=RESULT)
    trial.last_result = RESULT
    cb.on_trial_complete(iteration=2, trials=[trial], trial=trial)
    error = tmp_path / "error.txt"
    error.write_text("Failure # 1\nValueError: boom [not markup]\n")
    failed = FakeTrial(trial_id="ffff0000", counter=4, error_file=str(error))
    failed.run_metadata = type("Meta", (), {"error_filename": "error.txt"})()
    cb.on_trial_error(iteration=3, trials=[failed], trial=failed)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["  cycle 1 · trial 3 (a1b2c3d4) · epoch 2/4 · loss 0.812 · valid/objective 9.41 · 2,480 tok/s",
                     "  cycle 1 · trial 3 (a1b2c3d4) · finished after 2 epochs, 24 steps in 41s · valid/objective 9.41",
                     "  cycle 1 · trial 4 (ffff0000) · FAILED: ValueError: boom [not markup] "
                     "(full traceback: /results/c/cycle_1/tune/t/error.txt)"]
    assert saved == [tmp_path / "c"] * 2  # Ray's logs refreshed when each trial ended


def test_orchestration_ratio_from_hand_built_records():
    def rec(train, evals, **extra):
        return {"metrics": {"time/train_s": train, "time/eval_s": evals, **extra}}

    records = [rec(100.0, 20.0), rec(80.0, 10.0), rec(50.0, 5.0),
               rec(70.0, 7.0, **{"trial/rereported": 1}),  # trained before a restart: not in this wall
               {"metrics": {}}]  # failed before its first report
    o = orchestration_overhead(records, 312.0, 2)
    assert o["train_eval_s"] == 265.0 and o["at_once"] == 2 and o["ideal_wall_s"] == 132.5
    assert o["ratio"] == pytest.approx(312.0 / 132.5)
    assert o["trials_timed"] == 3 and o["trials"] == 5 and o["resumed"] is False
    assert orchestration_line(o) == ("  orchestration: search wall 312s vs trials' train+eval 265s / 2 at once = "
                                     "132s → ratio 2.35 (1.00 = no overhead); 3 of 5 trials timed")
    few = orchestration_overhead(records[:1], 150.0, 4)  # one trial cannot use 4 slots
    assert few["at_once"] == 1 and few["ratio"] == pytest.approx(1.25)
    smoke = orchestration_overhead([rec(0.4, 0.25), rec(0.3, 0.45)], 34.0, 2)
    assert orchestration_line(smoke) == ("  orchestration: search wall 34s vs trials' train+eval 1.4s / 2 at once = "
                                         "0.7s → ratio 48.57 (1.00 = no overhead)")
    assert orchestration_overhead([], None, 2)["ratio"] is None
    assert "resumed" in orchestration_line(orchestration_overhead(records[:2], 100.0, 2, resumed=True))


def test_quiet_and_verbose_ray_options():
    from campaign.engine.ray_output import ray_init_options, tune_verbosity

    assert ray_init_options(False) == {"log_to_driver": False, "logging_level": logging.WARNING}
    assert ray_init_options(True) == {"log_to_driver": True, "logging_level": logging.INFO}
    assert (tune_verbosity(False), tune_verbosity(True)) == (0, 1)


def test_raylet_worker_pool_warning_dropped_other_messages_kept(monkeypatch):
    import ray._private.worker as ray_worker

    from campaign.engine import ray_output

    seen = []
    monkeypatch.setattr(ray_worker, "print_to_stdstream", lambda data, ignore_prefix: seen.append(data["lines"]))
    ray_output._filter_raylet_messages()
    ray_output._filter_raylet_messages()  # idempotent: wrapped once
    printer = ray_worker.print_to_stdstream
    noise = ("WARNING: 10 PYTHON worker processes have been started on node: abc with address: 1.2.3.4, which is "
             "5x the maximum expected startup concurrency (2).")
    printer({"lines": [noise], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    printer({"lines": ["The actor or task cannot be scheduled right now."], "pid": "raylet", "is_err": False},
            ignore_prefix=False)
    printer({"lines": [noise], "pid": 1234, "is_err": True}, ignore_prefix=False)  # a worker's own line: kept
    assert seen == [["The actor or task cannot be scheduled right now."], [noise]]


def test_slow_operation_warnings_filtered_other_tune_warnings_kept():
    from campaign.engine.ray_output import _SlowOperationFilter

    def record(msg):
        return logging.LogRecord("ray.tune.utils.util", logging.WARNING, __file__, 1, msg, None, None)

    f = _SlowOperationFilter()
    assert not f.filter(record("The `process_trial_result` operation took 1.2 s, which may be a performance "
                               "bottleneck."))
    assert f.filter(record("Something else went wrong"))


def test_ray_session_logs_copied_into_the_campaign(monkeypatch, tmp_path):
    import ray._private.worker as ray_worker

    from campaign.engine.ray_output import ray_logs_note, save_ray_logs

    logs = tmp_path / "ray" / "session_1" / "logs"
    (logs / "train").mkdir(parents=True)
    (logs / "raylet.out").write_text("raylet\n")
    (logs / "train" / "ray-train-app-worker-1.log").write_text("TrainingReport(...)\n")
    node = type("Node", (), {"get_logs_dir_path": lambda self: str(logs)})()
    monkeypatch.setattr(ray_worker, "_global_node", node)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    campaign = tmp_path / "results" / "c"
    dst = save_ray_logs(campaign)
    assert dst == campaign / "logs" / "ray" / "session_1"
    assert (dst / "train" / "ray-train-app-worker-1.log").read_text() == "TrainingReport(...)\n"
    (logs / "raylet.out").write_text("raylet\nmore\n")
    assert save_ray_logs(campaign) == dst and (dst / "raylet.out").read_text() == "raylet\nmore\n"
    # Ray's runtime-env agent log records the workers' env: secrets never reach the results folder
    monkeypatch.setenv("WANDB_API_KEY", "wandb_secret_value_1234")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "another_secret_5678")
    (logs / "runtime_env_agent.log").write_text("env_vars: {'WANDB_API_KEY': 'wandb_secret_value_1234'}\n")
    save_ray_logs(campaign)
    with (logs / "runtime_env_agent.log").open("a") as fh:  # appended after the copy: a link would leak it
        fh.write("token another_secret_5678\n")
    save_ray_logs(campaign)
    text = (dst / "runtime_env_agent.log").read_text()
    assert "secret" not in text and text.count("[redacted]") == 2
    assert not os.path.samefile(dst / "raylet.out", logs / "raylet.out")
    assert str(campaign / "logs" / "ray") in ray_logs_note(campaign)
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert save_ray_logs(tmp_path / "other") is None and "head node" in ray_logs_note(campaign)


def test_console_callback_added_once_next_to_the_other_callbacks(tmp_path):
    from campaign.config import load_config
    from campaign.engine.runner import _with_console

    cfg = load_config(str(Path(__file__).resolve().parents[2] / "search_spaces" / "balanced_6run.yaml"), {})

    class Other:
        pass

    other = Other()
    restored = [TrialConsoleCallback(1, 3), other]
    callbacks = _with_console(restored, cfg, 2, tmp_path / "cycle_2", verbose=False)
    assert [type(c) for c in callbacks] == [TrialConsoleCallback, Other]
    assert callbacks[0].cycle == 2 and callbacks[0].epochs == cfg.train.epochs
    assert callbacks[0].campaign_folder == str(tmp_path)  # Ray's logs refreshed there as trials end


def test_verbose_flag_on_run_and_resume():
    from campaign.cli.main import build_parser

    p = build_parser()
    assert p.parse_args(["run", "--config", "x.yaml", "--verbose"]).verbose is True
    assert p.parse_args(["run", "--config", "x.yaml"]).verbose is False
    assert p.parse_args(["resume", "results/default", "--verbose"]).verbose is True
