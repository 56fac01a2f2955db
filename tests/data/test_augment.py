"""Augmentation pools and one trial's training set: counts, sources, no eval leak, determinism."""
from __future__ import annotations

import pytest

from campaign.data.augment import (counts_for, generate_pool, pool_seed, rank_by_model_error, ratio_bound,
                                   trial_train_set)
from campaign.tasks import get_task
from campaign.tasks.hidden_params.baselines import rank_by_mean_error

TASK = get_task("hidden_params")
from campaign.data.pipeline import normalize_request
from campaign.tasks.hidden_params.datagen import generate
from campaign.tasks.hidden_params.schema import DIMS, row_id

BASE = 40


@pytest.fixture(scope="module")
def train_rows():
    return generate(BASE, seed=123)


def pools(train_rows, n_add=20, n_replay=8, exclude=frozenset(), focus=()):
    by_id = {r["id"]: r for r in train_rows}
    excl = {normalize_request(r["request"]) for r in train_rows} | set(exclude)
    generated = generate_pool(n_add, seed=pool_seed("v1", "cycle1"), focus_facets=focus, exclude=excl, ja_share=0.5)
    return generated, [by_id[i] for i in rank_by_mean_error(train_rows)[:n_replay]]


def build(train_rows, generated=None, replay=None, **kw):
    if generated is None:
        generated, replay = pools(train_rows)
    args = dict(version="v1", base_size=BASE, add_ratio=0.25, replay_ratio=0.1, focus_facets=[])
    args.update(kw)
    return trial_train_set(train_rows, generated=generated, replay=replay, **args)


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


# ---------------------------------------------------------------- pools and trial sets


def test_counts_and_sources(train_rows):
    rows, manifest = build(train_rows)
    n_add, n_replay = counts_for(BASE, 0.25, 0.1)
    assert (n_add, n_replay) == (10, 4)
    assert len(rows) == BASE + n_add + n_replay
    assert rows[:BASE] == train_rows  # the base rows first, unchanged
    added, replayed = rows[BASE:BASE + n_add], rows[BASE + n_add:]
    assert {r["source"] for r in added} == {"augment"}
    assert {r["source"] for r in replayed} == {"replay"}
    digest = manifest.pop("sha256")
    assert len(digest) == 64
    assert manifest == {"parent_version": "v1", "base": BASE, "added": n_add, "replayed": n_replay,
                        "total": BASE + n_add + n_replay, "add_ratio": 0.25, "replay_ratio": 0.1, "focus_facets": [],
                        "summary": "40 → 54: +10 generated, +4 replayed"}


def test_trials_take_prefixes_of_the_pools(train_rows):
    generated, replay = pools(train_rows)
    small, _ = build(train_rows, generated, replay, add_ratio=0.1, replay_ratio=0.05)
    large, _ = build(train_rows, generated, replay, add_ratio=0.5, replay_ratio=0.2)
    assert small[BASE:BASE + 4] == generated[:4] == large[BASE:BASE + 4]
    assert [r["id"] for r in large[BASE + 20:]] == [r["id"] for r in replay[:8]]  # hardest first


def test_equal_counts_give_the_identical_set_without_regenerating(train_rows, monkeypatch):
    generated, replay = pools(train_rows)
    calls = []
    monkeypatch.setattr(type(TASK), "generate", lambda *a, **k: calls.append(a) or [])
    a, ma = build(train_rows, generated, replay, add_ratio=0.25, replay_ratio=0.1)
    b, mb = build(train_rows, generated, replay, add_ratio=0.26, replay_ratio=0.09)  # 10.4 -> 10, 3.6 -> 4
    assert a == b and ma["sha256"] == mb["sha256"] and ma["add_ratio"] != mb["add_ratio"]
    c, mc = build(train_rows, generated, replay, add_ratio=0.3, replay_ratio=0.1)
    assert mc["sha256"] != ma["sha256"]
    assert calls == []  # trial sets only slice the cycle's pools


def test_pool_too_small_names_the_key(train_rows):
    generated, replay = pools(train_rows, n_add=4)
    with pytest.raises(ValueError, match=r"train.add_ratio=0.25 needs 10 generated rows .* holds 4"):
        build(train_rows, generated, replay)


def test_replayed_rows_come_from_training_split(train_rows):
    rows, _ = build(train_rows, replay_ratio=0.2)
    by_id = {r["id"]: r for r in train_rows}
    for r in rows[-8:]:
        assert {**r, "source": by_id[r["id"]]["source"]} == by_id[r["id"]]
    assert all(r["source"] != "replay" for r in train_rows)  # the originals are not mutated


def test_replay_pool_outside_training_split_raises(train_rows):
    generated, replay = pools(train_rows)
    with pytest.raises(ValueError, match="outside the training split"):
        build(train_rows, generated, [*replay[:2], hand_row("not a training row"), replay[3]])


