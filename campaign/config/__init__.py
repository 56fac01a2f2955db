"""Campaign configuration: dataclasses with one-line field docs (``sections``), loaded from YAML (``loader``).

Every check raises :class:`ConfigError` naming the dotted key and the fix. No
value is rewritten silently: ``wandb: auto`` resolves to one mode and the
resolved config is written next to the results.
"""
from campaign.config.loader import DEPRECATED_KEYS, load_config, merge, parse_overrides, read_yaml
from campaign.config.search import SearchConfig
from campaign.config.sections import (BATCHINGS, DTYPES, QUANTIZATIONS, WANDB_MODES, CampaignConfig, CyclesConfig,
                                      DataConfig, GateConfig, LoraSettings, ModelConfig, PreflightConfig, ResourcesConfig,
                                      TaskConfig, TrackingConfig, TrainConfig)
from campaign.core.errors import ConfigError

__all__ = ["ConfigError", "read_yaml", "merge", "TaskConfig", "DataConfig", "ModelConfig", "LoraSettings", "TrainConfig",
           "ResourcesConfig", "TrackingConfig", "CyclesConfig", "GateConfig", "PreflightConfig", "CampaignConfig", "SearchConfig",
           "load_config", "parse_overrides", "DEPRECATED_KEYS", "QUANTIZATIONS", "DTYPES", "WANDB_MODES", "BATCHINGS"]
