"""Ray's console output: quiet unless ``--verbose``, with the full logs kept on disk.

Without ``--verbose`` (what each setting silences, and where that output still is):

- ``ray.init(log_to_driver=False)``: the stdout/stderr of every Ray worker process is no longer
  forwarded to the driver. That is Ray Train's per-epoch ``Reporting training result 1:
  TrainingReport(checkpoint=..., metrics={...})`` (logged at INFO by
  ``ray/train/v2/_internal/execution/context.py`` in each Train worker), the Train controller's
  start-up lines, the C++ ``core_worker.cc ... max_restarts > 0`` errors of helper actors
  (PreemptionWatcher) and the workers' own prints. They stay in Ray's session log folder
  (``worker-*.out/.err``, ``logs/train/*.log``), which :func:`save_ray_logs` copies into
  ``results/<campaign>/logs/ray/`` (values of secret environment variables redacted).
- ``ray.init(logging_level=WARNING)``: the driver's ``ray`` logger drops its INFO lines
  ("Started a local Ray instance", "Wrote the latest version of all result files ..."); the
  dashboard address is printed by the campaign instead.
- ``tune.RunConfig(verbose=0)`` with ``RAY_AIR_NEW_OUTPUT=0``: Tune's status tables, its
  per-trial result dicts and its TensorBoard hint (which points at Ray's staging folder under
  /tmp/ray). Ray 2.60's new output engine prints the experiment table and that hint even at
  ``verbose=0`` (``ray/tune/experimental/output.py``); the legacy engine at ``verbose=0``
  prints nothing. Each trial's full results remain in ``cycle_<n>/tune/<trial>/result.json``.
- The raylet's "N PYTHON worker processes have been started on node ... which is Nx the
  maximum expected startup concurrency" reaches the driver through Ray's error channel, not
  the worker logs, so ``log_to_driver`` does not stop it. Every trial starts Ray Train helper
  actors (controller, queue, placement-group cleaner, preemption watcher), so on a small
  machine this warning is expected; only that message is dropped (it stays in the raylet's
  log). Every other error Ray sends to the driver is still printed.
- Tune's "The `callbacks.on_trial_result` operation took 1.3 s, which may be a performance
  bottleneck" warnings (``ray.tune.utils.util.warn_if_slow``, seen on 2 busy cores once the run
  is over 60 s old). Only those messages are filtered from the ``ray.tune.utils.util`` logger.
- The Ray token-authentication notice and Optuna's "A new study created" INFO line.

Errors still reach the console: Tune logs every failed trial with its traceback (ERROR), the
console callback prints a line per failure, and a crash of the driver prints its traceback.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

__all__ = ["ray_init_options", "quiet_console", "tune_verbosity", "session_logs_dir",
           "save_ray_logs", "ray_logs_note", "secret_values", "RAYLET_NOISE"]

# Raylet messages (Ray's error channel) that are expected in a campaign and dropped when quiet.
RAYLET_NOISE = ("worker processes have been started on node",)


def ray_init_options(verbose: bool) -> dict:
    """Keyword arguments of ``ray.init`` for the console mode."""
    return {"log_to_driver": verbose, "logging_level": logging.INFO if verbose else logging.WARNING}


def tune_verbosity(verbose: bool) -> int:
    """``tune.RunConfig(verbose=...)``: Tune's own tables and result dicts only with ``--verbose``."""
    return 1 if verbose else 0


def quiet_console(verbose: bool) -> None:
    """Before ``ray.init``: switch off the driver-side chatter that ``ray.init``'s options do not cover."""
    if verbose:
        return
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's legacy engine is silent at verbose=0
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    slow = logging.getLogger("ray.tune.utils.util")
    if not any(isinstance(f, _SlowOperationFilter) for f in slow.filters):
        slow.addFilter(_SlowOperationFilter())
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    except ImportError:  # pragma: no cover - optuna is a dependency
        pass
    _filter_raylet_messages()


