"""Weave: checked before any trial, never waits on a prompt or a silent server, traces every validation sample.

The real ``weave`` package runs against ``WeaveStub``, a local stand-in for a self-hosted
W&B server (``WANDB_BASE_URL``); nothing leaves the machine. Every command that could
wait on a prompt runs with its stdin open (a pipe nobody writes to).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaign.config import load_config
from campaign.core.errors import ConfigError
from campaign.data.io import read_table
from campaign.tracking.weave_check import check_weave, redact, weave_urls
from weave_stub import WeaveStub

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "search_spaces" / "balanced_6run.yaml"
KEY = "wandb-test-key-0123456789abcdef0123456789ab"


def _tracking(**overrides):
    return load_config(overrides={"tracking": {"weave": True, **overrides}}).tracking


def _never(*_args):
    raise AssertionError("must not be reached")


# ---------------------------------------------------------------- the driver's check, with injected parts


def test_weave_off_checks_nothing():
    assert check_weave(load_config().tracking, env={}, reachable=_never, probe=_never) == "Weave: off"


def test_missing_package_names_the_install_command():
    with pytest.raises(ConfigError, match=r"^tracking\.weave=true: the weave package is not installed; .*\.\[weave\]"):
        check_weave(_tracking(), env={"WANDB_API_KEY": KEY}, reachable=_never, probe=_never, have_weave=False)


def test_missing_key_fails_before_any_connection_or_login():
    with pytest.raises(ConfigError, match="WANDB_API_KEY is not set, so Weave would stop and wait for an interactive login"):
        check_weave(_tracking(), env={}, reachable=_never, probe=_never, have_weave=True)


@pytest.mark.parametrize("down, url", [("api.wandb.ai", "https://api.wandb.ai"),
                                       ("trace.wandb.ai", "https://trace.wandb.ai")])
def test_unreachable_server_is_named(down, url):
    with pytest.raises(ConfigError, match=f"server {url} cannot be reached"):
        check_weave(_tracking(), env={"WANDB_API_KEY": KEY}, reachable=lambda hp: hp[0] != down, probe=_never,
                    have_weave=True)


def test_login_past_the_deadline_is_reported_with_the_timeout():
    with pytest.raises(ConfigError, match=r"weave.init\('me/traces'\) got no answer from https://trace.wandb.ai within 7 s"):
        check_weave(_tracking(weave_project="me/traces", weave_timeout_s=7), env={"WANDB_API_KEY": KEY},
                    reachable=lambda hp: True, probe=lambda *a: (None, ""), have_weave=True)


def test_failed_login_shows_its_last_line_without_the_key():
    out = f"Traceback ...\nwandb.AuthenticationError: API key {KEY} is invalid"
    with pytest.raises(ConfigError) as err:
        check_weave(_tracking(), env={"WANDB_API_KEY": KEY}, reachable=lambda hp: True, probe=lambda *a: (1, out),
                    have_weave=True)
    assert str(err.value).endswith("failed at https://trace.wandb.ai: wandb.AuthenticationError: API key "
                                   "<WANDB_API_KEY> is invalid")
    assert KEY not in str(err.value)


def test_probe_gets_the_project_and_timeout():
    seen = []
    why = check_weave(_tracking(weave_timeout_s=4), env={"WANDB_API_KEY": KEY}, reachable=lambda hp: True,
                      probe=lambda *a: seen.append(a[:2]) or (0, "weave ok"), have_weave=True)
    assert seen == [("campaign-engine", 4)]  # weave_project null falls back to tracking.wandb_project
    assert why == "Weave: tracing validation samples to campaign-engine at https://trace.wandb.ai"


@pytest.mark.parametrize("env", [{}, {"WANDB_BASE_URL": "http://wandb.local:8080/"},
                                 {"WANDB_BASE_URL": "https://api.wandb.ai", "WF_TRACE_SERVER_URL": "http://t:9/x"},
                                 {"WANDB_BASE_URL": "http://a:1", "WANDB_PUBLIC_BASE_URL": "https://pub.example"}])
def test_urls_follow_weaves_own_rules(env, monkeypatch, tmp_path):
    from weave.trace import env as weave_env_module

    for key in ("WANDB_BASE_URL", "WANDB_PUBLIC_BASE_URL", "WF_TRACE_SERVER_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path))  # no user settings file
    monkeypatch.chdir(tmp_path)
    assert weave_urls(env) == {"api": weave_env_module.wandb_base_url(),
                               "trace": weave_env_module.weave_trace_server_url()}


def test_redact_replaces_every_secret_value():
    env = {"WANDB_API_KEY": KEY, "HF_TOKEN": "hf_abcdefgh"}
    assert redact(f"a {KEY} b hf_abcdefgh", env) == "a <WANDB_API_KEY> b <HF_TOKEN>"


@pytest.mark.parametrize("key, value", [("tracking.weave_project", "a/b/c"), ("tracking.weave_project", "me/"),
                                        ("tracking.weave_timeout_s", 0)])
def test_bad_weave_settings_name_the_key(key, value):
    section, field = key.split(".")
    with pytest.raises(ConfigError, match=f"^config: {key.replace('.', '[.]')}: "):
        load_config(overrides={section: {field: value}})


# ---------------------------------------------------------------- real weave, stdin open


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _campaign(tmp: Path, env_extra: dict, *overrides: str, key: bool = True) -> tuple[subprocess.CompletedProcess, float]:
    """``campaign run --smoke-test`` with Weave on and its stdin an open pipe nobody writes to."""
    env = {**os.environ, **env_extra, "WEAVE_DISABLED": "true"}  # the engine itself must turn Weave on
    if key:
        env["WANDB_API_KEY"] = env_extra.get("WANDB_API_KEY", KEY)
    env.pop("RAY_ADDRESS", None)
    args = [sys.executable, "-m", "campaign.cli.main", "run", "--config", str(DEFAULT), "--smoke-test", "--cycles", "1",
            f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}", "tracking.wandb=disabled",
            "tracking.weave=true", "tracking.weave_project=tester/campaign-tests", "preflight.enabled=false", *overrides]
    proc = subprocess.Popen(args, cwd=tmp, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    t = time.time()
    try:
        out, err = proc.communicate(timeout=900)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(args, proc.returncode, out, err), time.time() - t


def test_cli_without_key_stops_at_once_and_creates_nothing(tmp_path):
    proc, _ = _campaign(tmp_path, {}, key=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "tracking.weave=true: WANDB_API_KEY is not set" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_cli_with_unreachable_server_names_it(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    proc, _ = _campaign(tmp_path, {"WANDB_BASE_URL": url})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"the W&B api server {url} cannot be reached" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_cli_with_a_silent_server_gives_up_after_the_timeout(tmp_path):
    # The server accepts connections and never answers: a bare weave.init would wait forever here.
    with WeaveStub(silent=True) as stub:
        proc, elapsed = _campaign(tmp_path, stub.env, "tracking.weave_timeout_s=5")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"weave.init('tester/campaign-tests') got no answer from {stub.url}/traces within 5 s" in proc.stderr
    assert elapsed < 120, f"the check should stop at its 5 s deadline, took {elapsed:.0f} s"
    assert not (tmp_path / "results").exists()


_WORKER = """
import json, os, sys
from campaign.tasks.hidden_params.schema import DIMS
from campaign.tasks import get_task
from trainables.weave_trace import trace_validation
task = get_task("hidden_params")
rows = [{"id": f"r{i}", "request": f"request {i}", "hidden_params": {d: 10.0 * i for d in DIMS}} for i in range(3)]
outs = [json.dumps({d: 20.0 for d in DIMS}), "not json", json.dumps({d: 25.0 for d in DIMS})]
tracking = {"weave_timeout_s": float(sys.argv[1]), "weave_project": "tester/campaign-tests", "wandb_project": "x"}
ctx = {"campaign": "c", "cycle": 1, "trial": "t1", "epoch": 1, "data_version": "v1"}
print(json.dumps([trace_validation(task, rows, outs, ctx, tracking), trace_validation(task, rows, outs, ctx, tracking)]))
"""


def _worker(stub: WeaveStub, timeout_s: float) -> list[dict]:
    from campaign.tracking.weave_check import weave_env

    env = {**os.environ, **stub.env}
    env.update(weave_env(env))
    proc = subprocess.run([sys.executable, "-c", _WORKER, str(timeout_s)], env=env, stdin=subprocess.PIPE,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_worker_traces_each_sample_with_input_target_prediction_and_error():
    with WeaveStub() as stub:
        results = _worker(stub, 30)
    assert results == [{"traced": 3, "error": None}] * 2
    samples = stub.traced("validation_sample")
    assert len(samples) == 6 and len(stub.traced("validation")) == 2
    by_id = {c["inputs"]["id"]: c for c in samples}
    r0, r1, r2 = by_id["r0"], by_id["r1"], by_id["r2"]
    assert r0["inputs"]["input"] == "request 0" and json.loads(r0["inputs"]["target"])["energy"] == 0
    assert "row" not in r0["inputs"]  # the whole row is the op's argument, not a logged input
    assert r0["output"]["prediction"]["energy"] == 20.0 and r0["output"]["error"] == pytest.approx(20.0)
    assert r1["output"]["prediction"] is None and r1["output"]["invalid_reason"] == "no JSON object"
    assert r2["output"]["facets"]["energy"] == pytest.approx(5.0)
    assert r0["attributes"]["trial"] == "t1" and r0["attributes"]["epoch"] == 1
    parent = stub.traced("validation")[0]
    assert parent["inputs"] == {"context": {"campaign": "c", "cycle": 1, "trial": "t1", "epoch": 1,
                                            "data_version": "v1"}}  # samples are logged once, by the children
    assert parent["output"] == {"n": 3, "n_valid": 2, "mae": pytest.approx(12.5)}


def test_worker_with_a_silent_server_records_why_and_stops_trying():
    with WeaveStub(silent=True) as stub:
        t = time.time()
        first, second = _worker(stub, 3)
        elapsed = time.time() - t
    assert first["traced"] == 0 and "did not finish within 3 s" in first["error"]
    assert second == first  # a later pass does not wait again
    assert elapsed < 120


@pytest.mark.campaign
def test_campaign_traces_every_validation_sample_of_every_trial(tmp_path, tiny_model_path):
    """The smoke campaign with Weave on: each trial's every validation pass is traced, sample by sample."""
    with WeaveStub() as stub:
        proc, _ = _campaign(tmp_path, {**stub.env, "CAMPAIGN_CACHE": str(tiny_model_path.parent)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"Weave: tracing validation samples to tester/campaign-tests at {stub.url}/traces" in proc.stdout
    folder = tmp_path / "results" / "default" / "cycle_1"
    snap = json.loads((folder / "validation_snapshot.json").read_text())
    valid = read_table(tmp_path / "data" / "smoke" / "v1" / "valid.parquet")
    passes = stub.traced("validation")
    trials = {t["trial_id"]: t for t in snap["trials"]}
    assert {p["inputs"]["context"]["trial"] for p in passes} == set(trials) and len(trials) == 2
    for trial_id, t in trials.items():
        epochs = sorted(p["inputs"]["context"]["epoch"] for p in passes if p["inputs"]["context"]["trial"] == trial_id)
        assert epochs == list(range(1, t["metrics"]["epoch"] + 1))  # one traced pass per epoch
        assert t["metrics"]["weave/traced_samples"] == len(valid)
    samples = stub.traced("validation_sample")
    assert len(samples) == len(passes) * len(valid)
    by_request = {r["request"]: r for r in valid}
    assert all(by_request[s["inputs"]["input"]]["hidden_params"] == json.loads(s["inputs"]["target"]) for s in samples)
    # The traced outputs are the trial's real predictions: the last pass matches its final checkpoint.
    for trial_id, t in trials.items():
        details = json.loads((Path(t["checkpoint_path"]) / "details.json").read_text())
        want = {o["id"]: o["output"] for o in details["valid"]["outputs"]}
        last = max(p["inputs"]["context"]["epoch"] for p in passes if p["inputs"]["context"]["trial"] == trial_id)
        got = {s["inputs"]["id"]: s["inputs"]["output"] for s in samples
               if s["attributes"]["trial"] == trial_id and s["attributes"]["epoch"] == last}
        assert got == want
    texts = [p.read_text(errors="replace") for p in (tmp_path / "results").rglob("*") if p.is_file()]
    assert not any(KEY in text for text in texts + [proc.stdout, proc.stderr])
