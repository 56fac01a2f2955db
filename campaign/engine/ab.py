"""``campaign ab A B``: two models on the frozen eval set, compared row by row (``campaign.reporting.ab``).

A model is named by one word or one folder:

- ``base``: the config's base model, not fine-tuned;
- an adapter folder (it holds ``adapter_config.json``), e.g. a checkpoint's ``adapter/``;
- a folder holding ``adapter/``: a trial's checkpoint, a cycle's ``best_adapter``, a campaign's ``promoted``;
- a campaign folder: its promoted model (``<campaign>/promoted``).

Both are scored here, in this process, with the trials' own prompt and generation settings, so the
latencies compare like with like. The campaign driver writes the same comparison of its promoted
model against the base model from the outputs it already holds (:func:`promoted_vs_base`).
"""
from __future__ import annotations

import json
from pathlib import Path

from campaign.core.errors import ConfigError
from campaign.core.progress import console, step
from campaign.decide.state import AB_FOLDER

__all__ = ["resolve_model", "run_ab", "promoted_vs_base"]


def resolve_model(spec: str, which: str) -> dict:
    """``{"name", "label", "adapter"}`` for ``base`` or a folder; an unusable folder names what was looked for."""
    if spec == "base":
        return {"name": "base", "label": "the base model, not fine-tuned", "adapter": None}
    folder = Path(spec)
    if not folder.exists():
        raise ConfigError(f"{which}: {spec!r} is neither 'base' nor an existing folder")
    for adapter in (folder, folder / "adapter", folder / "promoted" / "adapter"):
        if (adapter / "adapter_config.json").is_file():
            return {"name": _name(folder), "label": _label(folder, adapter), "adapter": adapter}
    raise ConfigError(f"{which}: {spec} holds no adapter: looked for adapter_config.json in it, in {folder / 'adapter'} "
                      f"and in {folder / 'promoted' / 'adapter'} (a campaign's promoted model)")


def _name(folder: Path) -> str:
    parts = folder.resolve().parts
    return "/".join(parts[-2:]) if parts[-1] in ("adapter", "promoted", "best_adapter") else parts[-1]


def _label(folder: Path, adapter: Path) -> str:
    for lineage in (adapter.parent / "lineage.json", folder / "lineage.json"):
        if lineage.is_file():
            rec = json.loads(lineage.read_text())
            return f"adapter {adapter} (cycle {rec.get('cycle', '?')}, trial {rec.get('trial', '?')})"
    return f"adapter {adapter}"


def _score(cfg, model: dict, rows: list[dict]) -> dict:
    """The model's outputs and per-row latency on ``rows``, in this process."""
    from campaign.decide.precision import resolve_compute_dtype
    from campaign.engine.runner import resolve_model_path
    from trainables.baseline_task import evaluate_model
    from trainables.probe import probe_device

    config = cfg.to_dict()
    dtype = resolve_compute_dtype(cfg.model.compute_dtype, probe_device(cfg.resources.gpus_per_worker > 0))
    config["model"] = {**config["model"], "compute_dtype": dtype["dtype"], "prompt_template": cfg.prompt()[0]}
    _, details = evaluate_model(config, resolve_model_path(cfg), rows, str(model["adapter"]) if model["adapter"] else None)
    return {"name": model["name"], "label": model["label"],
            "outputs": {o["id"]: o["output"] for o in details["outputs"]},
            "latency_ms": {o["id"]: o["latency_ms"] for o in details["outputs"]}}


def run_ab(cfg, spec_a: str, spec_b: str, out: Path | None, *, confidence: float, resamples: int,
           seed: int) -> tuple[dict, Path, Path]:
    """Score A and B on the config's frozen eval set, compare them, write ``ab.json`` and ``ab.html``."""
    from campaign.data.prepare import prepare_data
    from campaign.reporting.ab import compare_models, write_ab

    a, b = resolve_model(spec_a, "A"), resolve_model(spec_b, "B")
    task = cfg.task.instance()
    with step("frozen eval set"):
        _, rows = prepare_data(cfg.data, task)
    scored = []
    for model in (a, b):
        with step(f"scoring {model['name']} on {len(rows)} eval rows"):
            scored.append(_score(cfg, model, rows))
    record = compare_models(task, rows, scored[0], scored[1], confidence=confidence, resamples=resamples, seed=seed)
    out = out or cfg.results_path() / "ab" / f"{_slug(a['name'])}_vs_{_slug(b['name'])}"
    json_path, html_path = write_ab(record, out)
    console.print(f"  {record['verdict']}", markup=False)
    return record, json_path, html_path


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_") or "model"


def promoted_vs_base(campaign: Path, task, eval_rows: list[dict], baselines: list[dict], *, confidence: float,
                     resamples: int, seed: int) -> Path | None:
    """``<campaign>/ab_promoted_vs_base/ab.html`` from recorded outputs (None when either side's are missing)."""
    from campaign.reporting.ab import compare_models, write_ab

    details_path = Path(campaign) / "promoted" / "details.json"
    base = next((b for b in baselines if b["mode"] == "prompt_baseline"), None)
    if not details_path.exists() or base is None or not base.get("latency_ms"):
        return None
    recorded = (json.loads(details_path.read_text()).get("eval") or {}).get("outputs") or []
    if not recorded or "latency_ms" not in recorded[0]:
        return None
    lineage = json.loads((Path(campaign) / "promoted" / "lineage.json").read_text())
    promoted = {"name": "promoted", "label": f"the promoted model (cycle {lineage['cycle']}, trial {lineage['trial']})",
                "outputs": {o["id"]: o["output"] for o in recorded},
                "latency_ms": {o["id"]: o["latency_ms"] for o in recorded}}
    original = {"name": "base", "label": "the base model, not fine-tuned (prompt_baseline)",
                "outputs": base["outputs"], "latency_ms": base["latency_ms"]}
    record = compare_models(task, eval_rows, original, promoted, confidence=confidence, resamples=resamples, seed=seed)
    return write_ab(record, Path(campaign) / AB_FOLDER)[1]
