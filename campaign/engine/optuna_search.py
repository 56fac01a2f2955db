"""Ray Tune's ``OptunaSearch`` on the campaign's stored study (``campaign.tracking.optuna_study``).

Two additions to the library's searcher, both through its own hooks:

* **Trial attributes.** When Tune asks for a trial, its Optuna trial gets the Tune trial id, the
  cycle and the data version; while it runs, its name (the W&B run name too); when it ends, its key
  metrics. A trial can then be found by one id in Tune, Optuna's dashboard and W&B.
* **A study that rolls back with Tune.** Tune saves the searcher with its experiment state every
  few seconds, and a restore after ``kill -9`` starts from that save: trials asked after it are
  asked again under new ids. The in-memory study of plain ``OptunaSearch`` rolls back with the
  pickle; a stored one would keep those asks as stale RUNNING trials (duplicates of the re-asked
  ones). So each save carries a snapshot of the study file, and a restore puts it back first:
  the file then holds exactly the trials Tune's restored state knows, none twice, none lost.
"""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import optuna
from ray.tune.search.optuna import OptunaSearch

from campaign.tracking.optuna_study import key_metric_attrs, restore_snapshot, snapshot_bytes

__all__ = ["CampaignOptunaSearch", "TRIAL_ATTRS"]

TRIAL_ATTRS = ("cycle", "data_version")  # of the study's attributes, those every trial carries too


class CampaignOptunaSearch(OptunaSearch):
    """``OptunaSearch`` whose study lives in ``study_path``, with trial attributes and Tune-consistent restore."""

    def __init__(self, *args, study_path: str, attrs: dict, key_metrics: tuple[str, ...], trial_namer=None,
                 **kwargs):
        self._study_path = str(study_path)
        self._attrs = dict(attrs)  # on the study; cycle and data_version on every trial too
        self._key_metrics = tuple(key_metrics)
        self._trial_namer = trial_namer  # (trial-like, cycle) -> Tune's trial name
        self._named: set[str] = set()
        self._snapshot: bytes | None = None
        super().__init__(*args, **kwargs)
        for key, value in self._attrs.items():
            self._ot_study.set_user_attr(key, value)
        with warnings.catch_warnings():  # experimental in Optuna 5; the dashboard then says valid/objective
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._ot_study.set_metric_names([self._metric])

    def add_carried(self, parameters: dict, value: float, carried_from: str) -> None:
        """A previous cycle's trial told as known, marked as carried (it has no Tune trial in this cycle)."""
        trial = optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, value=value, params=parameters,
                                          distributions=self._space, user_attrs={"carried_from": carried_from})
        self._ot_study.add_trial(trial)

    def suggest(self, trial_id: str):
        params = super().suggest(trial_id)
        trial = self._ot_trials.get(trial_id)
        if params is not None and trial is not None and "trial_id" not in trial.user_attrs:
            trial.set_user_attr("trial_id", trial_id)
            for key in TRIAL_ATTRS:
                if key in self._attrs:
                    trial.set_user_attr(key, self._attrs[key])
        return params

    def _name(self, trial_id: str, result: dict | None) -> None:
        """Tune's trial name, from the result's experiment tag (the searcher never sees the Trial object)."""
        if trial_id in self._named or not result or "experiment_tag" not in result or not self._trial_namer:
            return
        like = SimpleNamespace(trial_id=trial_id, experiment_tag=result["experiment_tag"])
        self._ot_trials[trial_id].set_user_attr("trial_name", self._trial_namer(like, self._attrs.get("cycle")))
        self._named.add(trial_id)

    def on_trial_result(self, trial_id: str, result: dict):
        if trial_id in self._ot_trials and trial_id not in self._completed_trials:
            self._name(trial_id, result)
        super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if trial_id in self._ot_trials and trial_id not in self._completed_trials:
            # attributes before tell: Optuna refuses changes to a finished trial
            self._name(trial_id, result)
            for key, value in key_metric_attrs(result or {}, self._key_metrics).items():
                self._ot_trials[trial_id].set_user_attr(key, value)
        super().on_trial_complete(trial_id, result=result, error=error)

    def save(self, checkpoint_path: str):
        self._snapshot = snapshot_bytes(self._study_path)
        try:
            super().save(checkpoint_path)
        finally:
            self._snapshot = None

    def restore(self, checkpoint_path: str):
        super().restore(checkpoint_path)
        if self._snapshot is not None:
            restore_snapshot(self._study_path, self._snapshot)
            self._snapshot = None
