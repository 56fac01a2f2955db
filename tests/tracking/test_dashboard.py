"""`campaign dashboard`: a hand-built campaign's optuna.db served by optuna-dashboard; bad folders refused untouched."""
from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from campaign.cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
from study_campaign import TRIALS, make_campaign, tree  # noqa: E402

pytest.importorskip("optuna_dashboard")

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def non_loopback_ip() -> str | None:
    """This machine's outward IPv4 address, if it has one (a UDP connect sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`python -m campaign.cli.main dashboard <folder> --port <free>` running until its API answers."""
    folder = make_campaign(tmp_path_factory.mktemp("served"))
    port = free_port()
    # SIGINT back to default: under a backgrounded shell it is inherited as ignored, and Ctrl-C is tested
    proc = subprocess.Popen([sys.executable, "-m", "campaign.cli.main", "dashboard", str(folder), "--port", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"dashboard exited {proc.returncode}: {proc.communicate()}"
            try:
                studies = get_json(f"http://127.0.0.1:{port}/api/studies")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the dashboard did not answer within 60 s"
                time.sleep(0.2)
        printed = []  # printed and flushed before it served, so these reads do not block
        while not printed or not printed[-1].startswith("open "):
            printed.append(proc.stdout.readline())
        yield {"proc": proc, "port": port, "studies": studies, "printed": "".join(printed)}
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_serves_the_campaign_studies_with_their_trials(served):
    base = f"http://127.0.0.1:{served['port']}"
    listed = served["studies"]["study_summaries"]  # /api/studies lists names and ids; trials are per study
    counts = {s["study_name"]: len(get_json(f"{base}/api/studies/{s['study_id']}")["trials"]) for s in listed}
    print(f"\nGET /api/studies -> {[(s['study_id'], s['study_name'], s['directions']) for s in listed]}; "
          f"trials per study: {counts}")
    assert counts == TRIALS
    trial = get_json(f"{base}/api/studies/{listed[0]['study_id']}")["trials"][0]
    assert {a["key"] for a in trial["user_attrs"]} >= {"trial_id", "trial_name"}
    with urllib.request.urlopen(f"{base}/dashboard/", timeout=5) as r:  # the printed URL is the UI's page
        assert r.status == 200 and b"<html" in r.read().lower()
    assert "demo-cycle1: 3 trials\n  demo-cycle2: 2 trials" in served["printed"]


def test_binds_to_loopback_only_by_default(served):
    assert f"open http://127.0.0.1:{served['port']}/dashboard/" in served["printed"]
    assert "no authentication" not in served["printed"]  # the warning is for other hosts only
    ip = non_loopback_ip()
    if ip is None:
        pytest.skip("no non-loopback IPv4 address on this machine to try")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ip, served["port"]), timeout=3).close()


def test_ctrl_c_stops_it_with_exit_code_0(served):  # ends the shared server: keep it after the tests above
    proc = served["proc"]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_missing_extra_names_the_install_command(tmp_path, monkeypatch, capsys):
    folder = make_campaign(tmp_path)
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # `import optuna_dashboard` raises ImportError
    assert main(["dashboard", str(folder), "--port", str(free_port())]) == 2
    assert "pip install -c constraints.txt -e '.[dashboard]'" in capsys.readouterr().err


def test_port_in_use_names_the_port_and_the_option(tmp_path, capsys):
    folder = make_campaign(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dashboard", str(folder), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port}" in err and "already in use" in err and "--port" in err


def _refused(root: Path, folder: Path, capsys) -> str:
    before = tree(root)
    assert main(["dashboard", str(folder), "--port", str(free_port())]) == 2
    assert tree(root) == before, "the command wrote into the folder"
    return capsys.readouterr().err


def test_a_folder_that_is_not_a_campaign(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a campaign")
    err = _refused(tmp_path, tmp_path, capsys)
    assert f"{tmp_path} is not a campaign folder (no campaign.json)" in err
    assert not (tmp_path / "optuna.db").exists()


def test_a_campaign_from_before_studies_were_stored(tmp_path, capsys):
    folder = make_campaign(tmp_path, with_study=False)
    err = _refused(tmp_path, folder, capsys)
    assert f"{folder / 'optuna.db'} is missing" in err and "--overwrite" in err
    assert not (folder / "optuna.db").exists()


def test_a_damaged_study_file_is_named_and_left_as_it_is(tmp_path, capsys):
    folder = make_campaign(tmp_path, with_study=False)
    (folder / "optuna.db").write_bytes(b"\x00garbage, not SQLite\xff" * 64)
    err = _refused(tmp_path, folder, capsys)
    assert f"{folder / 'optuna.db'}: " in err and "damaged or not an SQLite database" in err


def test_a_locked_study_file_is_named_and_left_as_it_is(tmp_path, capsys):
    folder = make_campaign(tmp_path)
    path = folder / "optuna.db"
    holder = sqlite3.connect(path, isolation_level=None)  # another process's writer, as far as SQLite locks go
    try:
        holder.execute("BEGIN EXCLUSIVE")
        err = _refused(tmp_path, folder, capsys)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert f"{path}: " in err and "locked by another process" in err
