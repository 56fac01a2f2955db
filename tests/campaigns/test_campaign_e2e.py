"""A real 2-cycle campaign of 6 Ray Tune + Optuna trials each (Ray Train QLoRA on the tiny model, on CPU)."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SECRET = "hf_test_secret_value_that_must_never_be_written_1234"
pytestmark = pytest.mark.campaign


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory, tiny_model_path):
    """Run the shipped default campaign, shrunk (small data, 2-3 epochs), for 2 cycles through the real CLI."""
    tmp = tmp_path_factory.mktemp("campaign")
    cfg = yaml.safe_load((REPO / "search_spaces" / "balanced_6run.yaml").read_text())
    cfg["name"] = "e2e"
    cfg["data"].update(base_size=80, eval_size=16)
    cfg["train"].update(epochs=3, batch_size=16)
    cfg["search"]["space"]["train.epochs"] = {"type": "choice", "values": [2, 3]}
    # This little training rarely yields valid JSON, so nothing could be measured as hard: force the
    # old pipeline's focus so cycle 2's data and gate exercise real focus dimensions.
    cfg["cycles"]["force_facets"] = ["nostalgia", "acousticness"]
    cfg["preflight"] = {"steps": 5}  # the preflight runs, kept short
    config = tmp / "campaign.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_TOKEN": SECRET, "CAMPAIGN_CACHE": str(tiny_model_path.parent)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "campaign.cli.main", "run", "--config", str(config), "--cycles", "2",
                           f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}", "tracking.wandb=offline"],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    (tmp / "run.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    folder = tmp / "results" / "e2e" / "cycle_1"
    return folder, json.loads((folder / "validation_snapshot.json").read_text()), proc.stdout + proc.stderr, cfg


def test_six_trials_finish_with_every_metric(campaign_run):
    folder, snap, _, _ = campaign_run
    trials = snap["trials"]
    assert len(trials) == 6 and len({t["trial_id"] for t in trials}) == 6
    assert [t["trial"] for t in trials] == [1, 2, 3, 4, 5, 6]
    assert all(t["state"] == "TERMINATED" and t["error"] is None for t in trials)
    for t in trials:
        m = t["metrics"]
        for key in ["valid/objective", "valid/json_valid_rate", "eval/json_valid_rate", "eval/n",
                    "eval/latency_p95_ms", "time/worker_start_s", "time/model_load_s", "time/train_s",
                    "time/eval_s", "train/tokens_per_s", "time_total_s"] + [f"valid/mae_raw_{d}" for d in
                                                                         ("energy", "nostalgia")]:
            assert key in m, (t["trial_id"], key)
        assert m["eval/n"] == 16 and m["train/tokens_per_s"] > 0
        assert m["epoch"] == t["config"]["train.epochs"]
        assert m["time_total_s"] > m["time/train_s"] + m["time/eval_s"]


def test_default_point_first_and_search_within_space(campaign_run):
    _, snap, _, cfg = campaign_run
    first = snap["trials"][0]["config"]
    assert first == {k: cfg["train"][k.split(".")[1]] for k in cfg["search"]["space"]}
    for t in snap["trials"]:
        c = t["config"]
        assert 1e-3 <= c["train.lr"] <= 5e-3 and c["train.epochs"] in (2, 3)
        assert 0.0 <= c["train.add_ratio"] <= 0.3 and 0.0 <= c["train.replay_ratio"] <= 0.1
    assert len({t["config"]["train.lr"] for t in snap["trials"]}) == 6  # not one point six times


def test_baselines_beside_trials(campaign_run):
    folder, snap, _, _ = campaign_run
    modes = {b["mode"]: b["metrics"] for b in snap["baselines"]}
    assert set(modes) == {"mean_baseline", "rule_baseline", "prompt_baseline"}
    assert modes["mean_baseline"]["eval/json_valid_rate"] == 1.0
    assert modes["rule_baseline"]["eval/mae_raw"] < modes["mean_baseline"]["eval/mae_raw"]
    assert modes["prompt_baseline"]["eval/n"] == 16
    with (folder / "validation_snapshot.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["kind"] for r in rows] == ["trial"] * 6 + ["baseline"] * 3
    assert {"config/train.lr", "valid/objective", "eval/mae_raw", "time/train_s"} <= set(rows[0])


def test_best_adapter_hard_facets_and_resolved_config(campaign_run):
    folder, snap, _, _ = campaign_run
    best = snap["best_trial"]
    scores = {t["trial_id"]: t["metrics"]["valid/objective"] for t in snap["trials"]}
    assert scores[best] == min(scores.values())
    assert (folder / "best_adapter" / "adapter" / "adapter_config.json").exists()
    assert json.loads((folder / "best_adapter" / "lineage.json").read_text())["trial_id"] == best
    hard = json.loads((folder / "hard_facets.json").read_text())
    assert best in hard["best_trials"] and len(hard["best_trials"]) == 3
    assert hard["hard_facets"] == ["nostalgia", "acousticness"] and len(hard["measured_hard_facets"]) in (0, 2)
    resolved = yaml.safe_load((folder / "resolved_config.yaml").read_text())
    assert resolved["resolved"]["wandb_mode"] == "offline" and resolved["search"]["num_samples"] == 6
    assert resolved["cycles"]["count"] == 2


def test_tune_folder_restorable_checkpoints_bounded_wandb_offline(campaign_run):
    from ray import tune

    folder, snap, _, _ = campaign_run
    assert tune.Tuner.can_restore(str(folder / "tune"))
    for t in snap["trials"]:
        ckpts = [p for p in (folder / "train" / t["trial_id"]).glob("checkpoint_*") if p.is_dir()]
        assert 1 <= len(ckpts) <= 2, (t["trial_id"], ckpts)
        assert Path(t["checkpoint_path"]).parent == folder.resolve() / "train" / t["trial_id"]
    assert list((folder / "wandb").rglob("offline-run-*")), "W&B offline runs were not written"
    assert list((folder / "tune").rglob("events.out.tfevents.*")), "no TensorBoard event files"


def test_no_secret_in_results_or_logs(campaign_run):
    folder, _, log, _ = campaign_run
    assert SECRET not in log
    for path in folder.parent.rglob("*"):
        if path.is_file() and path.stat().st_size < 20_000_000:
            assert SECRET.encode() not in path.read_bytes(), path


def test_console_is_one_line_per_trial_epoch_with_ray_logs_kept(campaign_run):
    """No Ray result dicts or Ray-internal warnings on the console; the full logs are in results/<campaign>/logs."""
    folder, _, log, _ = campaign_run
    root = folder.parent
    for noise in ("TrainingReport(", "metrics={", "worker processes have been started", "core_worker.cc",
                  "To visualize your results with TensorBoard", "Trial status:"):
        assert noise not in log, noise
    assert f"tensorboard --logdir {root.resolve()}" in log
    for c in (1, 2):
        snap = json.loads((root / f"cycle_{c}" / "validation_snapshot.json").read_text())
        for t in snap["trials"]:
            epochs = re.findall(rf"^  cycle {c} · trial \d+ \({t['trial_id']}\) · epoch (\d+)/(\d+) · loss ", log,
                                re.MULTILINE)
            assert [int(e) for e, _ in epochs] == list(range(1, t["metrics"]["epoch"] + 1)), (c, t["trial_id"])
            assert {int(n) for _, n in epochs} == {t["config"]["train.epochs"]}
            assert len(re.findall(rf"\({t['trial_id']}\) · finished after ", log)) == 1
        o = snap["orchestration"]
        assert o["trials_timed"] == 6 and o["at_once"] >= 1 and o["search_wall_s"] > o["ideal_wall_s"] > 0
    assert len(re.findall(r"^  orchestration: search wall \d+s vs trials' train\+eval \d+s / \d+ at once", log,
                          re.MULTILINE)) == 2
    sessions = list((root / "logs" / "ray").glob("session_*"))
    assert len(sessions) == 1 and list(sessions[0].glob("worker-*.err")) and (sessions[0] / "raylet.out").exists()


def test_snapshot_lists_hard_cases_of_the_best_trial(campaign_run):
    _, snap, _, _ = campaign_run
    cases = snap["hard_cases"]["eval"]
    assert 1 <= len(cases) <= 10
    assert {"request", "target", "prediction", "error", "output"} <= set(cases[0])
    errors = [c["error"] for c in cases if c["error"] is not None]
    assert errors == sorted(errors, reverse=True)


def test_fine_tuned_eval_reproduces_the_best_trial(campaign_run, capsys):
    from campaign.cli.main import main

    folder, snap, _, _ = campaign_run
    tmp = folder.parents[2]
    adapter = folder / "best_adapter" / "adapter"
    assert main(["eval", "--config", str(tmp / "campaign.yaml"), "--mode", "fine_tuned", "--adapter", str(adapter),
                 f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}"]) == 0
    scores = json.loads(capsys.readouterr().out)
    best = next(t for t in snap["trials"] if t["trial_id"] == snap["best_trial"])["metrics"]
    assert scores["rows"] == 16
    assert scores["json_valid_rate"] == pytest.approx(best["eval/json_valid_rate"])
    if best["eval/mae_raw"] is not None:
        assert scores["mae_raw"] == pytest.approx(best["eval/mae_raw"], abs=1.0)


# ---------------------------------------------------------------- cycle 2: derived from cycle 1


def _cycle(campaign_run, n):
    folder = campaign_run[0].parent / f"cycle_{n}"
    return folder, json.loads((folder / "validation_snapshot.json").read_text()), \
        json.loads((folder / "plan.json").read_text())


def test_cycle_two_trains_on_a_derived_version_that_never_leaks_eval(campaign_run):
    folder1, _, _, _ = campaign_run
    _, snap2, plan2 = _cycle(campaign_run, 2)
    hard1 = json.loads((folder1 / "hard_facets.json").read_text())
    version = Path(plan2["data_path"])
    manifest = json.loads((version / "manifest.json").read_text())
    assert plan2["data_version"] == version.name == "v2" == snap2["data_version"]
    assert manifest["parent"] == "v1" and manifest["cycle"] == 2
    assert manifest["focus_facets"] == hard1["hard_facets"] == plan2["focus_facets"] == ["nostalgia", "acousticness"]
    assert hard1["forced"] is True and "forced by cycles.force_facets" in hard1["reason"]
    from campaign.data.io import read_table
    from campaign.data.pipeline import normalize_request

    train = read_table(version / "train.parquet")
    # cycle 2 trains on exactly what cycle 1's best trained on: the same ids in the same order (its sha256)
    best1 = json.loads((folder1 / "best_adapter" / "train_set.json").read_text())
    import hashlib
    assert hashlib.sha256("\n".join(r["id"] for r in train).encode()).hexdigest() == best1["sha256"]
    assert manifest["train_from"]["sha256"] == best1["sha256"] and len(train) == best1["total"]
    assert train[:80] == read_table(version.parent / "v1" / "train.parquet")
    assert read_table(version / "valid.parquet") == read_table(version.parent / "v1" / "valid.parquet")
    replay = read_table(version / "replay.parquet")
    assert {r["id"] for r in replay} <= {r["id"] for r in train}  # hard cases from the training split only
    assert manifest["counts"] == {"train": best1["total"], "valid": len(read_table(version / "valid.parquet")),
                                  "generated_pool": 24, "replay_pool": 8}  # 0.3 × 80 and 0.1 × 80
    frozen = {normalize_request(r["request"]) for r in read_table(version.parent / "eval" / "eval.parquet")}
    for name in ("train", "valid", "generated", "replay"):
        assert not frozen & {normalize_request(r["request"]) for r in read_table(version / f"{name}.parquet")}, name
    sets = [json.loads((Path(t["checkpoint_path"]) / "train_set.json").read_text()) for t in snap2["trials"]]
    assert all(s["parent_version"] == "v2" and s["focus_facets"] == manifest["focus_facets"] for s in sets)
    assert all(s["total"] == best1["total"] + s["added"] + s["replayed"] for s in sets)
    assert {s["seed"] for s in sets} == {1000} and best1["seed"] == 0  # each cycle its own training seed


def test_cycle_two_search_is_seeded_from_cycle_one(campaign_run):
    _, snap1, _, cfg = campaign_run
    _, snap2, plan2 = _cycle(campaign_run, 2)
    ranked = sorted((t for t in snap1["trials"] if t["state"] == "TERMINATED"),
                    key=lambda t: (t["metrics"]["valid/objective"], t["trial"]))
    def kept(config):
        return {k: v for k, v in config.items() if k in ("train.lr", "train.epochs")}

    # trial 1: the control (cycle 1's best config, nothing on top); trial 2: the same with rows on top;
    # trial 3: cycle 1's second best; the data ratios are searched anew, cycle 1's add_ratio is gone
    first = [t["config"] for t in snap2["trials"][:3]]
    own = {"train.focus_ratio": cfg["train"]["focus_ratio"], "train.replay_ratio": cfg["train"]["replay_ratio"]}
    assert first[0] == {**kept(ranked[0]["config"]), "train.focus_ratio": 0, "train.replay_ratio": 0}
    assert first[1] == {**kept(ranked[0]["config"]), **own} and first[2] == {**kept(ranked[1]["config"]), **own}
    assert plan2["seeding"]["control"]["of_trial"] == ranked[0]["trial"]
    space = plan2["seeding"]["space"]
    assert "train.add_ratio" not in space and space["train.focus_ratio"] == cfg["cycles"]["space"]["train.focus_ratio"]
    assert space["train.lr"] != cfg["search"]["space"]["train.lr"]  # narrowed
    for t in snap2["trials"]:
        for key, spec in space.items():
            v = t["config"][key]
            assert v in spec["values"] if spec["type"] == "choice" else spec["low"] - 1e-12 <= v <= spec["high"] + 1e-12
    assert plan2["seeding"]["carried"] == []  # cycle 1's trials searched other data keys
    tune_dir = _cycle(campaign_run, 2)[0] / "tune"
    names = sorted(p.name.split("_")[0].rsplit("-", 1)[0] for p in tune_dir.glob("cycle2-trial*"))
    assert names == [f"cycle2-trial{k}" for k in range(1, 7)]  # Tune trial names = W&B run names


def test_gates_promotion_and_decision_logs(campaign_run):
    folder1 = campaign_run[0]
    root = folder1.parent
    state = json.loads((root / "campaign.json").read_text())
    assert state["status"] == "finished" and [h["cycle"] for h in state["history"]] == [1, 2]
    passed = [c for c in (1, 2) if json.loads((root / f"cycle_{c}" / "gate.json").read_text())["passed"]]
    for c in (1, 2):
        gate = json.loads((root / f"cycle_{c}" / "gate.json").read_text())
        assert gate["checks"][0]["check"] == "json_valid_rate"
        if c == 2:
            assert [ch["check"] for ch in gate["checks"][1:3]] == ["mae_raw_nostalgia", "mae_raw_acousticness"]
            # paired over the frozen eval rows: cycle 1's best is the reference, every row is compared
            for ch in gate["checks"][1:3]:
                if ch["status"] == "n/a":  # the previous best had no valid output: nothing to pair against
                    continue
                assert ch["interval"]["n"] == 16 and ch["interval"]["low"] <= ch["interval"]["diff"] <= \
                    ch["interval"]["high"] and "% interval [" in ch["reason"]
        log = (root / f"cycle_{c}" / "decision_log.md").read_text()
        for heading in ("## Inputs", "## Hard dimensions", "## Data version", "## Search seeding", "## Trials",
                        "## Gate"):
            assert heading in log, (c, heading)
        assert ("**Verdict: promoted**" in log) == gate["passed"]
        assert ("## What changed the result: data, search, noise" in log) == (c == 2)
    effects = json.loads((root / "cycle_2" / "effects.json").read_text())
    assert [s["step"] for s in effects["steps"]] == ["noise", "data", "search", "total"]
    assert effects["steps"][0]["candidate_trial"] == 1 and effects["steps"][1]["candidate_trial"] == 2
    for step in effects["steps"]:
        if "missing" not in step:  # every model's eval outputs are kept, so nothing should be missing
            assert step["primary"]["n"] == 16 and step["primary"]["low"] <= step["primary"]["diff"] <= \
                step["primary"]["high"]
    assert not [s for s in effects["steps"] if "missing" in s]
    if passed:
        lineage = json.loads((root / "promoted" / "lineage.json").read_text())
        assert lineage["cycle"] == passed[-1] == state["promoted"]["cycle"]
        assert (root / "promoted" / "adapter" / "adapter_config.json").exists()
    else:
        assert not (root / "promoted").exists() and state["promoted"] is None


def test_status_and_report_commands(campaign_run):
    root = campaign_run[0].parent
    status = subprocess.run([sys.executable, "-m", "campaign.cli.main", "status", str(root)], capture_output=True,
                            text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert "finished" in status.stdout and "2 of 2 done" in status.stdout and "6 / 0 / 0 / 0" in status.stdout
    report = subprocess.run([sys.executable, "-m", "campaign.cli.main", "report", str(root)], capture_output=True,
                            text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    html = (root / "report.html").read_text()
    assert 'id="gates"' in html and 'id="focus"' in html and "<svg" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//""", html)