def test_generated_pool_never_leaks_eval_or_duplicates_train(train_rows):
    generated, _ = pools(train_rows)
    # Put some of the rows that would be generated into the eval set: they must be replaced by others.
    eval_requests = {normalize_request(r["request"]) for r in generated[:6]}
    generated2, _ = pools(train_rows, exclude=eval_requests)
    keys2 = [normalize_request(r["request"]) for r in generated2]
    assert len(generated2) == 20 and not set(keys2) & eval_requests
    assert len(set(keys2)) == len(keys2)  # no duplicates among generated rows
    assert not set(keys2) & {normalize_request(r["request"]) for r in train_rows}
    # Case/width variants of a training request count as the same request.
    variants = [hand_row(generated[i]["request"].upper()) for i in range(3)]
    generated3, _ = pools(train_rows + variants)
    assert not {normalize_request(r["request"]) for r in generated3} & {normalize_request(v["request"]) for v in variants}


def test_pools_deterministic_and_focus_dependent(train_rows):
    assert pools(train_rows) == pools(train_rows)
    assert pools(train_rows)[0] != pools(train_rows, focus=("nostalgia",))[0]
    assert pool_seed("v1", "cycle1") == pool_seed("v1", "cycle1") != pool_seed("v2", "cycle1")


def test_zero_ratios_give_the_base_set(train_rows):
    rows, manifest = build(train_rows, add_ratio=0.0, replay_ratio=0.0)
    assert rows == train_rows
    assert manifest["summary"] == "40 → 40: +0 generated, +0 replayed"


def test_ratio_bound_reads_the_space():
    space = {"train.add_ratio": {"type": "uniform", "low": 0.0, "high": 0.3},
             "train.replay_ratio": {"type": "choice", "values": [0.0, 0.05, 0.02]}}
    assert ratio_bound(space, "train.add_ratio", 0.1) == 0.3
    assert ratio_bound(space, "train.replay_ratio", 0.0) == 0.05
    assert ratio_bound({}, "train.add_ratio", 0.1) == 0.1


def test_rank_by_model_error_invalid_first_then_focus_error():
    rows = [hand_row("row a", 50), hand_row("row b", 50), hand_row("row c", 50), hand_row("row d", 50)]
    out = {rows[0]["id"]: '{"energy": 50, "warmth": 50, "brightness": 50, "acousticness": 50, "complexity": 50, '
                          '"nostalgia": 90}',
           rows[1]["id"]: "not json",
           rows[2]["id"]: '{"energy": 0, "warmth": 50, "brightness": 50, "acousticness": 50, "complexity": 50, '
                          '"nostalgia": 60}',
           rows[3]["id"]: '{"energy": 50, "warmth": 50, "brightness": 50, "acousticness": 50, "complexity": 50, '
                          '"nostalgia": 50}'}
    ranked = rank_by_model_error(TASK, rows, out, ["nostalgia"])
    assert [r["id"] for r in ranked] == [rows[i]["id"] for i in (1, 0, 2, 3)]
    assert ranked[0]["focus_error"] is None and ranked[0]["invalid_reason"] == "no JSON object"
    assert ranked[1]["focus_error"] == 40 and ranked[2]["focus_error"] == 10 and ranked[2]["error"] == 10
    # Without focus dimensions every dimension counts: row c (energy off by 50) is now the hardest valid row.
    assert [r["id"] for r in rank_by_model_error(TASK, rows, out, [])][1] == rows[2]["id"]


def test_replay_variants_sit_beside_their_rows_and_count_as_training_rows():
    """A task's replay_variant (a shuffled question) follows each replayed row; trials may take both."""
    from campaign.data.augment import trial_train_set
    from campaign.data.cycle_data import with_variants
    from campaign.tasks import get_task

    class Shuffling:
        def replay_variant(self, row, seed):
            return {**row, "request": row["request"][::-1], "source": f"variant {seed}"}

    train = [{"id": f"r{i}", "request": f"request {i}"} for i in range(6)]
    pool = with_variants(train[:2], Shuffling(), 40)
    assert [r["id"] for r in pool] == ["r0", "r0~0", "r1", "r1~1"]
    assert pool[1]["request"] == "0 tseuqer" and pool[3]["source"] == "variant 41"
    rows, manifest = trial_train_set(train, version="v2", base_size=10, add_ratio=0.0, replay_ratio=0.4,
                                     generated=[], replay=pool, focus_facets=[])
    assert manifest["replayed"] == 4 and [r["id"] for r in rows[6:]] == ["r0", "r0~0", "r1", "r1~1"]
    assert with_variants(train[:2], get_task("hidden_params"), 0) == train[:2]  # no variants: the rows alone
    stray = [{"id": "x9~0", "request": "?"}]
    with pytest.raises(ValueError, match="replay pool holds ids outside the training split"):
        trial_train_set(train, version="v2", base_size=10, add_ratio=0.0, replay_ratio=0.1, generated=[],
                        replay=stray, focus_facets=[])
