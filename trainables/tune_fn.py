"""The Tune function trainable: one trial = one Ray Train ``TorchTrainer`` run.

Ray Train V2 cannot be passed to ``Tuner`` directly, so this plain function of
``config`` builds the trainer and forwards every worker report to Tune through
``TuneReportCallback``. Static inputs (the resolved campaign config, the data
ref, the model path) arrive through ``tune.with_parameters``; ``config`` holds
only the searched values.
"""
from __future__ import annotations

import copy
import time

__all__ = ["qlora_trial", "merge_trial_config", "scaling_for"]


def merge_trial_config(base: dict, searched: dict) -> dict:
    """The campaign config with this trial's searched values laid over it."""
    merged = copy.deepcopy(base)
    for section, values in searched.items():
        merged[section].update(values)
    return merged


def scaling_for(resources: dict):
    """``ScalingConfig`` for one trial's workers."""
    from ray.train import ScalingConfig

    per_worker = {"CPU": resources["cpus_per_worker"]}
    if resources["gpus_per_worker"] > 0:
        per_worker["GPU"] = resources["gpus_per_worker"]
    return ScalingConfig(num_workers=resources["num_workers"], use_gpu=resources["gpus_per_worker"] > 0,
                         resources_per_worker=per_worker)


def qlora_trial(config: dict, static: dict) -> None:
    """Run one QLoRA trial through Ray Train and report its epochs to Tune."""
    import ray.train
    import ray.tune
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from trainables.worker import train_loop_per_worker

    t0 = time.time()
    cfg = merge_trial_config(static["config"], config)
    trial_id = ray.tune.get_context().get_trial_id()
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"cfg": cfg, "data_ref": static["data_ref"], "model_path": static["model_path"],
                           "model_files_ref": static.get("model_files_ref"), "t0": t0},
        scaling_config=scaling_for(cfg["resources"]),
        run_config=ray.train.RunConfig(
            # Checkpoints live in the cycle folder (<cycle>/train/<trial_id>), not in Ray's session temp dir.
            name=trial_id, storage_path=static["train_storage"], callbacks=[TuneReportCallback()],
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            failure_config=ray.train.FailureConfig(max_failures=0),  # retries belong to Tune's FailureConfig
        ),
    )
    trainer.fit()
