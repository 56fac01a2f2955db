"""Each cycle's Optuna study, kept in the campaign folder: ``results/<campaign>/optuna.db``.

One SQLite file through Optuna's own ``RDBStorage``, one study per cycle (``<campaign>-cycle<n>``).
Why SQLite rather than Optuna's journal file: ``optuna-dashboard``, the report and any ``sqlite3``
shell open the one file, and SQLite's own checks tell the two failures a user must hear about
apart: a file another process holds locked, and a file that is not (or no longer) a database.
Neither is ever replaced or repaired here; the error names the file and leaves it as it is.

Each trial the search asks for carries user attributes: ``trial_id`` and ``trial_name`` (Tune's
id and name, which are also the W&B run id and name), ``cycle``, ``data_version`` and the trial's
key metrics. Trials carried over from the previous cycle are ``carried_from`` that trial.

Nothing here imports Ray; the Ray side is ``campaign.engine.optuna_search``.
"""
from __future__ import annotations

import math
import sqlite3
import warnings
from pathlib import Path

from campaign.core.errors import StudyStorageError

__all__ = ["STUDY_FILE", "StudyStorageError", "study_path", "study_name", "check_storage", "open_storage",
           "delete_study_if_present", "snapshot_bytes", "restore_snapshot", "study_records", "param_importances",
           "verify_study", "key_metric_attrs"]

STUDY_FILE = "optuna.db"
LOCK_WAIT_S = 2.0  # how long a check waits for another process's lock before naming it
WRITE_WAIT_S = 30.0  # the driver's own writes wait this long behind a reader (the dashboard polls)


def study_path(folder) -> Path:
    """The campaign's study storage file."""
    return Path(folder) / STUDY_FILE


def study_name(campaign: str, cycle: int) -> str:
    """The study of one cycle, as the dashboard lists it."""
    return f"{campaign}-cycle{cycle}"


def _describe(path: Path, err: Exception) -> StudyStorageError:
    text = str(err)
    if "locked" in text or "busy" in text:
        return StudyStorageError(
            f"{path}: the Optuna study file is locked by another process ({text}, waited {LOCK_WAIT_S:.0f} s). "
            "Stop the other writer (another `campaign run`/`resume` of this campaign, or a sqlite3 shell with an "
            "open transaction), then run the command again. The file was not changed.")
    return StudyStorageError(
        f"{path}: the Optuna study file is damaged or not an SQLite database ({text}). It was left as it is: "
        "move it aside (the campaign's results and Tune's own state do not depend on it), or restore it from a "
        "copy, then run the command again.")


def check_storage(path, *, write: bool = False) -> None:
    """Raise StudyStorageError naming ``path`` when it is damaged, not Optuna's, or (``write``) locked.

    Opens the file read-only for the checks; ``write`` takes and drops SQLite's write lock
    (``BEGIN IMMEDIATE``, nothing written) to find out whether another process holds it.
    """
    path = Path(path)
    if not path.is_file():
        raise StudyStorageError(f"{path}: no Optuna study file")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
        try:
            verdict = con.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict}")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
        if not {"studies", "trials"} <= tables:
            raise sqlite3.DatabaseError("no Optuna tables (studies, trials) in it")
        if write:
            con = sqlite3.connect(path, timeout=LOCK_WAIT_S, isolation_level=None)
            try:
                con.execute("BEGIN IMMEDIATE")
                con.execute("ROLLBACK")
            finally:
                con.close()
    except sqlite3.DatabaseError as err:  # OperationalError ('database is locked') is one too
        raise _describe(path, err) from None


def open_storage(path, *, create: bool = False, read_only: bool = False):
    """Optuna's RDBStorage on ``path`` (``create``: make the file and tables; ``read_only``: never write)."""
    import optuna

    path = Path(path).resolve()
    if not create:
        check_storage(path)
    url = f"sqlite:///file:{path}?mode=ro&uri=true" if read_only else f"sqlite:///{path}"
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": WRITE_WAIT_S}},
                                      skip_table_creation=not create)


def delete_study_if_present(storage, name: str) -> int:
    """Delete study ``name`` (a search Tune never saved, started again); return how many trials it had."""
    import optuna

    try:
        trials = len(storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False))
    except KeyError:
        return 0
    optuna.delete_study(study_name=name, storage=storage)
    return trials


