"""Dataset versions: quality filter, deterministic split, frozen eval set, immutable versions."""
from __future__ import annotations

import json
import random

import pytest

from campaign.config import DataConfig
from campaign.data.io import write_table
from campaign.data.pipeline import (DataVersionError, FrozenEvalError, build_base_version, freeze_eval, load_eval,
                                    load_version, normalize_request, quality_filter, split_rows)
from campaign.data.prepare import eval_dir, prepare_data, version_dir
from campaign.tasks.hidden_params.schema import DIMS, row_id


def row(request: str, value: int = 50, **over) -> dict:
    params = {d: value for d in DIMS}
    params.update(over)
    return {"id": row_id(request), "request": request, "lang": "en", "source": "user", "hidden_params": params}


def many(n: int, prefix: str = "request number") -> list[dict]:
    return [row(f"{prefix} {i}", value=i % 101) for i in range(n)]


# ---------------------------------------------------------------- normalize + quality_filter


def test_normalize_request_folds_width_case_and_space():
    assert normalize_request("  Calm\tPIANO  \n please ") == "calm piano please"
    assert normalize_request("ＣＡＬＭ　Ｐｉａｎｏ") == "calm piano"  # full-width letters, ideographic space
    assert normalize_request("ｶﾌｪ") == normalize_request("カフェ")  # half-width kana


def test_quality_filter_stats():
    rows = [
        row("Calm piano"),                  # kept (first occurrence wins)
        row("ＣＡＬＭ　ｐｉａｎｏ"),            # duplicate (full-width + case)
        row("calm   PIANO "),               # duplicate (case + whitespace)
        row("abc"),                          # too_short (3 < 4)
        row("x" * 21),                       # too_long (21 > 20)
        row("held out request"),             # in_eval_set
        row("HELD OUT   request"),           # in_eval_set (normalised match)
        row("bad values here", energy=101),  # out_of_range
        row("upbeat synth"),                 # kept
    ]
    kept, stats = quality_filter(rows, min_chars=4, max_chars=20, exclude={normalize_request("held out request")})
    assert [r["request"] for r in kept] == ["Calm piano", "upbeat synth"]
    assert stats == {"input": 9, "duplicate": 2, "in_eval_set": 2, "too_short": 1, "too_long": 1,
                     "out_of_range": 1, "kept": 2}


def test_quality_filter_length_is_measured_after_normalisation():
    # Padded with spaces: the normalised key "ab cd" has 5 chars, so min_chars=5 keeps it, 6 drops it.
    padded = row("   ab  cd   ")  # -> "ab cd" (5 chars)
    assert quality_filter([padded], min_chars=5, max_chars=10)[1]["kept"] == 1
    assert quality_filter([padded], min_chars=6, max_chars=10)[1]["too_short"] == 1
    assert quality_filter([row("x" * 10)], min_chars=1, max_chars=10)[1]["kept"] == 1


def test_quality_filter_does_not_mutate_input():
    rows = many(5) + many(5)
    snapshot = json.dumps(rows)
    kept, stats = quality_filter(rows, min_chars=1, max_chars=100)
    assert json.dumps(rows) == snapshot
    assert stats["duplicate"] == 5 and kept == rows[:5]


# ---------------------------------------------------------------- split_rows


def test_split_is_deterministic_and_order_independent():
    rows = many(300)
    train, valid = split_rows(rows, 0.2)
    assert split_rows(rows, 0.2) == (train, valid)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    train2, valid2 = split_rows(shuffled, 0.2)
    assert {r["id"] for r in train2} == {r["id"] for r in train}
    assert {r["id"] for r in valid2} == {r["id"] for r in valid}
    assert len(train) + len(valid) == 300 and not {r["id"] for r in train} & {r["id"] for r in valid}
    assert 30 <= len(valid) <= 90  # ~20% of 300
    # Row order within each split follows the input order.
    assert [r["id"] for r in train] == [r["id"] for r in rows if r in train]


def test_split_uses_normalised_request_and_salt():
    a, b = row("Calm Piano Tonight"), row("ＣＡＬＭ ｐｉａｎｏ  tonight")
    for frac in (0.1, 0.3, 0.49):
        t, v = split_rows([a, b], frac)
        assert len(t) in (0, 2) and len(v) in (0, 2)
    rows = many(200)
    assert split_rows(rows, 0.3, salt="a") != split_rows(rows, 0.3, salt="b")


# ---------------------------------------------------------------- freeze_eval / load_eval


def test_freeze_eval_once_then_no_op_then_refuse(tmp_path):
    folder = tmp_path / "eval"
    rows = many(6, "eval request")
    manifest = freeze_eval(folder, rows, {"test": 1})
    assert manifest["rows"] == 6 and set(manifest["files"]) == {"eval.parquet"}
    assert load_eval(folder) == rows
    mtime = (folder / "eval.parquet").stat().st_mtime_ns

    again = freeze_eval(folder, [dict(r) for r in rows], {"other": "origin"})
    assert again == manifest  # the on-disk manifest, untouched
    assert (folder / "eval.parquet").stat().st_mtime_ns == mtime

    with pytest.raises(FrozenEvalError, match="different rows"):
        freeze_eval(folder, rows[:5], {})
    changed = [dict(r) for r in rows]
    changed[2] = row(rows[2]["request"], value=99)  # same requests, different targets
    with pytest.raises(FrozenEvalError, match="different rows"):
        freeze_eval(folder, changed, {})
    assert load_eval(folder) == rows


