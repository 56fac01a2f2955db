"""``campaign study-loop``: the 2-cycle campaign over K seeds, to measure whether the data loop helps.

Seed k sets ``train.seed`` and ``search.seed`` (init, data order, dropout, Optuna); the data, its
generator seeds and the frozen eval set stay the same, so every seed is scored on the same rows.
Each seed is an ordinary campaign (``<name>-seed<k>``), kept for its report and decision logs.
"""
from __future__ import annotations

import json
from pathlib import Path

from campaign.config import load_config
from campaign.core.errors import ConfigError
from campaign.core.progress import console
from campaign.reporting.study import seed_record, study_markdown, summarize

__all__ = ["study_loop"]


def study_loop(config_path: str | None, overrides: dict, seeds: int, command: str, verbose: bool = False) -> dict:
    """Run the campaign once per seed (0..seeds-1), then write ``<results>/<name>-study.{json,md}``."""
    from campaign.engine.driver import run_campaign

    if seeds < 1:
        raise ConfigError(f"--seeds: must be >= 1 (got {seeds})")
    base = load_config(config_path, overrides)
    if base.cycles.count < 2:
        raise ConfigError(f"cycles.count: the loop study needs at least 2 cycles (got {base.cycles.count})")
    records = []
    for seed in range(seeds):
        cfg = load_config(config_path, {**overrides, "name": f"{base.name}-seed{seed}",
                                        "train": {**overrides.get("train", {}), "seed": seed},
                                        "search": {**overrides.get("search", {}), "seed": seed}})
        console.rule(f"[bold]study-loop: seed {seed} of {seeds} ({cfg.name})")
        run_campaign(cfg, overwrite=True, verbose=verbose)
        records.append(seed_record(seed, cfg.results_path()))
    summary = summarize(records)
    out = Path(base.results_dir) / f"{base.name}-study"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"command": command, "seeds": records, "summary": summary},
                                                   indent=1, default=float))
    text = study_markdown(records, summary, command)
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    console.print(text, markup=False)
    console.print(f"study: {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return {"seeds": records, "summary": summary}
