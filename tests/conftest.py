"""Test-wide settings: offline, no trackers, and a per-session model cache."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["WEAVE_DISABLED"] = "true"
os.environ["WANDB_MODE"] = "offline"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
for secret in ("WANDB_API_KEY", "HF_TOKEN"):
    os.environ.pop(secret, None)

import pytest


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """The tiny base model, built once per test session in a private cache."""
    from trainables.tiny_model import ensure_tiny_model

    cache = tmp_path_factory.mktemp("model-cache")
    os.environ["CAMPAIGN_CACHE"] = str(cache)  # Ray workers started later inherit it
    return ensure_tiny_model(cache)
