"""Cycle data versions: pools sized from the space, derived versions immutable and reused, no eval leak."""
from __future__ import annotations

import json

import pytest

from campaign.config import load_config
from campaign.data.cycle_data import derive_version, first_cycle_data, load_derived, pool_sizes, realised_train_set
from campaign.data.pipeline import DataVersionError, normalize_request
from campaign.data.prepare import prepare_data
from campaign.tasks.hidden_params.baselines import rank_by_mean_error


@pytest.fixture()
def setup(tmp_path):
    cfg = load_config(None, {"name": "cd", "data": {"root": str(tmp_path / "data"), "base_size": 40, "eval_size": 10},
                             "train": {"add_ratio": 0.1, "replay_ratio": 0.05},
                             "search": {"space": {"train.add_ratio": {"type": "uniform", "low": 0.0, "high": 0.5},
                                                  "train.replay_ratio": {"type": "choice", "values": [0.0, 0.05, 0.2]}}},
                             "cycles": {"count": 2, "space": {
                                 "train.focus_ratio": {"type": "uniform", "low": 0.0, "high": 0.5},
                                 "train.replay_ratio": {"type": "choice", "values": [0.0, 0.05, 0.2]}}}})
    version, eval_rows = prepare_data(cfg.data)
    return cfg, version, eval_rows


def _ranking(rows):
    return [{"id": i, "focus_error": 1.0, "error": 1.0, "invalid_reason": None} for i in rank_by_mean_error(rows)]


BEST = {"train.add_ratio": 0.25, "train.replay_ratio": 0.05}  # the parent's best trial: +10 generated, +2 replayed


def _derive(cfg, parent, eval_rows, focus=("nostalgia", "acousticness"), ranking=None):
    train, made = realised_train_set(cfg, parent, BEST, None)
    unique = list({r["id"]: r for r in train}.values())
    return derive_version(cfg, parent, eval_rows, cycle=2, focus_facets=list(focus), focus_reason="test",
                          ranking=ranking or _ranking(unique), replay_source={"cycle": 1}, train=train,
                          train_from={"cycle": 1, "trial": 3, "sha256": made["sha256"], "summary": made["summary"]})


def test_pool_sizes_follow_the_space_upper_bounds(setup):
    cfg, _, _ = setup
    assert pool_sizes(cfg) == (20, 8)  # 0.5 × 40 and 0.2 × 40
    assert pool_sizes(cfg, cycle=2) == (20, 8)  # cycles.space: focus_ratio up to 0.5, replay_ratio up to 0.2
    narrow = load_config(None, {"cycles": {"count": 2, "space": {
        "train.focus_ratio": {"type": "uniform", "low": 0.0, "high": 0.2}}}})
    assert pool_sizes(narrow, cycle=2) == (100, 0)  # 0.2 × 500; replay_ratio not searched: its own 0.0
    fixed = load_config(None, {"train": {"add_ratio": 0.1, "replay_ratio": 0.05}, "search": {"space": {}}})
    assert pool_sizes(fixed) == (50, 25)  # not searched: the config's own ratios × 500


def test_first_cycle_pools_are_deterministic_and_leak_free(setup):
    cfg, version, eval_rows = setup
    a, b = first_cycle_data(cfg, version, eval_rows), first_cycle_data(cfg, version, eval_rows)
    assert a.generated == b.generated and len(a.generated) == 20 and len(a.replay) == 8
    assert a.version == "v1" and a.focus_facets == []
    taken = {normalize_request(r["request"]) for r in version.train + version.valid + eval_rows}
    assert not taken & {normalize_request(r["request"]) for r in a.generated}
    assert {r["id"] for r in a.replay} <= {r["id"] for r in version.train}


