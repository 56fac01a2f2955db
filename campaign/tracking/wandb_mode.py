"""Optional trackers. W&B: disabled, offline or online; Weave is off unless enabled (see weave_check).

External services never fail training silently: an explicit ``online`` request
with no reachable service stops the campaign before any trial starts, and
``auto`` says out loud when it falls back to offline.
"""
from __future__ import annotations

import os

from campaign.core.environment import SECRET_ENV, WANDB_HOST, can_connect  # noqa: F401 - re-exported
from campaign.core.errors import ConfigError

__all__ = ["resolve_wandb_mode", "worker_env", "wandb_callbacks", "can_connect", "SECRET_ENV"]


def resolve_wandb_mode(requested: str, env=None, reachable=can_connect) -> tuple[str, str]:
    """Return ``(mode, why)``; raise ConfigError if ``online`` was asked for and cannot work."""
    env = os.environ if env is None else env
    has_key = bool(env.get("WANDB_API_KEY"))
    if requested in ("disabled", "offline"):
        return requested, f"tracking.wandb={requested}"
    if requested == "online":
        if not has_key:
            raise ConfigError("tracking.wandb=online: WANDB_API_KEY is not set; set it or use tracking.wandb=offline")
        if not reachable(WANDB_HOST):
            raise ConfigError(f"tracking.wandb=online: {WANDB_HOST[0]} cannot be reached; "
                              "use tracking.wandb=offline (runs can be synced later with `wandb sync`)")
        return "online", "tracking.wandb=online"
    if not has_key:
        return "offline", "tracking.wandb=auto and no WANDB_API_KEY: offline (sync later with `wandb sync`)"
    if not reachable(WANDB_HOST):
        return "offline", f"tracking.wandb=auto: WANDB_API_KEY is set but {WANDB_HOST[0]} is unreachable: offline"
    return "online", "tracking.wandb=auto with WANDB_API_KEY: online"


def worker_env(cfg) -> dict[str, str]:
    """Environment for Ray workers started by a local cluster; never carries secrets."""
    env = {"WEAVE_DISABLED": "true", "TOKENIZERS_PARALLELISM": "false"}
    if cfg.tracking.weave:  # checked before any trial by campaign.tracking.weave_check.check_weave
        from campaign.tracking.weave_check import weave_env

        env.update(weave_env(os.environ))
    if cfg.model.base_model == "tiny":
        env["HF_HUB_OFFLINE"] = "1"  # the tiny model is local; nothing may be fetched
    return env


def wandb_callbacks(cfg, mode: str, group: str, folder) -> list:
    """Tune callbacks for W&B (empty when disabled); runs go to ``folder``/wandb."""
    if mode == "disabled":
        return []
    os.environ["WANDB_MODE"] = mode
    os.environ.setdefault("WANDB_SILENT", "true")
    (folder / "wandb").mkdir(parents=True, exist_ok=True)
    from campaign.tracking.wandb_callback import DriverWandbCallback

    return [DriverWandbCallback(project=cfg.tracking.wandb_project, group=group, dir=str(folder))]
