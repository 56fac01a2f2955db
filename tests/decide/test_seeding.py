"""Seeding cycle n+1's search from cycle n's trial records (no Ray, no Optuna)."""
from __future__ import annotations

import json

import pytest

from campaign.decide.seeding import optuna_point, seed_next_search

METRIC = "valid/objective"
SPACE = {
    "train.lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2},  # log10 [-4, -2], width 2
    "train.add_ratio": {"type": "uniform", "low": 0.0, "high": 0.5},  # width 0.5
    "train.replay_ratio": {"type": "quniform", "low": 0.0, "high": 0.3, "q": 0.05},  # width 0.3
    "train.epochs": {"type": "randint", "low": 2, "high": 8},
    "lora.r": {"type": "choice", "values": [8, 16, 32]},
}
R = 1e-12  # relative tolerance of the hand-computed numbers


def rec(trial, objective, lr, add, replay, epochs=4, r=16, state="TERMINATED", trial_id=None, **extra):
    config = {"train.lr": lr, "train.add_ratio": add, "train.replay_ratio": replay, "train.epochs": epochs,
              "lora.r": r, **extra}
    return {"trial": trial, "trial_id": trial_id or f"id{trial:02d}", "state": state, "error": None,
            "config": config, "metrics": {METRIC: objective, "eval/mae_raw": 20.0}}


RECORDS = [
    rec(0, 7.0, 5.5e-4, 0.13, 0.05, epochs=3, r=8),  # 3rd: inside the narrowed space -> carried
    rec(1, 5.5, 10 ** -2.5, 0.30, 0.15, epochs=6, r=32),  # 2nd best
    rec(2, 5.0, 1e-3, 0.20, 0.10),  # best
    rec(3, 8.0, 2e-4, 0.20, 0.10),  # lr below the narrowed range -> not carried
    rec(4, 1.0, 1e-3, 0.20, 0.10, state="ERROR"),  # errors are ignored entirely
    rec(5, None, 1e-3, 0.20, 0.10),  # no metric -> not finished
    rec(6, 9.0, 1e-3, 0.20, 0.10, epochs=9),  # randint value outside the kept [2, 8] -> not carried
]


def seed(records=RECORDS, space=SPACE, **kw):
    args = {"metric": METRIC, "mode": "min", "top_k": 2, "margin": 0.15}
    args.update(kw)
    return seed_next_search(space, records, **args)


def test_narrowing_computed_by_hand():
    out = seed()
    new = out["space"]
    # lr: best log10 span [-3, -2.5], padded by 0.15 * 2 = 0.3 -> [-3.3, -2.2].
    assert new["train.lr"]["type"] == "loguniform"
    assert new["train.lr"]["low"] == pytest.approx(10 ** -3.3, rel=R)
    assert new["train.lr"]["high"] == pytest.approx(10 ** -2.2, rel=R)
    # add_ratio: best span [0.20, 0.30], padded by 0.15 * 0.5 = 0.075 -> [0.125, 0.375].
    assert new["train.add_ratio"]["low"] == pytest.approx(0.125, rel=R)
    assert new["train.add_ratio"]["high"] == pytest.approx(0.375, rel=R)
    # replay_ratio: span [0.10, 0.15] padded by 0.045 -> [0.055, 0.195] -> grid 0 + n*0.05 -> [0.05, 0.20].
    assert new["train.replay_ratio"] == {"type": "quniform", "low": 0.05, "high": 0.2, "q": 0.05}
    # Not continuous: unchanged.
    assert new["train.epochs"] == SPACE["train.epochs"] and new["lora.r"] == SPACE["lora.r"]
    assert SPACE["train.lr"] == {"type": "loguniform", "low": 1e-4, "high": 1e-2}  # input not mutated
    json.dumps(out)


def test_ranges_record_every_key():
    ranges = {r["key"]: r for r in seed()["ranges"]}
    assert list(ranges) == list(SPACE)
    assert ranges["lora.r"] == {"key": "lora.r", "type": "choice", "old": [8, 16, 32], "new": [8, 16, 32],
                                "rule": "kept: not continuous"}
    assert ranges["train.epochs"]["old"] == ranges["train.epochs"]["new"] == [2, 8]
    assert ranges["train.epochs"]["rule"] == "kept: not continuous"
    assert ranges["train.replay_ratio"]["old"] == [0.0, 0.3] and ranges["train.replay_ratio"]["new"] == [0.05, 0.2]
    assert ranges["train.lr"]["rule"].startswith("narrowed (in log10 space)")
    assert "grid 0 + n*0.05" in ranges["train.replay_ratio"]["rule"]


