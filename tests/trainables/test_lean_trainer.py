"""The trial's TorchTrainer leaves out Ray Train's per-run helper actors that do nothing here."""
from __future__ import annotations

import ray.train
from ray.train.v2._internal.callbacks import DatasetsCallback
from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback

from trainables.tune_fn import lean_trainer_class


def _callback_types(local_ray: bool, datasets=None) -> set[type]:
    trainer = lean_trainer_class(local_ray)(lambda: None, scaling_config=ray.train.ScalingConfig(num_workers=1),
                                            datasets=datasets)
    return {type(c) for c in trainer._create_default_callbacks()}


def test_a_local_run_without_datasets_starts_neither_the_dataset_manager_nor_the_cleaner():
    types = _callback_types(local_ray=True)
    assert DatasetsCallback not in types and PlacementGroupCleanerCallback not in types
    assert any("BackendSetup" in t.__name__ for t in types)  # the rest of Ray Train's defaults stay


def test_a_cluster_run_keeps_the_placement_group_cleaner():
    types = _callback_types(local_ray=False)
    assert PlacementGroupCleanerCallback in types and DatasetsCallback not in types


def test_a_run_with_ray_datasets_keeps_every_default():
    assert {DatasetsCallback, PlacementGroupCleanerCallback} <= _callback_types(local_ray=True,
                                                                                datasets={"train": [1, 2]})
