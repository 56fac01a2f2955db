"""Weave, checked before any trial starts: the package, the API key, the servers, a real login.

``weave.init`` can wait forever: for an interactive W&B login when no key is set (it
reads stdin), and on a server that accepts connections but never answers. So the driver
never calls it in-process. It checks what it can cheaply, then runs one real
``weave.init`` in a child process with stdin closed and a deadline, and turns every way
that can fail into a ConfigError naming the key or the server.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from urllib.parse import urlparse

from campaign.core.environment import SECRET_ENV, can_connect
from campaign.core.errors import ConfigError

__all__ = ["weave_urls", "weave_env", "check_weave", "redact"]

DEFAULT_BASE_URL = "https://api.wandb.ai"
SAAS_TRACE_URL = "https://trace.wandb.ai"


def weave_urls(env) -> dict[str, str]:
    """The W&B API and trace server URLs Weave will use (weave.trace.env's rules, without importing weave)."""
    base = env.get("WANDB_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    public = env.get("WANDB_PUBLIC_BASE_URL", "").rstrip("/") or base
    default_trace = SAAS_TRACE_URL if public == DEFAULT_BASE_URL else public + "/traces"
    return {"api": base, "trace": env.get("WF_TRACE_SERVER_URL", default_trace)}


def weave_env(env) -> dict[str, str]:
    """What workers need for tracing: Weave on, quiet, no auto-patching; the servers passed on, no secrets.

    Weave's own crash reports to Sentry are off unless WANDB_ERROR_REPORTING says otherwise:
    traces go to the server the user chose and nowhere else.
    """
    out = {"WEAVE_DISABLED": "false", "WEAVE_PRINT_CALL_LINK": "false",
           "WEAVE_IMPLICITLY_PATCH_INTEGRATIONS": "false", "WEAVE_USE_SERVER_CACHE": "false",
           "WANDB_ERROR_REPORTING": env.get("WANDB_ERROR_REPORTING", "false")}
    for key in ("WANDB_BASE_URL", "WANDB_PUBLIC_BASE_URL", "WF_TRACE_SERVER_URL", "WANDB_ENTITY"):
        if env.get(key):
            out[key] = env[key]
    return out


def redact(text: str, env) -> str:
    """``text`` with the value of every secret variable replaced by its name."""
    for key in SECRET_ENV:
        value = env.get(key)
        if value and len(value) >= 4:
            text = text.replace(value, f"<{key}>")
    return text


def _host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)


def _probe(project: str, timeout_s: float, env) -> tuple[int | None, str]:
    """Run one real ``weave.init`` in a child with stdin closed; ``(None, "")`` when it passed the deadline."""
    cmd = [sys.executable, "-m", "trainables.weave_trace", "--probe", project]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s,
                              env={**env, **weave_env(env)})
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, (done.stderr + done.stdout).strip()


def check_weave(tracking, env=None, reachable=can_connect, probe=_probe, have_weave=None) -> str:
    """Raise ConfigError unless Weave can trace for ``tracking``; return a one-line summary."""
    env = os.environ if env is None else env
    if not tracking.weave:
        return "Weave: off"
    key = "tracking.weave=true"
    installed = have_weave if have_weave is not None else importlib.util.find_spec("weave") is not None
    if not installed:
        raise ConfigError(f"{key}: the weave package is not installed; install it with "
                          "`pip install -c constraints.txt -e '.[weave]'` or set tracking.weave=false")
    if not env.get("WANDB_API_KEY"):
        raise ConfigError(f"{key}: WANDB_API_KEY is not set, so Weave would stop and wait for an interactive "
                          "login; set WANDB_API_KEY (on a cluster, in the job's runtime env) or tracking.weave=false")
    urls = weave_urls(env)
    for name, url in urls.items():
        if not reachable(_host_port(url)):
            raise ConfigError(f"{key}: the W&B {name} server {url} cannot be reached; check the network "
                              "(or WANDB_BASE_URL / WF_TRACE_SERVER_URL), or set tracking.weave=false")
    project = tracking.weave_project or tracking.wandb_project
    rc, out = probe(project, tracking.weave_timeout_s, env)
    if rc is None:
        raise ConfigError(f"{key}: weave.init({project!r}) got no answer from {urls['trace']} within "
                          f"{tracking.weave_timeout_s:g} s; check the server, raise tracking.weave_timeout_s, "
                          "or set tracking.weave=false")
    if rc != 0:
        last = redact(out, env).splitlines()[-1] if out else f"exit code {rc}"
        raise ConfigError(f"{key}: weave.init({project!r}) failed at {urls['trace']}: {last}")
    return f"Weave: tracing validation samples to {project} at {urls['trace']}"
