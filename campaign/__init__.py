"""The campaign engine: Ray Tune + Optuna campaigns of Ray Train QLoRA trials, with data versions and gates.

Tasks plug in through :mod:`campaign.tasks` (``Task``, ``register``, ``get_task``); the engine knows none of them.
"""
from campaign.config import CampaignConfig, ConfigError, load_config
from campaign.decide.hard_facets import best_trials, choose_hard_facets
from campaign.tasks import Task, TaskSpec, get_task, known_kinds, register
from campaign.tasks.rows import DataValidationError

__all__ = ["CampaignConfig", "ConfigError", "DataValidationError", "load_config", "best_trials", "choose_hard_facets",
           "Task", "TaskSpec", "get_task", "known_kinds", "register"]
