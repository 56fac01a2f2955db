"""The Tune function trainable: one trial = one Ray Train ``TorchTrainer`` run.

Ray Train V2 cannot be passed to ``Tuner`` directly, so this plain function of
``config`` builds the trainer and forwards every worker report to Tune through
``TuneReportCallback``. Static inputs (the resolved campaign config, the data
ref, the model path) arrive through ``tune.with_parameters``; ``config`` holds
only the searched values.

Resume: a trial that Tune restarts after a driver crash either finds its
finished Train run (a checkpoint marked final) and re-reports that result, or
runs its Train run again in the same folder, where the worker resumes from its
newest full-state checkpoint (``<trial>/state/``), so at most one checkpoint
interval is trained twice. Every start, training, re-report, checkpoint and
resume is appended to ``<cycle>/train/attempts/<trial_id>.jsonl``.
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

from trainables.markers import FINAL_MARKER

__all__ = ["qlora_trial", "merge_trial_config", "scaling_for", "trial_name", "final_checkpoint", "FINAL_MARKER",
           "lean_trainer_class"]



def merge_trial_config(base: dict, searched: dict) -> dict:
    """The campaign config with this trial's searched values laid over it."""
    merged = copy.deepcopy(base)
    for section, values in searched.items():
        merged[section].update(values)
    return merged


def scaling_for(resources: dict):
    """``ScalingConfig`` for one trial's workers, from the resources profile's plan."""
    from ray.train import ScalingConfig

    from campaign.config.profiles import scaling_plan

    plan = scaling_plan(resources["profile"], num_workers=resources["num_workers"],
                        cpus_per_worker=resources["cpus_per_worker"], gpus_per_worker=resources["gpus_per_worker"],
                        custom_resource=resources["custom_resource"])
    return ScalingConfig(num_workers=plan["num_workers"], use_gpu=plan["use_gpu"],
                         resources_per_worker=plan["resources_per_worker"])


def trial_name(trial, cycle: int) -> str:
    """Tune's trial name, hence the W&B run name: ``cycle{n}-trial{k}-{trial_id}`` (k counts from 1 per cycle)."""
    counter = str(trial.experiment_tag).split("_", 1)[0]
    return f"cycle{cycle}-trial{counter or '?'}-{trial.trial_id}"


def final_checkpoint(run_dir: Path) -> Path | None:
    """The complete final checkpoint of a finished Train run, if there is one."""
    for ckpt in sorted(Path(run_dir).glob("checkpoint_*"), reverse=True):
        if (ckpt / FINAL_MARKER).exists() and (ckpt / "metrics.json").exists() and (ckpt / "adapter").is_dir():
            return ckpt
    return None


def _attempts_path(static: dict, trial_id: str) -> Path:
    folder = Path(static["train_storage"]) / "attempts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{trial_id}.jsonl"


def _log_attempt(static: dict, trial_id: str, event: str) -> None:
    with _attempts_path(static, trial_id).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"event": event, "time": time.time(), "pid": os.getpid()}) + "\n")


def qlora_trial(config: dict, static: dict) -> None:
    """Run one QLoRA trial through Ray Train and report its epochs to Tune."""
    import ray.tune

    t0 = time.time()
    trial_id = ray.tune.get_context().get_trial_id()
    run_dir = Path(static["train_storage"]) / trial_id
    _log_attempt(static, trial_id, "start")
    done = final_checkpoint(run_dir)
    if done is not None:  # trained before a driver crash, but Tune never recorded it: report, don't retrain
        metrics = json.loads((done / "metrics.json").read_text())
        _log_attempt(static, trial_id, "rereport")
        ray.tune.report({**metrics, "checkpoint_path": str(done), "trial/rereported": 1})
        return
    # a half-finished run keeps its folder: the worker resumes from its newest full-state checkpoint
    _train(merge_trial_config(static["config"], config), static, trial_id, t0)
    _log_attempt(static, trial_id, "trained")


def lean_trainer_class(local_ray: bool):
    """``TorchTrainer`` without the per-run helper actors a trial here has no use for.

    Ray Train V2 (2.60) starts, for every run, a ``DatasetManager`` actor even when no Ray
    Dataset is passed (a process that imports Ray Data, and the worker unpickles a Ray Data
    context too), and a detached ``PlacementGroupCleaner`` that removes the run's placement
    group if its controller dies. Trials here pass no Ray Datasets, and a Ray instance the
    campaign starts itself ends with its driver, placement groups included. On 2 cores each
    of those process starts competes with the other trial's training, so both are left out
    where they do nothing: the Datasets callback always, the cleaner only on a local Ray.
    """
    from ray.train.torch import TorchTrainer
    from ray.train.v2._internal.callbacks import DatasetsCallback
    from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback

    unused = (DatasetsCallback, PlacementGroupCleanerCallback) if local_ray else (DatasetsCallback,)

    class LeanTorchTrainer(TorchTrainer):
        def _create_default_callbacks(self):
            callbacks = super()._create_default_callbacks()
            if self.datasets:
                return callbacks
            return [c for c in callbacks if not isinstance(c, unused)]

    return LeanTorchTrainer


def _train(cfg: dict, static: dict, trial_id: str, t0: float) -> None:
    import ray.train
    from ray.tune.integration.ray_train import TuneReportCallback

    from trainables.worker import train_loop_per_worker

    trainer = lean_trainer_class(static.get("local_ray", False))(
        train_loop_per_worker,
        train_loop_config={"cfg": cfg, "data_ref": static["data_ref"], "model_path": static["model_path"],
                           "model_files_ref": static.get("model_files_ref"), "t0": t0,
                           "state_dir": str(Path(static["train_storage"]) / trial_id / "state"),
                           "attempts_log": str(_attempts_path(static, trial_id)),
                           "trace": {"campaign": cfg["name"], "cycle": static.get("cycle"), "trial": trial_id}},
        scaling_config=scaling_for(cfg["resources"]),
        run_config=ray.train.RunConfig(
            # Checkpoints live in the cycle folder (<cycle>/train/<trial_id>), not in Ray's session temp dir.
            name=trial_id, storage_path=static["train_storage"], callbacks=[TuneReportCallback()],
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            # a failed worker group restarts here, from the newest full-state checkpoint
            failure_config=ray.train.FailureConfig(max_failures=cfg["train"]["max_worker_restarts"]),
        ),
    )
    trainer.fit()
