"""``campaign dashboard``: a campaign's stored Optuna studies (``optuna.db``) in optuna-dashboard.

The folder and its study file are checked before anything opens them for writing: SQLite creates
a missing file on connect, and a locked or damaged file must be named and left as it is
(``check_storage`` reads it read-only). The server is optuna-dashboard's WSGI app on wsgiref's
threaded server (what its own CLI runs), bound here so a busy port is reported before the URL is
printed. optuna-dashboard is an optional extra; without it the command says how to install it.
"""
from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sqlalchemy.exc import SQLAlchemyError

from campaign.core.errors import ConfigError, StudyStorageError
from campaign.decide.state import STATE_FILE
from campaign.tracking.optuna_study import open_storage, study_path

__all__ = ["INSTALL_HINT", "DashboardUnavailable", "dashboard_storage", "dashboard_url", "serve"]

INSTALL_HINT = ".venv/bin/pip install -c constraints.txt -e '.[dashboard]'"


class DashboardUnavailable(ConfigError):
    """optuna-dashboard (the ``dashboard`` extra) is not installed; the message names the install command."""


def dashboard_storage(folder):
    """``(storage, path, study names)`` for a campaign folder's ``optuna.db``; nothing is written.

    Raises ConfigError when ``folder`` is not a campaign or has no stored study, and the
    StudyStorageError of ``check_storage`` when the file is locked, damaged or not Optuna's.
    """
    folder = Path(folder)
    if not (folder / STATE_FILE).is_file():
        raise ConfigError(f"{folder} is not a campaign folder (no {STATE_FILE})")
    path = study_path(folder)
    if not path.exists():  # checked here: a sqlite connect would create an empty file
        raise ConfigError(
            f"{folder}: the campaign has no stored Optuna study ({path} is missing: it was run before "
            "studies were stored in the campaign folder). Re-running the campaign stores one: "
            "`campaign run --config <its YAML> --overwrite` (which replaces its results).")
    try:
        storage = open_storage(path)  # runs check_storage (read-only) first; existing file, no table creation
        names = [s.study_name for s in storage.get_all_studies()]
    except StudyStorageError:
        raise
    except (RuntimeError, SQLAlchemyError) as err:  # another Optuna's schema; a lock taken since the check
        raise StudyStorageError(f"{path}: the Optuna study file could not be read ({err}). "
                                "The file was not changed.") from None
    return storage, path, names


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def dashboard_url(host: str, port: int) -> str:
    """The UI's address (optuna-dashboard serves it under ``/dashboard``); a wildcard host shows this machine's name."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/dashboard/"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # Ctrl-C does not wait for the browser's open requests


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # the UI polls every few seconds: one stderr line each is noise
        pass


def _bind(app, host: str, port: int):
    if not 0 < port < 65536:  # socket.bind would raise OverflowError; 0 would hide the port from the URL
        raise ConfigError(f"--port {port}: must be 1..65535")
    server_class = _Server
    if ":" in host:  # an IPv6 address; wsgiref's server is IPv4 unless told
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    try:
        return make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use (another dashboard or server?); "
                              "pick a free one with --port") from None
        raise ConfigError(f"cannot listen on {host}:{port} ({err}); check --host and --port") from None


def _describe_studies(storage, names) -> list[str]:
    if not names:
        return ["  (no studies yet: the campaign's first cycle has not asked for a trial)"]
    lines = []
    for summary in storage.get_all_studies():
        n = len(storage.get_all_trials(storage.get_study_id_from_name(summary.study_name), deepcopy=False))
        lines.append(f"  {summary.study_name}: {n} trial{'s' if n != 1 else ''}")
    return lines


def serve(folder, host: str = "127.0.0.1", port: int = 8080) -> int:
    """Serve the campaign's studies until Ctrl-C (then 0)."""
    try:
        import optuna_dashboard
    except ImportError:
        raise DashboardUnavailable(f"optuna-dashboard is not installed; install the dashboard extra with "
                                   f"`{INSTALL_HINT}`") from None
    storage, path, names = dashboard_storage(folder)
    try:
        server = _bind(optuna_dashboard.wsgi(storage), host, port)
        print(f"optuna-dashboard on {path}:", *_describe_studies(storage, names), sep="\n")
        if not _is_loopback(host):
            print(f"note: listening on {host}, not only this machine. The dashboard has no authentication: anyone "
                  "who can reach this port can read the studies and change them (notes, attributes, deleting).")
        print(f"open {dashboard_url(host, port)}  (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nstopped", flush=True)
        finally:
            server.server_close()
    finally:
        storage.remove_session()
        storage.engine.dispose()  # no connection left on the file (callers in-process, e.g. tests)
    return 0
