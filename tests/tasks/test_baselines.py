"""Model-free baselines: the training mean and the independent keyword rule estimator."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import campaign.tasks.hidden_params.baselines as baselines
from campaign.tasks.hidden_params.baselines import mean_baseline, predict_rule_baseline, rule_baseline
from campaign.tasks.hidden_params.schema import DIMS


def _row(*values):
    return {"request": "x", "hidden_params": dict(zip(DIMS, values))}


def test_mean_baseline_rounds_half_up_in_dims_order():
    rows = [_row(10, 20, 30, 40, 50, 60), _row(20, 30, 40, 50, 60, 71), _row(30, 40, 50, 60, 70, 80)]
    out = mean_baseline(rows)
    assert list(out) == list(DIMS)
    assert out == {"energy": 20, "warmth": 30, "brightness": 40, "acousticness": 50,
                   "complexity": 60, "nostalgia": 70}
    # 52.5 goes up (Python's round() would give 52).
    assert mean_baseline([_row(*[50] * 6), _row(*[55] * 6)])["energy"] == 53
    with pytest.raises(ValueError, match="train_rows"):
        mean_baseline([])


@pytest.mark.parametrize("request_text, dim, direction", [
    ("an acoustic guitar song", "acousticness", +1),
    ("a synth track", "acousticness", -1),
    ("a calm piano piece", "energy", -1),
    ("upbeat EDM for a workout", "energy", +1),
    ("a dark, melancholic tune", "brightness", -1),
    ("a warm folk song", "warmth", +1),
    ("雨の日曜の朝に聴く、懐かしいアコースティック曲", "nostalgia", +1),
    ("雨の日曜の朝に聴く、懐かしいアコースティック曲", "acousticness", +1),
    ("モダンなシンセの曲", "nostalgia", -1),
    ("シンプルなピアノ曲", "complexity", -1),
    ("複雑なジャズ", "complexity", +1),
])
def test_rule_baseline_direction(request_text, dim, direction):
    out = rule_baseline(request_text)
    assert list(out) == list(DIMS)
    assert all(0 <= v <= 100 and type(v) is int for v in out.values())
    assert (out[dim] - 50) * direction > 0


def test_rule_baseline_is_neutral_without_keywords_and_ignores_negation():
    assert rule_baseline("a song, please") == {d: 50 for d in DIMS}
    # By design it is the simple reference: "not too complex" still reads as complex.
    assert rule_baseline("a song, not too complex")["complexity"] > 50
    # Clipped, however many rules stack up.
    assert rule_baseline("upbeat energetic EDM rock for a workout road trip")["energy"] == 100


def test_predict_rule_baseline_emits_parseable_json():
    reqs = ["a calm piano piece", "明るいEDM"]
    out = predict_rule_baseline(reqs)
    assert [list(json.loads(s)) for s in out] == [list(DIMS)] * 2
    assert [json.loads(s) for s in out] == [rule_baseline(r) for r in reqs]


def test_rule_baseline_is_independent_of_the_generator():
    tree = ast.parse(Path(baselines.__file__).read_text(encoding="utf-8"))
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported += [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
    assert imported, "expected to find the module's imports"
    assert not [m for m in imported if "datagen" in m]
    assert not [m for m in imported if m.split(".")[0] in ("ray", "torch")]


def test_rule_baseline_beats_the_mean_on_generated_data():
    from campaign.tasks.hidden_params.datagen import generate

    train, ev = generate(300, seed=0), generate(150, seed=1)
    mean = mean_baseline(train)

    def mae(preds):
        return sum(abs(p[d] - r["hidden_params"][d]) for p, r in zip(preds, ev) for d in DIMS) / (6 * len(ev))

    assert mae([rule_baseline(r["request"]) for r in ev]) < mae([mean] * len(ev)) - 2
