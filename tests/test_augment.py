"""One trial's training set: generated rows, replayed hard cases, no eval leak, determinism."""
from __future__ import annotations

import pytest

from campaign.augment import build_trial_train_set, counts_for, rank_by_mean_error
from campaign.data.pipeline import normalize_request
from campaign.datagen import generate
from campaign.schema import DIMS, row_id

BASE = 40


@pytest.fixture(scope="module")
def train_rows():
    return generate(BASE, seed=123)


def build(train_rows, **kw):
    args = dict(version="v1", base_size=BASE, add_ratio=0.25, replay_ratio=0.1,
                replay_pool=rank_by_mean_error(train_rows), eval_requests=set())
    args.update(kw)
    return build_trial_train_set(train_rows, **args)


def hand_row(request, value=50, **over):
    params = {d: value for d in DIMS}
    params.update(over)
    return {"id": row_id(request), "request": request, "lang": "en", "source": "user", "hidden_params": params}


# ---------------------------------------------------------------- counts_for


def test_counts_for_rounding():
    assert counts_for(500, 0.1, 0.03) == (50, 15)
    assert counts_for(500, 0.0, 0.0) == (0, 0)
    assert counts_for(40, 0.26, 0.09) == (10, 4)  # 10.4 -> 10, 3.6 -> 4
    assert counts_for(40, 0.2375, 0.0125) == (10, 1)  # halves round up: 9.5 -> 10, 0.5 -> 1
    assert counts_for(10, 0.25, 0.15) == (3, 2)  # 2.5 -> 3, 1.5 -> 2
    assert counts_for(3, 2.0, 1.0) == (6, 3)
    assert all(isinstance(c, int) for c in counts_for(7, 0.33, 0.51))


# ---------------------------------------------------------------- rank_by_mean_error


def test_rank_by_mean_error_hand_built():
    rows = [hand_row("near a", 50), hand_row("near b", 51), hand_row("far", 0, energy=100),
            hand_row("middle", 40), hand_row("near c", 49)]
    ranked = rank_by_mean_error(rows)
    # mean (half up): energy 58, others 38 -> "far" is farthest, "near *" rows closest.
    assert ranked[0] == row_id("far")
    assert ranked[1] == row_id("near b")
    assert set(ranked) == {r["id"] for r in rows} and len(ranked) == len(rows)
    assert ranked[-1] == row_id("middle")


def test_rank_by_mean_error_ties_by_id():
    rows = [hand_row("a b c", 50), hand_row("d e f", 50)]
    assert rank_by_mean_error(rows) == sorted(r["id"] for r in rows)


# ---------------------------------------------------------------- build_trial_train_set


def test_counts_and_sources(train_rows):
    rows, manifest = build(train_rows)
    n_add, n_replay = counts_for(BASE, 0.25, 0.1)
    assert (n_add, n_replay) == (10, 4)
    assert len(rows) == BASE + n_add + n_replay
    assert rows[:BASE] == train_rows  # the base rows first, unchanged
    added, replayed = rows[BASE:BASE + n_add], rows[BASE + n_add:]
    assert {r["source"] for r in added} == {"augment"}
    assert {r["source"] for r in replayed} == {"replay"}
    assert manifest == {"parent_version": "v1", "base": BASE, "added": n_add, "replayed": n_replay,
                        "total": BASE + n_add + n_replay, "add_ratio": 0.25, "replay_ratio": 0.1, "focus_dims": [],
                        "summary": f"{BASE} → {BASE + n_add + n_replay}: +{n_add} generated, +{n_replay} replayed"}
    assert manifest["summary"] == "40 → 54: +10 generated, +4 replayed"


def test_replayed_rows_come_from_training_split(train_rows):
    pool = rank_by_mean_error(train_rows)
    rows, _ = build(train_rows, replay_ratio=0.2)
    replayed = rows[-8:]
    by_id = {r["id"]: r for r in train_rows}
    assert [r["id"] for r in replayed] == pool[:8]  # hardest first
    for r in replayed:
        assert {**r, "source": by_id[r["id"]]["source"]} == by_id[r["id"]]
    assert all(r["source"] != "replay" for r in train_rows)  # the originals are not mutated


def test_replay_pool_outside_training_split_raises(train_rows):
    with pytest.raises(ValueError, match="outside the training split"):
        build(train_rows, replay_pool=[train_rows[0]["id"], "not-a-train-id"])


def test_generated_rows_never_leak_eval_or_duplicate_train(train_rows):
    rows, _ = build(train_rows, add_ratio=0.5)
    added = rows[BASE:BASE + 20]
    # Put some of the rows that would be generated into the eval set: they must be replaced by others.
    eval_requests = {normalize_request(r["request"]) for r in added[:6]}
    rows2, manifest2 = build(train_rows, add_ratio=0.5, eval_requests=eval_requests)
    added2 = rows2[BASE:BASE + 20]
    assert manifest2["added"] == 20
    keys2 = [normalize_request(r["request"]) for r in added2]
    assert not set(keys2) & eval_requests
    assert len(set(keys2)) == len(keys2)  # no duplicates among generated rows
    train_keys = {normalize_request(r["request"]) for r in train_rows}
    assert not set(keys2) & train_keys

    # Same with the would-be rows in the training split (case/width variants included).
    variants = [hand_row(added[i]["request"].upper()) for i in range(3)]
    rows3, _ = build(train_rows + variants, add_ratio=0.5)
    keys3 = {normalize_request(r["request"]) for r in rows3[BASE + 3:BASE + 3 + 20]}
    assert not keys3 & {normalize_request(v["request"]) for v in variants}


def test_deterministic_and_version_dependent(train_rows):
    a, ma = build(train_rows)
    b, mb = build(train_rows)
    assert (a, ma) == (b, mb)
    c, _ = build(train_rows, version="v2")
    assert a[BASE:BASE + 10] != c[BASE:BASE + 10]
    assert a[:BASE] == c[:BASE] and a[BASE + 10:] == c[BASE + 10:]  # base and replay do not depend on version
    d, md = build(train_rows, focus_dims=("nostalgia",))
    assert a[BASE:BASE + 10] != d[BASE:BASE + 10] and md["focus_dims"] == ["nostalgia"]


def test_zero_ratios_give_the_base_set(train_rows):
    rows, manifest = build(train_rows, add_ratio=0.0, replay_ratio=0.0)
    assert rows == train_rows
    assert manifest["summary"] == "40 → 40: +0 generated, +0 replayed"
