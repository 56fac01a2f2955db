"""Facts about the process environment that several layers need: which variables are secrets, reachability."""
from __future__ import annotations

import socket

__all__ = ["SECRET_ENV", "WANDB_HOST", "can_connect"]

SECRET_ENV = ("HF_TOKEN", "WANDB_API_KEY", "HUGGING_FACE_HUB_TOKEN")
WANDB_HOST = ("api.wandb.ai", 443)


def can_connect(host: tuple[str, int], timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``(host, port)`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False