def test_points_are_top_k_best_in_order_with_searched_keys_only():
    records = [rec(2, 5.0, 1e-3, 0.20, 0.10, **{"train.batch_size": 4}), *RECORDS[:2]]
    out = seed(records)
    assert out["points"] == [
        {"train.lr": 1e-3, "train.add_ratio": 0.20, "train.replay_ratio": 0.10, "train.epochs": 4, "lora.r": 16},
        {"train.lr": 10 ** -2.5, "train.add_ratio": 0.30, "train.replay_ratio": 0.15, "train.epochs": 6,
         "lora.r": 32},
    ]
    assert len(seed(top_k=1)["points"]) == 1 and seed(top_k=1)["points"][0]["train.lr"] == 1e-3
    assert len(seed(top_k=10)["points"]) == 5  # only five trials finished


def test_mode_max_picks_the_largest():
    out = seed(mode="max", top_k=1)
    assert out["points"][0]["train.epochs"] == 9  # trial 6 has the largest objective, 9.0


def test_carried_are_finished_trials_inside_the_new_space():
    carried = seed()["carried"]
    assert [c["trial"] for c in carried] == [0, 1, 2]
    assert carried[0] == {"trial": 0, "trial_id": "id00", "value": 7.0,
                          "config": {"train.lr": 5.5e-4, "train.add_ratio": 0.13, "train.replay_ratio": 0.05,
                                     "train.epochs": 3, "lora.r": 8}}
    # A whole-range margin carries every finished trial whose values the space still admits.
    assert [c["trial"] for c in seed(margin=1.0)["carried"]] == [0, 1, 2, 3]


def test_carried_choice_value_must_be_in_values():
    records = [*RECORDS[:3], rec(7, 6.5, 1e-3, 0.20, 0.10, r=64)]
    assert [c["trial"] for c in seed(records)["carried"]] == [0, 1, 2]


def test_translation_at_a_bound_keeps_the_width():
    records = [rec(0, 1.0, 1e-2, 0.02, 0.0), rec(1, 2.0, 10 ** -2.2, 0.05, 0.05)]
    out = seed(records)
    new, ranges = out["space"], {r["key"]: r for r in out["ranges"]}
    # lr: log10 span [-2.2, -2] padded by 0.3 -> [-2.5, -1.7], moved down by 0.3 -> [-2.8, -2].
    assert new["train.lr"]["low"] == pytest.approx(10 ** -2.8, rel=R)
    assert new["train.lr"]["high"] == 1e-2  # exactly the original bound
    assert "moved down" in ranges["train.lr"]["rule"]
    # add_ratio: span [0.02, 0.05] padded by 0.075 -> [-0.055, 0.125], moved up by 0.055 -> [0, 0.18].
    assert new["train.add_ratio"]["low"] == 0.0
    assert new["train.add_ratio"]["high"] == pytest.approx(0.18, rel=R)
    assert "moved up" in ranges["train.add_ratio"]["rule"]
    # replay: span [0, 0.05] padded by 0.045 -> [-0.045, 0.095] -> [0, 0.14] -> grid [0, 0.15].
    assert new["train.replay_ratio"]["low"] == 0.0 and new["train.replay_ratio"]["high"] == 0.15


def test_interval_wider_than_the_range_becomes_the_range():
    out = seed(margin=1.0)
    for key in ("train.lr", "train.add_ratio", "train.replay_ratio"):
        assert out["space"][key] == SPACE[key]
    assert all(r["rule"].startswith(("whole range", "kept")) for r in out["ranges"])


def test_quniform_grid_offset_by_low_and_integer_grid():
    space = {"train.replay_ratio": {"type": "quniform", "low": 0.02, "high": 0.32, "q": 0.05},
             "train.epochs": {"type": "quniform", "low": 1, "high": 10, "q": 1}}
    records = [rec(0, 1.0, 1e-3, 0.2, 0.12, epochs=4), rec(1, 2.0, 1e-3, 0.2, 0.17, epochs=6)]
    new = seed(records, space)["space"]
    # span [0.12, 0.17] padded by 0.045 -> [0.075, 0.215] -> grid 0.02 + n*0.05 -> [0.07, 0.22].
    assert new["train.replay_ratio"] == {"type": "quniform", "low": 0.07, "high": 0.22, "q": 0.05}
    # span [4, 6] padded by 1.35 -> [2.65, 7.35] -> integer grid [2, 8], still ints.
    assert new["train.epochs"] == {"type": "quniform", "low": 2, "high": 8, "q": 1}
    assert isinstance(new["train.epochs"]["low"], int) and isinstance(new["train.epochs"]["high"], int)


