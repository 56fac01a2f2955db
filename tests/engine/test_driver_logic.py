"""Driver pieces that need no Ray: promotion, stopping, state, status, decision log, CLI errors."""
from __future__ import annotations

import json

import pytest

from campaign.cli.main import main
from campaign.config import load_config
from campaign.core.errors import CampaignStopped, ConfigError
from campaign.decide.gates import evaluate_gate
from campaign.decide.state import load_state, load_view, new_state, promote, save_state
from campaign.engine import driver
from campaign.reporting.decision_log import render_decision_log
from campaign.reporting.status import campaign_status
from campaign.tasks.hidden_params import SPEC


def _best(trial=3, mae=6.8):
    return {"trial": trial, "trial_id": f"id{trial}", "state": "TERMINATED", "error": None,
            "config": {"train.lr": 2e-3}, "metrics": {"valid/objective": mae, "eval/mae_raw": mae,
                                                      "eval/json_valid_rate": 1.0, "train/loss": 0.1}}


def _adapter(folder, cycle, text):
    adapter = folder / f"cycle_{cycle}" / "best_adapter" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(text)


def test_promotion_swaps_the_whole_folder_with_lineage(tmp_path):
    gate = {"summary": "promoted: all checks passed"}
    _adapter(tmp_path, 1, "one")
    first = promote(tmp_path, 1, _best(3), "v1", gate)
    assert first["cycle"] == 1 and first["metrics"] == {"eval/mae_raw": 6.8, "eval/json_valid_rate": 1.0}
    _adapter(tmp_path, 2, "two")
    promote(tmp_path, 2, _best(5, 6.1), "v2", gate)
    lineage = json.loads((tmp_path / "promoted" / "lineage.json").read_text())
    assert (lineage["cycle"], lineage["trial"], lineage["data_version"]) == (2, 5, "v2")
    assert (tmp_path / "promoted" / "adapter" / "adapter_config.json").read_text() == "two"
    assert json.loads((tmp_path / "promoted" / "metrics.json").read_text())["eval/mae_raw"] == 6.1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cycle_1", "cycle_2", "promoted"]


def test_a_cycle_with_no_finished_trial_stops_the_campaign(tmp_path):
    cfg = load_config(None, {"name": "stop", "results_dir": str(tmp_path)})
    state = new_state(cfg)
    state["cycles"]["1"] = {"status": "searching"}
    ctx = {"state": state, "folder": tmp_path}
    records = [{"state": "ERROR", "error": "Traceback ...\nValueError: Target modules {'nope'} not found"},
               {"state": "ERROR", "error": "Traceback ...\nValueError: Target modules {'nope'} not found"}]
    with pytest.raises(CampaignStopped, match=r"cycle 1: no trial finished \(2 of 2 failed; first error: "
                                              r"ValueError: Target modules \{'nope'\} not found\)"):
        driver._stop(ctx, 1, records)
    saved = load_state(tmp_path)
    assert saved["status"] == "stopped" and saved["cycles"]["1"]["status"] == "failed"
    assert "no trial finished" in saved["stop_reason"]


def test_run_refuses_an_existing_campaign_and_points_to_resume(tmp_path):
    cfg = load_config(None, {"name": "old", "results_dir": str(tmp_path)})
    save_state(cfg.results_path().mkdir(parents=True) or cfg.results_path(), new_state(cfg))
    with pytest.raises(ConfigError, match="campaign resume"):
        driver.run_campaign(cfg)


def test_resume_and_status_of_a_non_campaign_folder_exit_2(tmp_path, capsys):
    assert main(["resume", str(tmp_path)]) == 2
    assert "not a campaign folder" in capsys.readouterr().err
    assert main(["status", str(tmp_path)]) == 2


def _done_campaign(tmp_path):
    cfg = load_config(None, {"name": "done", "results_dir": str(tmp_path)})
    folder = cfg.results_path()
    (folder / "cycle_1").mkdir(parents=True)
    best = _best()
    snap = {"campaign": "done", "cycle": 1, "trials": [best, {**_best(4, 9.0), "state": "ERROR", "error": "boom"}],
            "best_trial": "id3", "baselines": [], "eval_set": {"rows": 70}}
    (folder / "cycle_1" / "validation_snapshot.json").write_text(json.dumps(snap))
    gate = evaluate_gate(best["metrics"], spec=SPEC, focus_facets=[], previous_best=None, promoted=None,
                         baselines={"prompt_baseline": {"eval/mae_raw": None, "eval/json_valid_rate": 0.0}})
    (folder / "cycle_1" / "gate.json").write_text(json.dumps(gate))
    (folder / "cycle_1" / "plan.json").write_text(json.dumps({"focus_dims": [], "data_version": "v1",
                                                              "data_summary": "v1", "seeding": {"summary": "s"}}))
    state = new_state(cfg)
    state.update(status="finished", promoted={"cycle": 1, "trial": 3, "trial_id": "id3", "data_version": "v1",
                                              "metrics": best["metrics"]})
    state["cycles"]["1"] = {"status": "done", "data_version": "v1", "focus_dims": [], "gate": gate["summary"]}
    state["history"] = [{"cycle": 1, "verdict": "promoted", "summary": gate["summary"]}]
    save_state(folder, state)
    return folder, gate


