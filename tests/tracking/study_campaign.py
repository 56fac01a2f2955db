"""A campaign folder as a run leaves it (campaign.json, optuna.db with two cycles' studies), built by hand."""
from __future__ import annotations

import hashlib
from pathlib import Path

from campaign.config import load_config
from campaign.decide.state import new_state, save_state
from campaign.tracking.optuna_study import open_storage

__all__ = ["TRIALS", "make_campaign", "tree"]

CONFIG = Path(__file__).resolve().parents[2] / "search_spaces" / "balanced_6run.yaml"
TRIALS = {"demo-cycle1": 3, "demo-cycle2": 2}


def make_campaign(root: Path, with_study: bool = True) -> Path:
    """A campaign folder as a run leaves it: campaign.json and (with_study) optuna.db with two cycles' studies."""
    import optuna

    cfg = load_config(CONFIG, {"name": "demo", "results_dir": str(root)})
    folder = cfg.results_path()
    folder.mkdir(parents=True)
    save_state(folder, new_state(cfg))
    if not with_study:
        return folder
    storage = open_storage(folder / "optuna.db", create=True)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" lines in -s output
    lr = optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)
    for name, n in TRIALS.items():
        cycle = int(name[-1])
        study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
        study.set_user_attr("cycle", cycle)
        for k in range(n):
            tid = f"{cycle}a{k}b"
            study.add_trial(optuna.trial.create_trial(
                params={"lr": 1e-4 * (k + 1)}, distributions={"lr": lr}, value=10.0 - k,
                user_attrs={"trial_id": tid, "trial_name": f"cycle{cycle}-trial{k + 1}-{tid}", "cycle": cycle}))
    optuna.logging.set_verbosity(verbosity)
    storage.remove_session()
    storage.engine.dispose()  # no connection of this process left open on the file
    return folder


def tree(root: Path) -> dict:
    """Every path under root with its size, mtime and content hash: what 'nothing written' is checked against."""
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns,
                                       None if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*"))}