def test_result_contains_every_point():
    records = [rec(i, float(i), 10 ** (-4 + 0.37 * i), 0.5 * i / 5, 0.3 * (i % 4) / 3) for i in range(6)]
    for top_k in (1, 2, 3, 6):
        for margin in (0.01, 0.15, 0.5):
            out = seed(records, top_k=top_k, margin=margin)
            for point in out["points"]:
                for key, v in point.items():
                    spec = out["space"][key]
                    if spec["type"] != "choice":
                        assert spec["low"] <= v <= spec["high"], (key, v, spec, top_k, margin)


def test_ties_broken_by_trial_index():
    records = [rec(1, 5.0, 1e-3, 0.20, 0.10, trial_id="ffff"), rec(2, 5.0, 2e-3, 0.25, 0.10, trial_id="0000")]
    out = seed(records, top_k=1)
    assert out["points"] == [{"train.lr": 1e-3, "train.add_ratio": 0.20, "train.replay_ratio": 0.10,
                              "train.epochs": 4, "lora.r": 16}]


def test_no_finished_trial_keeps_the_space():
    records = [rec(0, 1.0, 1e-3, 0.2, 0.1, state="ERROR"), rec(1, None, 1e-3, 0.2, 0.1)]
    out = seed(records)
    assert out["space"] == SPACE and out["space"] is not SPACE
    assert out["points"] == [] and out["carried"] == []
    assert "No trial of the previous cycle finished" in out["rule"]
    assert all(r["old"] == r["new"] for r in out["ranges"])


@pytest.mark.parametrize("margin", [0, -0.1, 1.5, float("nan")])
def test_bad_margin(margin):
    with pytest.raises(ValueError, match="cycles.narrow_margin"):
        seed(margin=margin)


@pytest.mark.parametrize("top_k", [0, -1, 1.5, True])
def test_bad_top_k(top_k):
    with pytest.raises(ValueError, match="cycles.seed_top_k"):
        seed(top_k=top_k)


def test_rule_states_the_numbers():
    rule = seed()["rule"]
    assert "top_k=2" in rule and "margin=0.15" in rule and "0.15*W" in rule
    assert "The 2 best finished trial(s)" in rule and "The 3 finished trial(s)" in rule


def test_optuna_point():
    assert optuna_point({"train.lr": 1e-3, "lora.r": 16}) == {"train/lr": 1e-3, "lora/r": 16}


def test_carried_quniform_value_must_be_on_the_grid():
    records = [*RECORDS[:3], rec(7, 6.5, 1e-3, 0.20, 0.12)]  # 0.12 is inside [0.05, 0.20] but off the 0.05 grid
    assert [c["trial"] for c in seed(records)["carried"]] == [0, 1, 2]


def test_carried_values_a_hair_outside_are_clamped_onto_the_bound():
    hi = seed()["space"]["train.add_ratio"]["high"]
    carried = seed([*RECORDS, rec(8, 6.8, 1e-3, hi + 5e-13, 0.10), rec(9, 6.9, 1e-3, hi + 2e-12, 0.10)])["carried"]
    assert [c["trial"] for c in carried] == [0, 1, 2, 8]
    assert carried[3]["config"]["train.add_ratio"] == hi


def test_optuna_accepts_points_and_carried_trials():
    optuna = pytest.importorskip("optuna")
    d = optuna.distributions
    makers = {"loguniform": lambda s: d.FloatDistribution(s["low"], s["high"], log=True),
              "uniform": lambda s: d.FloatDistribution(s["low"], s["high"]),
              "quniform": lambda s: d.FloatDistribution(s["low"], s["high"], step=s["q"]),
              "randint": lambda s: d.IntDistribution(s["low"], s["high"]),
              "choice": lambda s: d.CategoricalDistribution(s["values"])}
    # Grid values as a sampler computes them (3 * 0.05 = 0.15000000000000002).
    records = [*RECORDS, rec(10, 6.1, 1e-3, 0.25, 3 * 0.05), rec(11, 6.2, 1e-3, 0.25, 0.0 + 4 * 0.05)]
    out = seed(records)
    dists = {k.replace(".", "/"): makers[s["type"]](s) for k, s in out["space"].items()}
    assert len(out["carried"]) == 5
    for config, value in [(p, None) for p in out["points"]] + [(c["config"], c["value"]) for c in out["carried"]]:
        optuna.trial.create_trial(value=value if value is not None else 0.0, params=optuna_point(config),
                                  distributions=dists)


