"""Model-free baselines: the training-set mean and a hand-written keyword rule estimator.

The rule estimator is what a person would write in an afternoon: its own small table
of English and Japanese substrings, each nudging some dimensions up or down from 50.
It deliberately knows nothing of the data generator (it must not import it), so its
score is an honest reference point; it handles plain requests and ignores negation,
intensity and contrast. Pure Python: no Ray, no torch.
"""
from __future__ import annotations

import math
from typing import Iterable

from campaign.tasks.hidden_params.schema import DIMS, VALUE_MAX, VALUE_MIN, target_json

__all__ = ["mean_baseline", "rule_baseline", "predict_rule_baseline", "model_free_outputs", "RULES"]

_E, _W, _B, _A, _C, _N = DIMS

# (substrings, nudges). Substrings are matched on the lower-cased request; each rule
# counts once however many of its substrings occur.
RULES: tuple[tuple[tuple[str, ...], dict[str, int]], ...] = (
    # Instruments and genres.
    (("acoustic", "アコースティック", "guitar", "ギター"), {_A: 30, _W: 10}),
    (("piano", "ピアノ"), {_A: 25, _E: -10}),
    (("synth", "シンセ", "electronic", "電子"), {_A: -30}),
    (("edm", "club", "クラブ"), {_E: 30, _A: -30}),
    (("orchestra", "オーケストラ", "string", "弦楽", "classical", "クラシック"), {_A: 20, _C: 20}),
    (("jazz", "ジャズ", "bossa", "ボサノバ"), {_C: 15, _W: 15, _A: 15}),
    (("folk", "フォーク"), {_A: 25, _W: 10}),
    (("rock", "ロック"), {_E: 25}),
    (("ambient", "アンビエント"), {_E: -25}),
    (("lo-fi", "lofi", "ローファイ"), {_E: -15, _N: 10}),
    (("hip-hop", "hip hop", "ヒップホップ"), {_A: -15}),
    # Mood.
    (("upbeat", "アップテンポ", "energetic", "エネルギッシュ", "intense", "激しい"), {_E: 25}),
    (("calm", "落ち着", "mellow", "まったり", "gentle", "優しい", "relax"), {_E: -20}),
    (("bright", "明るい", "cheerful", "楽しい", "sparkl", "きらきら"), {_B: 25}),
    (("dark", "暗い", "melanchol", "切ない", "sad", "悲しい"), {_B: -20}),
    (("warm", "温か", "暖か"), {_W: 25}),
    (("cold", "冷たい"), {_W: -25}),
    (("dream", "幻想"), {_E: -10}),
    # Era.
    (("nostalg", "懐かし", "retro", "レトロ", "vintage", "ヴィンテージ", "80s", "80年代", "old-school", "昔"), {_N: 25}),
    (("modern", "モダン", "futur", "未来"), {_N: -25, _A: -10}),
    # Texture.
    (("simple", "シンプル", "minimal", "ミニマル", "sparse"), {_C: -20}),
    (("complex", "複雑", "intricate", "緻密", "layered"), {_C: 25}),
    # A few scenes a person would think of.
    (("rain", "雨"), {_E: -15}),
    (("campfire", "キャンプ"), {_A: 20, _W: 15}),
    (("drive", "ドライブ", "road trip"), {_E: 15}),
    (("workout", "gym", "筋トレ"), {_E: 30}),
    (("study", "勉強"), {_E: -15, _C: -10}),
    (("summer", "夏"), {_B: 15}),
    (("café", "cafe", "カフェ"), {_W: 15}),
    (("night", "夜"), {_B: -10}),
)


def _half_up(x: float) -> int:
    # Conventional rounding (Python's round() would send 52.5 to 52).
    return math.floor(x + 0.5)


def mean_baseline(train_rows: Iterable[dict]) -> dict[str, int]:
    """The training set's mean hidden-params vector, rounded half up, in DIMS order."""
    rows = list(train_rows)
    if not rows:
        raise ValueError("train_rows is empty: a mean baseline needs at least one row")
    return {d: _half_up(sum(r["hidden_params"][d] for r in rows) / len(rows)) for d in DIMS}


def rule_baseline(request: str) -> dict[str, int]:
    """Keyword estimate: 50 on every dim plus the nudges of each matching rule, clipped."""
    text = request.lower()
    values = {d: 50 for d in DIMS}
    for keys, nudges in RULES:
        if any(k in text for k in keys):
            for dim, delta in nudges.items():
                values[dim] += delta
    return {d: min(VALUE_MAX, max(VALUE_MIN, v)) for d, v in values.items()}


def predict_rule_baseline(requests: list[str]) -> list[str]:
    """Rule estimates as JSON completions, to share the model's parsing and metrics path."""
    return [target_json(rule_baseline(r)) for r in requests]


def model_free_outputs(train_rows: list[dict], eval_rows: list[dict]) -> dict[str, list[str]]:
    """What ``mean_baseline`` and ``rule_baseline`` answer for each of ``eval_rows``, as model outputs."""
    return {"mean_baseline": [target_json(mean_baseline(train_rows))] * len(eval_rows),
            "rule_baseline": predict_rule_baseline([r["request"] for r in eval_rows])}



def rank_by_mean_error(train_rows: list[dict]) -> list[str]:
    """Training-row ids, hardest first, by absolute error of the training-set mean vector (cycle 1's replay order)."""
    mean = mean_baseline(train_rows)
    err = {r["id"]: sum(abs(r["hidden_params"][d] - mean[d]) for d in DIMS) for r in train_rows}
    return sorted(err, key=lambda i: (-err[i], i))
