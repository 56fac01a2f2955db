"""A real 2-cycle multiple-choice campaign (Ray Tune + Optuna trials of Ray Train QLoRA on the tiny model, on CPU):
subjects as facets, shuffled replays, both prompt baselines, and the base-vs-fine-tuned A/B by loglikelihood."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

SUBJECTS = ["food", "animals", "colors", "places"]
pytestmark = pytest.mark.campaign


@pytest.fixture(scope="module")
def run(shipped_campaign):
    """The shipped MCQ campaign, shrunk (small data, 2 trials), for 2 cycles via the CLI."""
    def shrink(cfg):
        cfg["data"].update(base_size=160, eval_size=40, valid_fraction=0.25)
        cfg["train"].update(epochs=3, lr=4e-3)
        cfg["search"].update(num_samples=2, n_startup_trials=1)
        cfg["search"]["space"]["train.epochs"] = {"type": "choice", "values": [2, 3]}
        cfg["cycles"]["min_support"] = 8
        cfg["preflight"] = {"steps": 5}

    return shipped_campaign("mcq_6run.yaml", "quiz", shrink)


def _snap(folder: Path, cycle: int) -> dict:
    return json.loads((folder / f"cycle_{cycle}" / "validation_snapshot.json").read_text())


def test_every_trial_reports_accuracy_per_subject_and_its_letters(run):
    _, folder, _ = run
    for cycle in (1, 2):
        for t in _snap(folder, cycle)["trials"]:
            m = t["metrics"]
            assert t["state"] == "TERMINATED", t.get("error")
            assert m["valid/objective"] == m["valid/accuracy"] and m["eval/n"] == 40
            for key in ["accuracy", "valid_rate", "latency_p50_ms", "latency_p95_ms"]:
                assert f"eval/{key}" in m
            assert sum(m[f"eval/support_{s}"] for s in SUBJECTS) == 40
            shares = [m[f"eval/pred_share_{x}"] for x in "ABCD"] + [m["eval/pred_share_invalid"]]
            assert sum(shares) == pytest.approx(1.0)
            assert m["eval/valid_rate"] == pytest.approx(1.0 - m["eval/pred_share_invalid"])


def test_baselines_random_majority_letter_and_the_base_model_both_ways(run):
    _, folder, _ = run
    modes = {b["mode"]: b["metrics"] for b in _snap(folder, 1)["baselines"]}
    assert set(modes) == {"random_baseline", "majority_letter_baseline", "prompt_baseline",
                          "prompt_baseline_loglikelihood"}
    assert modes["random_baseline"]["eval/expected_accuracy"] == 0.25
    assert modes["prompt_baseline_loglikelihood"]["eval/valid_rate"] == 1.0  # a choice is always picked
    majority = modes["majority_letter_baseline"]
    assert max(majority[f"eval/pred_share_{x}"] for x in "ABCD") == 1.0  # one letter, always


def test_hard_subjects_respect_min_support_and_replays_come_shuffled(run):
    from campaign.data.io import read_table
    from campaign.tasks import get_task

    _, folder, _ = run
    hard = json.loads((folder / "cycle_1" / "hard_facets.json").read_text())
    assert hard["min_support"] == 8 and all(hard["support"][s] >= 8 for s in hard["hard_facets"])
    assert set(hard["too_few"]) == {s for s, n in hard["support"].items() if n < 8}
    plan = json.loads((folder / "cycle_2" / "plan.json").read_text())
    task = get_task("mcq")
    replay = read_table(Path(plan["data_path"]) / "replay.parquet", task)
    originals = {r["id"]: r for r in replay if "~" not in r["id"]}
    variants = [r for r in replay if "~" in r["id"]]
    assert variants and len(variants) == len(originals)
    for v in variants:
        row = originals[v["id"].split("~")[0]]
        right = row["choices"]["ABCD".index(row["answer"])]
        assert v["question"] == row["question"] and v["answer"] != row["answer"]
        assert v["choices"]["ABCD".index(v["answer"])] == right and sorted(v["choices"]) == sorted(row["choices"])
    gate = json.loads((folder / "cycle_2" / "gate.json").read_text())
    assert [c["check"] for c in gate["checks"]][1:3] == [f"error_{s}" for s in plan["focus_facets"]]


def test_ab_base_against_the_fine_tuned_model_by_loglikelihood(run, capsys):
    from campaign.cli.main import main

    tmp, folder, args = run
    out = tmp / "ab"
    assert main(["ab", "base", str(folder / "cycle_1" / "best_adapter"), "--config", str(tmp / "campaign.yaml"),
                 "--out", str(out), "--resamples", "300", *args, "task.scoring=loglikelihood"]) == 0
    record = json.loads((out / "ab.json").read_text())
    assert record["a"]["metrics"]["valid_rate"] == 1.0 == record["b"]["metrics"]["valid_rate"]
    assert [h["metric"] for h in record["headline"]] == ["accuracy"]
    assert {f["facet"] for f in record["facets"]["rows"]} == set(SUBJECTS)
    test = record["mcnemar"]
    assert test["test"] == "McNemar exact" and test["discordant"] == test["only_a_right"] + test["only_b_right"]
    assert "McNemar" in (out / "ab.html").read_text()
