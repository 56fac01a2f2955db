"""Ray trainables of the campaign engine.

Importing this package is cheap: torch, transformers, peft and bitsandbytes are
imported inside the worker functions only, never in the Tune driver.
"""
from trainables.tune_fn import final_checkpoint, merge_trial_config, qlora_trial, scaling_for, trial_name

__all__ = ["qlora_trial", "merge_trial_config", "scaling_for", "trial_name", "final_checkpoint"]
