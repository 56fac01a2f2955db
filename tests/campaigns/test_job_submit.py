"""`ray job submit` for real: a local head with its job server on loopback, the smoke campaign as a job."""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "hf_job_token_that_must_never_be_written_" + secrets.token_hex(4)
pytestmark = pytest.mark.campaign


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(temp_dir: Path) -> None:
    """Stop only this head's processes (`ray stop` would stop every Ray on the machine)."""
    import psutil

    procs = [p for p in psutil.process_iter(["cmdline"]) if str(temp_dir) in " ".join(p.info["cmdline"] or [])]
    for p in procs:
        p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=15)
    for p in alive:
        p.kill()


@pytest.fixture(scope="module")
def head(tmp_path_factory, tiny_model_path):
    """A token-authenticated head on 127.0.0.1, as cluster.yaml starts one (RAY_AUTH_MODE=token)."""
    tmp = tmp_path_factory.mktemp("job")
    token = tmp / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
           "CAMPAIGN_CACHE": str(tiny_model_path.parent)}
    env.pop("RAY_ADDRESS", None)
    temp_dir, port = tmp / "ray", _free_port()
    subprocess.run([str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={_free_port()}",
                    "--dashboard-host=127.0.0.1", f"--dashboard-port={port}", "--num-cpus=3",
                    f"--temp-dir={temp_dir}", "--include-dashboard=true"],
                   env=env, check=True, capture_output=True, timeout=180)
    try:
        yield tmp, env, f"http://127.0.0.1:{port}", temp_dir
    finally:
        _stop(temp_dir)


@pytest.fixture(scope="module")
def job(head):
    tmp, env, address, temp_dir = head
    runtime_env = {"env_vars": {"HF_TOKEN": SECRET, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline",
                                "WEAVE_DISABLED": "true", "CAMPAIGN_CACHE": env["CAMPAIGN_CACHE"]}}
    cmd = [str(BIN / "ray"), "job", "submit", "--address", address, "--working-dir", str(REPO),
           "--runtime-env-json", json.dumps(runtime_env), "--",
           sys.executable, "-m", "campaign.cli.main", "run", "--config", "search_spaces/balanced_6run.yaml",
           "--smoke-test", "--cycles", "1", f"data.root={tmp / 'data'}", f"results_dir={tmp / 'results'}",
           "tracking.wandb=disabled", "preflight.steps=5"]
    t = time.time()
    # a fresh head's job agent takes a few seconds to register, over a minute on a loaded 2-core machine
    while True:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if "No available agent to submit job" not in proc.stdout + proc.stderr or time.time() - t > 240:
            break
        time.sleep(5)
    (tmp / "submit.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return tmp, proc.stdout + proc.stderr, time.time() - t, address, temp_dir


def test_the_job_ran_the_campaign_on_the_cluster(job):
    tmp, log, _, _, _ = job
    assert "succeeded" in log
    state = json.loads((tmp / "results" / "default" / "campaign.json").read_text())
    assert state["status"] == "finished" and state["cycles"]["1"]["status"] == "done"
    snap = json.loads((tmp / "results" / "default" / "cycle_1" / "validation_snapshot.json").read_text())
    assert len(snap["trials"]) == 2 and all(t["state"] == "TERMINATED" for t in snap["trials"])
    assert {b["mode"] for b in snap["baselines"]} == {"mean_baseline", "rule_baseline", "prompt_baseline"}


def test_the_secret_reached_no_result_log_or_report(job):
    tmp, log, _, address, temp_dir = job
    from campaign.cli.main import main

    assert main(["report", str(tmp / "results" / "default")]) == 0
    assert SECRET not in log
    job_id = next(w.strip("'\",") for w in log.split() if w.strip("'\",").startswith("raysubmit_"))
    driver = subprocess.run([str(BIN / "ray"), "job", "logs", job_id, "--address", address], capture_output=True,
                            text=True, env={**os.environ, "RAY_AUTH_MODE": "token",
                                            "RAY_AUTH_TOKEN_PATH": str(tmp / "auth_token")})
    assert driver.returncode == 0 and "cycle 1" in driver.stdout and SECRET not in driver.stdout
    leaked = [p for p in (tmp / "results").rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
    # Our processes' logs (job driver, Tune trials, Train workers) never hold it. Ray itself records the
    # runtime env in its runtime-env agent log and in the job's metadata (`ray job list`); see the README.
    ray_logs = [p for p in temp_dir.rglob("logs/*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert all(p.name.startswith("runtime_env") for p in ray_logs), ray_logs
