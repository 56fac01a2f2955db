"""Errors shared across the engine (no heavy imports)."""


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid; the message names the key."""


class CampaignStopped(RuntimeError):
    """A cycle ended with no finished trial: nothing to learn from, so the campaign cannot go on."""


class SearchInterrupted(RuntimeError):
    """The Tune run stopped before every trial ended (Ctrl-C); its folder is restorable."""


class StudyStorageError(RuntimeError):
    """The Optuna study file is locked by another process, damaged, or missing; the message names the file."""