class _SlowOperationFilter(logging.Filter):
    """Drops Tune's "... took 1.3 s, which may be a performance bottleneck" warnings, nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "may be a performance bottleneck" not in record.getMessage()


def _filter_raylet_messages() -> None:
    """Drop the expected raylet warnings in :data:`RAYLET_NOISE` from the driver's error printer.

    Ray's driver thread ``listen_error_messages`` prints what the raylet sends through
    ``ray._private.worker.print_to_stdstream`` (looked up at each call). If a future Ray has no
    such function, nothing is filtered and the warning is simply printed.
    """
    try:
        import ray._private.worker as ray_worker
    except ImportError:  # pragma: no cover
        return
    original = getattr(ray_worker, "print_to_stdstream", None)
    if original is None or getattr(original, "campaign_filtered", False):
        return

    def print_to_stdstream(data, *args, **kwargs):
        if isinstance(data, dict) and data.get("pid") == "raylet":
            lines = [line for line in data.get("lines", []) if not any(n in str(line) for n in RAYLET_NOISE)]
            if not lines:
                return None
            data = {**data, "lines": lines}
        return original(data, *args, **kwargs)

    print_to_stdstream.campaign_filtered = True
    ray_worker.print_to_stdstream = print_to_stdstream


def _node():
    try:
        import ray._private.worker as ray_worker
    except ImportError:  # pragma: no cover
        return None
    return getattr(ray_worker, "_global_node", None)


def session_logs_dir() -> Path | None:
    """Ray's log folder of this session on this machine (``/tmp/ray/session_*/logs``), if known."""
    node = _node()
    try:
        return Path(node.get_logs_dir_path()) if node is not None else None
    except Exception:  # noqa: BLE001 - only a location for messages and copies
        return None


def _attached() -> bool:
    return bool(os.environ.get("RAY_ADDRESS"))


def ray_logs_note(campaign_folder: Path) -> str:
    """One line: where Ray's own logs are, and where the campaign keeps them."""
    logs = session_logs_dir()
    if logs is None:
        return "Ray's logs: in the Ray session folder of the cluster's head node (/tmp/ray/session_latest/logs)"
    if _attached():
        return f"Ray's logs: {logs} on the cluster's head node (worker output: worker-*.out/.err there)"
    return f"Ray's logs: {logs} (copied to {Path(campaign_folder) / 'logs' / 'ray'}/ as trials end)"


# Environment variables whose values never reach the results folder (Ray's runtime-env agent log, for
# one, records the workers' environment, which carries WANDB_API_KEY when Weave tracing is on).
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY|PRIVATE_KEY", re.IGNORECASE)


def secret_values(env=None) -> list[bytes]:
    """Values of secret-looking environment variables (``HF_TOKEN``, ``WANDB_API_KEY``, ...), longest first."""
    from campaign.core.environment import SECRET_ENV

    env = os.environ if env is None else env
    values = {v for k, v in env.items() if (k in SECRET_ENV or _SECRET_NAME.search(k)) and len(v) >= 8}
    return sorted((v.encode() for v in values), key=len, reverse=True)


def _copy_redacted(src: Path, dst: Path, secrets: list[bytes]) -> None:
    """Copy ``src`` to ``dst`` with every secret value replaced, unless ``dst`` is already this version.

    A copy, never a hard link: Ray keeps appending to its logs, and a link would let a secret
    written later into the results folder. ``dst`` takes ``src``'s modification time, so an
    unchanged file (same time and size) is not read again.
    """
    st = src.stat()
    if dst.exists():
        done = dst.stat()
        if done.st_mtime_ns == st.st_mtime_ns and done.st_size == st.st_size:
            return
    data = src.read_bytes()
    for secret in secrets:
        data = data.replace(secret, b"[redacted]")
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_bytes(data)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    tmp.replace(dst)


def save_ray_logs(campaign_folder: Path) -> Path | None:
    """Copy this Ray session's log folder to ``<campaign>/logs/ray/<session>/``, secrets redacted.

    Called when a trial ends and at the end of each cycle's search, also when it is interrupted
    (a driver killed with SIGKILL keeps what was copied when its last trial ended). Nothing is copied
    when attached to a cluster (``RAY_ADDRESS``): its logs are on the head node. Never raises.
    """
    logs = session_logs_dir()
    if logs is None or _attached() or not logs.is_dir():
        return None
    dst_root = Path(campaign_folder) / "logs" / "ray" / logs.parent.name
    secrets = secret_values()
    try:
        for src in logs.rglob("*"):
            if src.is_symlink() or not src.is_file():
                continue
            dst = dst_root / src.relative_to(logs)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
                    continue  # copied after its last write: each trial's end copies only what changed
                _copy_redacted(src, dst, secrets)
            except OSError:
                continue  # a file Ray rotated or removed meanwhile
    except OSError:
        return None
    return dst_root