def test_status_lines_and_report_view(tmp_path):
    from rich.console import Console

    folder, gate = _done_campaign(tmp_path)
    console = Console(record=True, width=200)
    for line in campaign_status(folder):
        console.print(line)
    text = console.export_text()
    assert "finished · cycles 1 of 1 done" in text and "1 / 0 / 1 / 0" in text
    assert "trial 3: valid 6.80, eval mae_raw 6.80" in text and "promoted: cycle 1 trial 3" in text
    view = load_view(folder)
    assert view["cycles"][0]["gate"] == gate and view["cycles"][0]["snapshot"]["best_trial"] == "id3"
    assert view["promoted"]["trial"] == 3


def test_a_campaign_folder_written_before_facets_still_reads(tmp_path):
    """plan.json/state with focus_dims, hard_dims.json and a config with the old keys: status, view, report, resume config."""
    import warnings

    from campaign.reporting.report import render_report

    folder, _ = _done_campaign(tmp_path)
    (folder / "cycle_1" / "hard_dims.json").write_text(json.dumps(
        {"best_trials": ["id3"], "per_dim_mae": {"energy": 9.5, "nostalgia": 7.0}, "hard_dims": ["energy"],
         "reason": "largest mean valid mae_raw_<dim>", "forced": False}))
    state = load_state(folder)
    config = state["config"]
    config["cycles"] = {**{k: v for k, v in config["cycles"].items() if k not in ("n_facets", "force_facets")},
                        "n_dims": 1, "force_dims": []}
    config["gate"] = {"min_json_valid_rate": 0.98, "focus_min_improvement": 0.0, "mae_tolerance": 0.0}
    config.pop("task")
    save_state(folder, state)
    view = load_view(folder)
    assert view["cycles"][0]["hard_facets"]["hard_facets"] == ["energy"] and view["facets"][0] == "energy"
    assert view["cycles"][0]["focus_facets"] == []
    page = render_report(view)
    assert "next cycle focuses on energy" in page and "energy 9.50" in page
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        cfg = load_config(None, load_state(folder)["config"])  # what `campaign resume` does
    assert cfg.cycles.n_facets == 1 and cfg.gate.min_valid_rate == 0.98 and cfg.task.kind == "hidden_params"
    assert len(cfg.deprecations) == 4


def test_decision_log_records_forced_focus_and_the_gate_table():
    # a plan as written before facets had their name (focus_dims, hard_dims): still rendered
    plan = {"eval_set": {"rows": 70, "sha256": "ab" * 32}, "focus_dims": ["nostalgia"], "data_summary": "v2: pools",
            "data_parent": "v1", "replay_ranking": "errors", "hard_dims": {
                "hard_dims": ["nostalgia"], "forced": True, "reason": "forced by cycles.force_dims",
                "per_dim_mae": {"nostalgia": 7.25, "energy": 9.5}},
            "seeding": {"rule": "RULE", "points": [{"train.lr": 0.002}], "carried": [{"trial": 1, "value": 6.5}],
                        "ranges": [{"key": "train.lr", "type": "loguniform", "old": [0.001, 0.005],
                                    "new": [0.0015710300604635282, 0.0030792835212123406], "rule": "narrowed"}]}}
    previous = {"cycle": 1, "best": _best()}
    baselines = [{"mode": "prompt_baseline", "metrics": {"eval/mae_raw": None, "eval/json_valid_rate": 0.0}}]
    gate = evaluate_gate({"eval/json_valid_rate": 1.0, "eval/mae_raw": 7.0, "eval/mae_raw_nostalgia": 8.0},
                         spec=SPEC, focus_facets=["nostalgia"], previous_best={"eval/mae_raw_nostalgia": 7.0},
                         promoted={"eval/mae_raw": 6.8}, baselines={"prompt_baseline": baselines[0]["metrics"]})
    snapshot = {"best_trial": "id3", "trials": [_best()]}
    text = render_decision_log("c", 2, plan, previous, baselines, snapshot, gate, {"cycle": 1, "trial": 3,
                               "data_version": "v1", "metrics": {"eval/mae_raw": 6.8}})
    assert "- focus: **nostalgia** (forced)" in text and "| nostalgia | 7.25 |" in text
    assert "prompt_baseline: eval mae_raw — (no valid output)" in text
    assert "| train.lr | loguniform | [0.001, 0.005] | [0.001571, 0.003079] | narrowed |" in text
    assert "trial 1 (6.50)" in text and "**Verdict: refused**" in text and "+1.00" in text
    assert "Promoted model now: cycle 1, trial 3 (data v1), eval mae_raw 6.80." in text
    assert "_searching…_" in render_decision_log("c", 2, plan, previous, baselines)