FRESH = {"train.focus_ratio": {"type": "uniform", "low": 0.0, "high": 0.3},
         "train.replay_ratio": {"type": "uniform", "low": 0.0, "high": 0.1}}
DATA_KEYS = ("train.add_ratio", "train.focus_ratio", "train.replay_ratio")
OWN = {"train.focus_ratio": 0.1, "train.replay_ratio": 0.03}


def test_data_ratios_that_change_meaning_are_dropped_or_searched_anew_never_narrowed():
    out = seed(fresh=FRESH, drop=DATA_KEYS, fresh_point=OWN)
    new = out["space"]
    assert "train.add_ratio" not in new  # cycle 1's unfocused rows: no meaning in cycle 2
    assert new["train.focus_ratio"] == FRESH["train.focus_ratio"]  # full range, not narrowed
    assert new["train.replay_ratio"] == FRESH["train.replay_ratio"]  # replaced, not narrowed from [0.05, 0.2]
    assert new["train.lr"]["low"] == pytest.approx(10 ** -3.3, rel=R)  # other keys still narrow
    rules = {r["key"]: r for r in out["ranges"]}
    assert rules["train.add_ratio"]["new"] is None and rules["train.add_ratio"]["rule"].startswith("dropped")
    assert rules["train.focus_ratio"]["old"] is None and "full range" in rules["train.focus_ratio"]["rule"]
    assert rules["train.replay_ratio"]["old"] == [0.0, 0.3] and rules["train.replay_ratio"]["new"] == [0.0, 0.1]
    # seeded points: the best configs' other keys, the config's own data ratios
    assert out["points"] == [{"train.lr": 1e-3, "train.epochs": 4, "lora.r": 16, **OWN},
                             {"train.lr": 10 ** -2.5, "train.epochs": 6, "lora.r": 32, **OWN}]
    assert out["carried"] == [] and out["control"] is None  # cycle 1's trials have no focus_ratio
    assert "not narrowed" in out["rule"]


def test_the_control_runs_first_with_nothing_on_top():
    out = seed(fresh=FRESH, drop=DATA_KEYS, fresh_point=OWN, control=True)
    control = {"train.lr": 1e-3, "train.epochs": 4, "lora.r": 16, "train.focus_ratio": 0, "train.replay_ratio": 0}
    assert out["points"][0] == control and out["points"][1] == {**control, **OWN}
    assert out["control"] == {"config": control, "of_trial": 2, "of_trial_id": "id02"}
    assert "The first trial is the control: trial 2's config" in out["rule"]
    with pytest.raises(ValueError, match="must include 0"):
        seed(fresh={"train.focus_ratio": {"type": "uniform", "low": 0.05, "high": 0.3}}, drop=DATA_KEYS,
             fresh_point={"train.focus_ratio": 0.1}, control=True)
    with pytest.raises(ValueError, match="need a value in fresh_point"):
        seed(fresh=FRESH, drop=DATA_KEYS, fresh_point={}, control=True)


def test_trials_of_the_same_meaning_are_carried_into_the_next_cycle():
    cycle2 = [{**rec(i, 5.0 + i, 1e-3, 0.0, 0.05), "config": {"train.lr": 1e-3, "train.epochs": 4, "lora.r": 16,
                                                             "train.focus_ratio": 0.1 * i, "train.replay_ratio": 0.05}}
              for i in range(3)]
    out = seed(records=cycle2, space={**{k: SPACE[k] for k in ("train.lr", "train.epochs", "lora.r")}, **FRESH},
               fresh=FRESH, drop=DATA_KEYS, fresh_point=OWN, control=True)
    assert [c["trial"] for c in out["carried"]] == [0, 1, 2]
    assert out["control"]["config"]["train.focus_ratio"] == 0 and out["control"]["of_trial"] == 0
