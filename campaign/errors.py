"""Errors shared across the engine (no heavy imports)."""


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid; the message names the key."""