def snapshot_bytes(path) -> bytes:
    """The whole study file as bytes, read in one consistent transaction (SQLite's serialize)."""
    con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=WRITE_WAIT_S)
    try:
        return con.serialize()
    finally:
        con.close()


def restore_snapshot(path, data: bytes) -> None:
    """Put a snapshot back into the study file through SQLite's backup API (which takes the file's locks)."""
    snap = sqlite3.connect(":memory:")
    dest = sqlite3.connect(Path(path), timeout=WRITE_WAIT_S)
    try:
        snap.deserialize(data)
        snap.backup(dest)
    except sqlite3.DatabaseError as err:
        raise _describe(Path(path), err) from None
    finally:
        snap.close()
        dest.close()


def key_metric_attrs(result: dict, keys) -> dict:
    """The finite numbers among ``result[key]`` for ``keys``, as user attributes (``/`` kept in the names)."""
    out = {}
    for key in keys:
        value = result.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


def _distribution(d) -> dict:
    """An Optuna distribution as plain data: ``{"type": "float", "low", "high", "log"}`` or ``{"type": "categorical", "choices"}``."""
    if hasattr(d, "choices"):
        return {"type": "categorical", "choices": list(d.choices)}
    kind = "int" if type(d).__name__.startswith("Int") else "float"
    return {"type": kind, "low": d.low, "high": d.high, "log": bool(getattr(d, "log", False))}


def _trial_record(t) -> dict:
    return {"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params),
            "distributions": {k: _distribution(d) for k, d in t.distributions.items()},
            "user_attrs": dict(t.user_attrs),
            "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None}


def study_records(path) -> list[dict]:
    """Every stored study as a plain record (read-only): name, direction, study attributes, trials."""
    storage = open_storage(path, read_only=True)
    out = []
    for summary in storage.get_all_studies():
        trials = storage.get_all_trials(storage.get_study_id_from_name(summary.study_name), deepcopy=False)
        out.append({"name": summary.study_name, "direction": summary.directions[0].name.lower(),
                    "user_attrs": dict(summary.user_attrs), "trials": [_trial_record(t) for t in trials]})
    storage.remove_session()
    return out


def param_importances(path, name: str) -> dict:
    """Optuna's parameter importances (its default evaluator, PED-ANOVA) over the cycle's own finished trials.

    Trials carried from the previous cycle are left out: their values were measured on other data.
    Returns ``{"importances": {param: share}, "evaluator": ..., "trials": n}`` or ``{"error": why}``.
    """
    import optuna

    storage = open_storage(path, read_only=True)
    quiet = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the scratch study would log "A new study created"
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        own = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
               if "trial_id" in t.user_attrs]
        if len(own) < 2:
            return {"error": f"{len(own)} finished trial(s) of this cycle; importances need at least 2"}
        scratch = optuna.create_study(direction=study.direction)
        scratch.add_trials(own)
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()  # Optuna 5's default, named for the record
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = optuna.importance.get_param_importances(scratch, evaluator=evaluator)
        equal = [str(w.message) for w in caught if "will be equal" in str(w.message)]
        if equal:  # e.g. tied values: the evaluator's shares would be uniform, which says nothing
            return {"error": f"{type(evaluator).__name__} over {len(own)} trials cannot tell the parameters "
                             f"apart: {equal[0]}"}
        return {"importances": {k: float(v) for k, v in values.items()}, "evaluator": type(evaluator).__name__,
                "trials": len(own)}
    except (ValueError, RuntimeError, ZeroDivisionError) as err:  # e.g. every trial with the same value
        return {"error": f"{type(err).__name__}: {err}"}
    finally:
        optuna.logging.set_verbosity(quiet)
        storage.remove_session()


def verify_study(path, name: str, tune_trial_ids) -> dict:
    """Tune's trials against the stored study: each exactly once, none left open; a plain summary."""
    records = {r["name"]: r for r in study_records(path)}
    trials = records.get(name, {}).get("trials", [])
    ids = [t["user_attrs"].get("trial_id") for t in trials if "trial_id" in t["user_attrs"]]
    wanted = set(tune_trial_ids)
    return {"trials": len(ids), "carried": sum("carried_from" in t["user_attrs"] for t in trials),
            "missing": sorted(wanted - set(ids)), "extra": sorted(set(ids) - wanted),
            "duplicated": sorted({i for i in ids if ids.count(i) > 1}),
            "open": [t["number"] for t in trials if t["state"] in ("RUNNING", "WAITING")]}