def test_decision_log_marks_the_control_and_shows_the_effects():
    from campaign.decide.effects import split_effects

    control = {"train.lr": 2e-3, "train.focus_ratio": 0, "train.replay_ratio": 0}
    plan = {"eval_set": {"rows": 3, "sha256": "ab" * 32}, "focus_facets": ["energy"], "data_summary": "v2",
            "data_parent": "v1", "replay_ranking": "errors", "data_rule": "RULE", "train_seed": 1000,
            "hard_facets": {"hard_facets": ["energy"], "reason": "relative", "per_facet_error": {"energy": 6.0},
                            "per_facet_relative": {"energy": 0.75},
                            "reference": {"name": "mean_baseline", "errors": {"energy": 8.0}}},
            "seeding": {"rule": "R", "points": [control, {**control, "train.focus_ratio": 0.1}], "carried": [],
                        "ranges": [], "control": {"config": control, "of_trial": 3, "of_trial_id": "id3"}}}
    trials = [{**_best(1, 7.0), "config": control}, {**_best(2, 6.5), "config": {**control, "train.focus_ratio": 0.1}}]

    def t(*v):
        return {"primary": list(v), "facets": {"energy": list(v)}}

    effects = split_effects({"previous_best": t(7, 7, 7), "control": t(7, 8, 6), "data_trial": t(5, 6, 5),
                             "best": t(5, 6, 5)}, {"previous_best": 3, "control": 1, "data_trial": 2, "best": 2},
                            ["energy"], resamples=200)
    text = render_decision_log("c", 2, plan, {"cycle": 1, "best": _best()}, [], {"best_trial": "id2", "trials": trials},
                               None, None, SPEC, effects)
    assert "| 1 (control) | terminated |" in text and "| 2 ★ (data trial) | terminated |" in text
    assert "| energy | 6.00 | 8.00 | 0.75 |" in text and "| mean_baseline | relative |" in text
    assert "- rule: RULE" in text and "training seed of this cycle's trials: 1000" in text
    assert "| data effect | data trial (trial 2) vs control (trial 1) |" in text
    assert "| noise | control (trial 1) vs previous best (trial 3) |" in text


def test_resume_anchors_relative_paths_to_where_the_campaign_started(tmp_path):
    config = load_config(None, {"data": {"root": "data"}}).to_dict()
    anchored = driver._anchored(config, tmp_path)
    assert anchored["data"]["root"] == str(tmp_path / "data")
    assert anchored["data"]["source"] == "generate" and anchored["model"]["base_model"] == "tiny"
    (tmp_path / "my-model").mkdir()
    config["model"]["base_model"] = "my-model"
    assert driver._anchored(config, tmp_path)["model"]["base_model"] == str(tmp_path / "my-model")


def test_timing_rows_mark_only_real_rereports():
    from campaign.reporting.snapshot import timing_rows

    def trial(n, wall, **extra):
        return {"trial": n, "state": "TERMINATED", "metrics": {
            "time_total_s": wall, "time/worker_start_s": 16.8, "time/model_load_s": 3.5, "time/train_s": 54.8,
            "time/eval_s": 3.3, "train/tokens_per_s": 3051.0, **extra}}

    rows = timing_rows({"trials": [trial(1, 80.4), trial(2, 77.4), trial(3, 1.2, **{"trial/rereported": 1})]})
    assert rows[0][1] == "80.4" and rows[0][6] == "2.0 (2%)"
    assert rows[1][1] == "77.4" and rows[1][6] == "0.0 (0%)"  # worker clock a little ahead of Tune's: not a re-report
    assert rows[2][1] == "re-reported" and rows[2][6] == "—"