def test_derived_version_manifest_counts_and_no_eval_leak(setup):
    cfg, version, eval_rows = setup
    parent = first_cycle_data(cfg, version, eval_rows)
    derived = _derive(cfg, parent, eval_rows)
    m = derived.manifest
    assert derived.version == "v2" and derived.path.name == "v2" and m["parent"] == "v1" and m["cycle"] == 2
    assert m["focus_facets"] == ["nostalgia", "acousticness"] and derived.focus_facets == m["focus_facets"]
    realised = len(version.train) + 10 + 2  # the parent best's set: +0.25 × 40 generated, +0.05 × 40 replayed
    assert m["counts"] == {"train": realised, "valid": len(version.valid), "generated_pool": 20, "replay_pool": 8}
    assert m["summary"].startswith(f"training split = cycle 1's best trial's set ({len(version.train)} → {realised}:")
    # the training split is exactly what the parent's best trained on: base rows, its generated rows, its replays
    assert derived.train[:len(version.train)] == version.train and derived.valid == version.valid
    assert derived.train[len(version.train):len(version.train) + 10] == parent.generated[:10]
    assert [r["id"] for r in derived.train[-2:]] == [r["id"] for r in parent.replay[:2]]
    assert {r["source"] for r in derived.train[-2:]} == {"replay"}
    unique = list({r["id"]: r for r in derived.train}.values())
    assert [r["id"] for r in derived.replay] == rank_by_mean_error(unique)[:8]
    assert derived.generated_key == "focus_ratio" and m["generated_ratio_key"] == "focus_ratio"
    assert m["train_from"]["trial"] == 3
    assert derived.for_workers(40, eval_rows, seed=1000)["generated_key"] == "focus_ratio"
    frozen = {normalize_request(r["request"]) for r in eval_rows}
    assert not frozen & {normalize_request(r["request"]) for r in derived.generated + derived.replay + derived.train}
    assert {r["source"] for r in derived.generated} == {"augment"}
    assert len(m["replay_errors"]) == 8 and m["ratios"]["focus_ratio"]["high"] == 0.5
    taken = {normalize_request(r["request"]) for r in derived.train}  # new rows are new, also vs the parent's added
    assert not taken & {normalize_request(r["request"]) for r in derived.generated}


def test_same_inputs_reuse_the_version_other_inputs_make_a_new_one(setup):
    cfg, version, eval_rows = setup
    parent = first_cycle_data(cfg, version, eval_rows)
    first = _derive(cfg, parent, eval_rows)
    again = _derive(cfg, parent, eval_rows)
    assert again.version == "v2" and again.manifest == first.manifest and again.generated == first.generated
    other = _derive(cfg, parent, eval_rows, focus=("energy",))
    assert other.version == "v3" and other.generated != first.generated
    assert not list(first.path.parent.glob(".v*.tmp"))  # written under a temporary name, then renamed
    assert load_derived(first.path).manifest["fingerprint"] == first.manifest["fingerprint"]


def test_replay_comes_from_the_ranking_in_order(setup):
    cfg, version, eval_rows = setup
    parent = first_cycle_data(cfg, version, eval_rows)
    ranking = list(reversed(_ranking(version.train + parent.generated[:10])))
    derived = _derive(cfg, parent, eval_rows, ranking=ranking)
    assert [r["id"] for r in derived.replay] == [c["id"] for c in ranking[:8]]


def test_an_altered_derived_version_is_refused(setup):
    cfg, version, eval_rows = setup
    derived = _derive(cfg, first_cycle_data(cfg, version, eval_rows), eval_rows)
    (derived.path / "generated.parquet").write_bytes(b"tampered")
    with pytest.raises(DataVersionError, match="does not match the sha256"):
        load_derived(derived.path)
    with pytest.raises(DataVersionError, match="base version"):
        load_derived(version.path)
    assert json.loads((derived.path / "manifest.json").read_text())["version"] == "v2"


def test_a_realised_set_that_differs_from_the_recorded_one_is_refused(setup):
    cfg, version, eval_rows = setup
    parent = first_cycle_data(cfg, version, eval_rows)
    rows, made = realised_train_set(cfg, parent, BEST, None)
    assert made["added"] == 10 and made["replayed"] == 2 and len(rows) == len(version.train) + 12
    assert realised_train_set(cfg, parent, BEST, made["sha256"])[1]["sha256"] == made["sha256"]
    with pytest.raises(DataVersionError, match="but the trial recorded"):
        realised_train_set(cfg, parent, {**BEST, "train.add_ratio": 0.3}, made["sha256"])
