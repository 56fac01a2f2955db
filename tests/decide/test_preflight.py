"""The preflight's pure decisions: the largest memory setting of a search space, and the verdict on a run."""
from __future__ import annotations

import math

import pytest

from campaign.decide.preflight import fmt_mb, judge, largest_setting

CONFIG = {"train": {"batch_size": 8, "gradient_checkpointing": True}, "model": {"max_seq_len": 128, "quantization": "nf4"},
          "lora": {"r": 16}}


def test_unsearched_keys_keep_the_configs_values():
    out = largest_setting(CONFIG, {"train.lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2}})
    assert out["overrides"] == {"train.batch_size": 8, "model.max_seq_len": 128, "lora.r": 16}
    assert all("not searched" in why for why in out["why"])


@pytest.mark.parametrize("spec, expected", [
    ({"type": "choice", "values": [4, 16, 8]}, 16),
    ({"type": "randint", "low": 2, "high": 12}, 12),  # high inclusive
    ({"type": "uniform", "low": 4, "high": 12.7}, 12),  # rounded down for an integer key
    ({"type": "loguniform", "low": 2, "high": 31.99}, 31),
    ({"type": "quniform", "low": 4, "high": 30, "q": 4}, 28),  # the largest step inside the range
    ({"type": "quniform", "low": 0, "high": 32, "q": 8}, 32),
])
def test_each_searched_memory_key_takes_the_largest_value_its_space_allows(spec, expected):
    out = largest_setting(CONFIG, {"train.batch_size": spec})
    assert out["overrides"]["train.batch_size"] == expected
    assert isinstance(out["overrides"]["train.batch_size"], int)
    assert "searched" in out["why"][0] and "not searched" not in out["why"][0]


def test_sequence_length_and_rank_too():
    space = {"model.max_seq_len": {"type": "choice", "values": [128, 512, 256]},
             "lora.r": {"type": "choice", "values": [8, 64]}, "train.epochs": {"type": "choice", "values": [1, 9]}}
    assert largest_setting(CONFIG, space)["overrides"] == {"train.batch_size": 8, "model.max_seq_len": 512, "lora.r": 64}


def test_searched_switches_take_the_setting_that_needs_the_most_memory():
    space = {"train.gradient_checkpointing": {"type": "choice", "values": [True, False]},
             "model.quantization": {"type": "choice", "values": ["nf4", "int8"]}}
    over = largest_setting(CONFIG, space)["overrides"]
    assert over["train.gradient_checkpointing"] is False and over["model.quantization"] == "int8"
    assert "train.gradient_checkpointing" not in largest_setting(CONFIG, {})["overrides"]  # unsearched: as configured


def _result(**kw):
    base = {"losses": [6.0, 5.5, 5.0, 4.0, 3.5, 3.0, 2.5, 2.0], "peak_memory_mb": 1024.0,
            "device_memory_mb": 20480.0, "tokens_per_s": 1234.0}
    return {**base, **kw}


def test_a_run_that_fits_with_a_falling_loss_passes():
    verdict = judge(_result(), 0.9)
    assert verdict["passed"] and verdict["failures"] == [] and verdict["warnings"] == []
    assert verdict["summary"] == ("passed · peak 1.0 GiB of 20.0 GiB = 5% (limit 90%), loss 6 → 2 over 8 step(s), "
                                  "no NaN, 1,234 tokens/s")
    assert verdict["loss_trend"] == {"first_quarter_mean": 5.75, "last_quarter_mean": 2.25, "quarter_steps": 2}


def test_a_peak_above_the_share_of_the_device_fails_with_would_not_fit():
    verdict = judge(_result(peak_memory_mb=21.3 * 1024), 0.9)
    assert not verdict["passed"]
    assert verdict["failures"] == ["would not fit: peak 21.3 GiB of 20.0 GiB (limit 90%)"]
    assert verdict["summary"].startswith("FAILED: would not fit")
    assert judge(_result(peak_memory_mb=18 * 1024 + 1), 0.9)["passed"] is False  # just above 90%
    assert judge(_result(peak_memory_mb=18 * 1024), 0.9)["passed"] is True  # at the limit


def test_cpu_workers_at_once_share_the_ram():
    verdict = judge(_result(peak_memory_mb=6000.0, device_memory_mb=16384.0, memory_shared_by=3), 0.9)
    assert verdict["failures"] == ["would not fit: peak 5.9 GiB of 5.3 GiB (limit 90%; 16.0 GiB shared by 3 workers "
                                   "at once)"]
    assert judge(_result(peak_memory_mb=6000.0, device_memory_mb=16384.0, memory_shared_by=2), 0.9)["passed"]


@pytest.mark.parametrize("bad, word", [(float("nan"), "NaN"), (None, "NaN"), (float("inf"), "inf")])
def test_a_non_finite_loss_fails_naming_its_step(bad, word):
    losses = [6.0, 5.0, 4.0, 3.9, 3.8, 3.7, bad]  # None: how strict JSON stores a NaN
    verdict = judge(_result(losses=losses), 0.9)
    assert not verdict["passed"] and verdict["failures"] == [f"loss is {word} at step 7"]
    assert "NaN at step 7" in verdict["summary"]


def test_a_loss_that_does_not_fall_warns_but_passes():
    verdict = judge(_result(losses=[3.0, 3.1, 2.9, 3.2, 3.0, 3.1, 3.3, 3.2]), 0.9)
    assert verdict["passed"] and verdict["failures"] == []
    assert len(verdict["warnings"]) == 1 and verdict["warnings"][0].startswith(
        "loss did not fall: mean of the last 2 step(s) 3.25 >= mean of the first 2 3.05")
    one = judge(_result(losses=[3.0]), 0.9)
    assert one["passed"] and one["warnings"] == ["1 step: too few to tell whether the loss falls"]


def test_an_out_of_memory_stop_fails_and_other_errors_fail_with_their_text():
    oom = judge(_result(losses=[6.0, 5.0], oom="OutOfMemoryError: CUDA out of memory", error_step=3), 0.9)
    assert oom["failures"] == ["would not fit: out of memory at step 3 (OutOfMemoryError: CUDA out of memory)"]
    crash = judge({"losses": [], "error": "ValueError: model.max_seq_len=16 cannot hold one completion"}, 0.9)
    assert not crash["passed"]
    assert crash["failures"] == ["the preflight run failed: ValueError: model.max_seq_len=16 cannot "
                                 "hold one completion"]


def test_memory_units():
    assert fmt_mb(812.4) == "812 MiB" and fmt_mb(21.3 * 1024) == "21.3 GiB"


def test_the_decisions_import_neither_ray_nor_torch():
    import ast
    from pathlib import Path

    import campaign.decide.preflight as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m.split(".")[0] for m in names} & {"ray", "torch"}
    assert math.isfinite(judge(_result(), 0.9)["loss_trend"]["last_quarter_mean"])
