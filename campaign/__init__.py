"""The campaign engine: Ray Tune + Optuna campaigns of Ray Train QLoRA trials, with data versions and gates."""
from campaign.config import CampaignConfig, ConfigError, load_config
from campaign.decisions import best_trials, choose_hard_dims
from campaign.metrics import parse_prediction, score
from campaign.schema import DIMS, DataValidationError

__all__ = ["CampaignConfig", "ConfigError", "DataValidationError", "DIMS", "load_config", "parse_prediction",
           "score", "best_trials", "choose_hard_dims"]