def test_tampered_eval_is_detected(tmp_path):
    folder = tmp_path / "eval"
    rows = many(6, "eval request")
    freeze_eval(folder, rows, {})
    tampered = [dict(r) for r in rows]
    tampered[0] = row(rows[0]["request"], value=1)
    write_table(tampered, folder / "eval.parquet")  # valid parquet, different content
    with pytest.raises(FrozenEvalError, match="eval.parquet does not match the sha256"):
        load_eval(folder)
    (folder / "eval.parquet").unlink()
    with pytest.raises(FrozenEvalError, match="eval.parquet"):
        load_eval(folder)


def test_load_eval_without_frozen_set(tmp_path):
    with pytest.raises(FrozenEvalError, match="no frozen eval set"):
        load_eval(tmp_path / "missing")


# ---------------------------------------------------------------- build_base_version / load_version


def _build(folder, rows, eval_rows, inputs):
    return build_base_version(folder, rows, eval_rows, inputs=inputs, valid_fraction=0.2, min_chars=4, max_chars=200)


def test_build_base_version_excludes_eval_and_is_immutable(tmp_path):
    folder = tmp_path / "v1"
    eval_rows = many(5, "eval request")
    rows = many(50) + [row("EVAL   Request 3"), row("ＥＶＡＬ request 4")]
    v = _build(folder, rows, eval_rows, {"source": "a"})
    assert v.manifest["filter"]["in_eval_set"] == 2
    assert v.manifest["counts"] == {"train": len(v.train), "valid": len(v.valid)}
    assert len(v.train) + len(v.valid) == 50
    assert set(v.manifest["files"]) == {"train.parquet", "valid.parquet"}

    same = _build(folder, rows[:10], eval_rows, {"source": "a"})  # same inputs: reused, not rebuilt
    assert (same.train, same.valid) == (v.train, v.valid)

    with pytest.raises(DataVersionError) as info:
        _build(folder, rows, eval_rows, {"source": "b"})
    assert str(folder) in str(info.value) and "different inputs" in str(info.value)


def test_load_version_detects_modified_train(tmp_path):
    folder = tmp_path / "v1"
    v = _build(folder, many(40), [], {"x": 1})
    assert load_version(folder).train == v.train
    write_table(v.train[:-1], folder / "train.parquet")
    with pytest.raises(DataVersionError, match="train.parquet does not match"):
        load_version(folder)
    with pytest.raises(DataVersionError, match="missing manifest.json"):
        load_version(tmp_path / "v2")


# ---------------------------------------------------------------- prepare_data (generated)


def test_prepare_data_generated(tmp_path):
    cfg = DataConfig(root=str(tmp_path / "data"), base_size=40, eval_size=10)
    version, eval_rows = prepare_data(cfg)
    assert len(version.train) == 40
    assert len(eval_rows) == 10
    eval_keys = {normalize_request(r["request"]) for r in eval_rows}
    assert len(eval_keys) == 10
    split_keys = [normalize_request(r["request"]) for r in version.train + version.valid]
    assert not eval_keys & set(split_keys)
    assert len(split_keys) == len(set(split_keys))  # deduplicated
    assert version.manifest["counts"] == {"train": len(version.train), "valid": len(version.valid)}
    assert version.manifest["filter"]["kept"] == len(version.train) + len(version.valid)
    assert version.path == version_dir(cfg, 1)
    assert (eval_dir(cfg) / "eval.parquet").exists()
    assert {r["source"] for r in eval_rows} == {"eval"}

    version2, eval_rows2 = prepare_data(cfg)
    assert (version2.train, version2.valid, eval_rows2) == (version.train, version.valid, eval_rows)
    assert version2.manifest == version.manifest

    # A fresh root with the same config builds the same rows (determinism, not just reuse).
    cfg3 = DataConfig(root=str(tmp_path / "data3"), base_size=40, eval_size=10)
    version3, eval_rows3 = prepare_data(cfg3)
    assert (version3.train, version3.valid, eval_rows3) == (version.train, version.valid, eval_rows)

    # Same dataset name with a different base_size is refused: versions are immutable.
    with pytest.raises(DataVersionError, match="different inputs"):
        prepare_data(DataConfig(root=str(tmp_path / "data"), base_size=41, eval_size=10))


def test_reusing_a_version_generates_nothing(tmp_path, monkeypatch):
    cfg = DataConfig(root=str(tmp_path / "data"), base_size=40, eval_size=10)
    version, _ = prepare_data(cfg)

    def no_generation(*args, **kwargs):
        raise AssertionError("an existing version must be reused without generating rows")

    monkeypatch.setattr("campaign.tasks.hidden_params.datagen.generate", no_generation)
    again, _ = prepare_data(cfg)
    assert again.train == version.train


def test_edited_user_source_is_refused_not_silently_stale(tmp_path):
    src = tmp_path / "user.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in many(60)))
    cfg = DataConfig(root=str(tmp_path / "data"), source=str(src), base_size=40, eval_size=10)
    version, _ = prepare_data(cfg)
    assert version.manifest["inputs"]["source_sha256"]
    assert prepare_data(cfg)[0].train == version.train  # unchanged file: reused
    src.write_text("".join(json.dumps(r) + "\n" for r in many(61)))
    with pytest.raises(DataVersionError, match="built from different inputs"):
        prepare_data(cfg)


def test_split_is_stratified_by_class_where_rows_belong_to_one():
    """A classifier's validation split holds round(fraction x n) rows of every class, whatever the row order."""
    from collections import Counter

    from campaign.tasks import get_task

    task = get_task("classify")
    rows = task.generate(150, 0)
    train, valid = split_rows(rows, 0.2, task=task)
    per_class = Counter(r["label"] for r in rows)
    assert Counter(r["label"] for r in valid) == {c: int(0.2 * n + 0.5) for c, n in per_class.items()}
    assert len(train) + len(valid) == 150 and not {r["id"] for r in train} & {r["id"] for r in valid}
    _, again = split_rows(list(reversed(rows)), 0.2, task=task)
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in valid)
