"""The loop study's per-seed record and aggregate, on hand-built campaign folders (no Ray)."""
from __future__ import annotations

import json

import pytest

from campaign.config import load_config
from campaign.decide.state import new_state, save_state
from campaign.reporting.study import seed_record, study_markdown, summarize


def _campaign(tmp_path, name: str, c1: dict, c2: dict, focus: list[str], verdict: str):
    cfg = load_config(None, {"name": name, "results_dir": str(tmp_path)})
    folder = cfg.results_path()
    for cycle, metrics in ((1, c1), (2, c2)):
        (folder / f"cycle_{cycle}").mkdir(parents=True)
        trial = {"trial_id": f"t{cycle}", "trial": 1, "state": "TERMINATED", "metrics": metrics}
        (folder / f"cycle_{cycle}" / "validation_snapshot.json").write_text(
            json.dumps({"trials": [trial], "best_trial": f"t{cycle}"}))
    (folder / "cycle_2" / "plan.json").write_text(json.dumps({"focus_facets": focus}))
    state = new_state(cfg)
    state["history"] = [{"cycle": 1, "verdict": "promoted", "summary": ""}, {"cycle": 2, "verdict": verdict, "summary": ""}]
    save_state(folder, state)
    return folder


def m(mae, **dims):
    return {"eval/mae_raw": mae, **{f"eval/mae_raw_{d}": v for d, v in dims.items()}}


def test_a_seed_where_the_focus_improved_and_a_regression_was_not_promoted(tmp_path):
    folder = _campaign(tmp_path, "a", m(6.0, energy=10.0, brightness=8.0), m(6.3, energy=8.0, brightness=7.0),
                       ["energy", "brightness"], "refused")
    r = seed_record(0, folder)
    assert r["focus"] == ["energy", "brightness"] and r["all_focus_improved"] is True
    assert r["facets"]["energy"] == {"cycle1": 10.0, "cycle2": 8.0}
    assert r["primary"] == {"name": "mae_raw", "cycle1": 6.0, "cycle2": 6.3}
    assert r["verdict"] == "refused" and r["promoted_regression"] is False and r["effects"] == {}


def test_the_noise_and_data_effect_come_from_the_cycles_effects(tmp_path):
    folder = _campaign(tmp_path, "e", m(6.0, energy=10.0, warmth=8.0), m(5.0, energy=8.0, warmth=7.0),
                       ["energy", "warmth"], "promoted")

    def iv(diff, high):
        return {"diff": diff, "low": diff - 1, "high": high}

    steps = [{"step": "noise", "primary": iv(0.1, 0.5), "facets": {"energy": iv(0.2, 1.0), "warmth": iv(-0.4, 0.3)}},
             {"step": "data", "primary": iv(-0.5, -0.1), "facets": {"energy": iv(-2.0, -1.0), "warmth": iv(-1.0, -0.2)}},
             {"step": "search", "missing": "no eval outputs for best"}]
    (folder / "cycle_2" / "effects.json").write_text(json.dumps({"steps": steps}))
    r = seed_record(3, folder)
    assert r["effects"]["noise"] == {"focus_diff": pytest.approx(-0.1), "all_below_zero": False, "primary_diff": 0.1}
    assert r["effects"]["data"]["focus_diff"] == pytest.approx(-1.5) and r["effects"]["data"]["all_below_zero"]
    assert "search" not in r["effects"]
    s = summarize([r])
    assert s["data_effect_beyond_noise"] == 1
    assert "| promoted | -0.10 / -1.50* |" in study_markdown([r], s, "cmd")


def test_a_promoted_regression_is_counted(tmp_path):
    folder = _campaign(tmp_path, "b", m(6.0, energy=10.0), m(6.5, energy=9.0), ["energy"], "promoted")
    assert seed_record(1, folder)["promoted_regression"] is True


def test_summary_counts_and_medians():
    def rec(seed, e1, e2, p1, p2, verdict="refused", regression=False):
        return {"seed": seed, "focus": ["energy"], "facets": {"energy": {"cycle1": e1, "cycle2": e2}},
                "primary": {"name": "mae_raw", "cycle1": p1, "cycle2": p2}, "verdict": verdict,
                "all_focus_improved": e2 < e1, "promoted_regression": regression}

    records = [rec(0, 10, 8, 6, 6), rec(1, 10, 12, 6, 6.6), rec(2, 10, 9, 6, 5.4, "promoted")]
    s = summarize(records)
    assert s["seeds"] == 3 and s["all_focus_improved"] == 2 and s["share_all_focus_improved"] == pytest.approx(2 / 3)
    assert s["median_focus_change"] == pytest.approx(-0.1)  # -20%, +20%, -10%
    assert s["median_primary_change"] == pytest.approx(0.0)  # 0, +10%, -10%
    assert s["promoted"] == 1 and s["promoted_regressions"] == 0
    text = study_markdown(records, s, "campaign study-loop --seeds 3")
    assert "| 1 | energy | energy 10.00 → 12.00 (+20.0%) | 6.00 → 6.60 | no | refused | — |" in text
    assert "every focus facet improved in **2 of 3** seeds" in text and "regressions promoted: **0**" in text
    assert summarize([])["median_focus_change"] is None


def test_the_study_needs_seeds_and_two_cycles(tmp_path):
    from campaign.core.errors import ConfigError
    from campaign.engine.study import study_loop

    with pytest.raises(ConfigError, match="--seeds: must be >= 1"):
        study_loop(None, {"results_dir": str(tmp_path)}, 0, "x")
    with pytest.raises(ConfigError, match="cycles.count: the loop study needs at least 2 cycles"):
        study_loop(None, {"results_dir": str(tmp_path), "cycles": {"count": 1}}, 2, "x")


@pytest.mark.slow
@pytest.mark.campaign
def test_study_loop_runs_real_campaigns_per_seed(tmp_path, capsys):
    from pathlib import Path

    from campaign.cli.main import main

    config = str(Path(__file__).resolve().parents[2] / "search_spaces" / "balanced_6run.yaml")
    code = main(["study-loop", "--config", config, "--seeds", "2", "--smoke-test", f"data.root={tmp_path / 'data'}",
                 f"results_dir={tmp_path / 'results'}", "tracking.wandb=disabled", "cycles.count=2",
                 "preflight.enabled=false"])
    assert code == 0
    study = json.loads((tmp_path / "results" / "smoke-study.json").read_text()) if \
        (tmp_path / "results" / "smoke-study.json").exists() else \
        json.loads(next((tmp_path / "results").glob("*-study.json")).read_text())
    assert [r["seed"] for r in study["seeds"]] == [0, 1] and study["summary"]["seeds"] == 2
    assert all(r["verdict"] in ("promoted", "refused") and len(r["focus"]) == 2 for r in study["seeds"])
    assert "every focus facet improved in" in capsys.readouterr().out