def test_real_report_renders_in_headless_chromium(campaign_run):
    from campaign.reporting.report import find_browser, screenshot_report

    if not find_browser():
        pytest.skip("no chromium; install Debian's chromium to run the browser check")
    root = campaign_run[0].parent
    subprocess.run([sys.executable, "-m", "campaign.cli.main", "report", str(root)], check=True, capture_output=True,
                   timeout=120)
    png = screenshot_report(root / "report.html", root / "report.png", height=2400)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 1280
    assert len(data) > 50_000  # a page with charts and tables, not a blank one


def _tensorboard_runs(root: Path):
    """What `tensorboard --logdir root` loads, through TensorBoard's own event reader."""
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    mux = EventMultiplexer(size_guidance={"scalars": 0})  # 0: keep every event
    mux.AddRunsFromDirectory(str(root))
    mux.Reload()
    return mux


def test_one_id_finds_a_trial_in_tune_optuna_tensorboard_and_wandb(campaign_run):
    """Tune's trial name is the Optuna trial's ``trial_name``, TensorBoard's run and the W&B run's name."""
    from campaign.tracking.optuna_study import study_records, verify_study

    root = campaign_run[0].parent
    studies = {r["name"]: r for r in study_records(root / "optuna.db")}
    assert set(studies) == {"e2e-cycle1", "e2e-cycle2"}
    mux = _tensorboard_runs(root)
    for cycle in (1, 2):
        snap = json.loads((root / f"cycle_{cycle}" / "validation_snapshot.json").read_text())
        names = {t["trial_id"]: f"cycle{cycle}-trial{t['trial']}-{t['trial_id']}" for t in snap["trials"]}
        objective = {t["trial_id"]: t["metrics"]["valid/objective"] for t in snap["trials"]}
        study = studies[f"e2e-cycle{cycle}"]
        assert study["user_attrs"]["cycle"] == cycle and study["user_attrs"]["data_version"] == f"v{cycle}"
        assert verify_study(root / "optuna.db", study["name"], names)["trials"] == 6
        own = {t["user_attrs"]["trial_id"]: t for t in study["trials"] if "trial_id" in t["user_attrs"]}
        assert {i: t["user_attrs"]["trial_name"] for i, t in own.items()} == names
        assert {i: t["value"] for i, t in own.items()} == pytest.approx(objective)
        assert all(t["user_attrs"]["data_version"] == f"v{cycle}" and "eval/mae_raw" in t["user_attrs"]
                   for t in own.values() if t["user_attrs"]["eval/json_valid_rate"] > 0)
        for trial_id, name in names.items():
            [run] = [r for r in mux.Runs() if r.startswith(f"cycle_{cycle}/tune/{name}_")]
            tags = mux.Runs()[run]["scalars"]
            assert {t.split("/")[2] for t in tags if t.count("/") >= 3} >= {"valid", "eval", "train", "time"}
            series = mux.Scalars(run, "ray/tune/valid/objective")
            assert [e.step for e in series] == list(range(1, len(series) + 1)) and series
            assert series[-1].value == pytest.approx(objective[trial_id], rel=1e-5)
            [wandb_run] = (root / f"cycle_{cycle}" / "wandb").glob(f"offline-run-*-{trial_id}/run-{trial_id}.wandb")
            record = wandb_run.read_bytes()  # wandb 0.31 has no Python reader; the run record holds these strings
            assert name.encode() in record and study["name"].encode() in record  # run name; group = study name
    assert len([r for r in mux.Runs() if "/tune/" in r]) == 12
