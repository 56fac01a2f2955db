"""The preflight's decisions: which setting is the largest in memory, and whether its short run passed.

Pure: plain records in, plain records out (no Ray, no torch). ``trainables.preflight.preflight_run``
measures the run in a Ray task; ``campaign.engine.preflight`` wires both into the campaign.

What "memory" means in a result (``memory_measure`` says it in words):

- on CUDA, ``peak_memory_mb`` is ``torch.cuda.max_memory_allocated`` over the run and
  ``device_memory_mb`` the device's ``total_memory`` (a MIG slice's own memory);
- on CPU, ``peak_memory_mb`` is the worker process's peak resident set (``resource.getrusage``
  ``ru_maxrss``) and ``device_memory_mb`` the machine's RAM (``os.sysconf``), or its cgroup's
  limit where that is lower. CPU trials at once on one machine share that RAM, so the driver
  sets ``memory_shared_by`` and each worker's budget is the RAM divided by them.
"""
from __future__ import annotations

import math

__all__ = ["MEMORY_KEYS", "largest_setting", "judge", "fmt_mb", "pct"]

# Integer keys whose larger values cost more memory; each is set to the largest value the space allows.
MEMORY_KEYS = ("train.batch_size", "model.max_seq_len", "lora.r")
# Categorical keys, their values from the most memory to the least (used only when searched).
CATEGORICAL_KEYS = {"train.gradient_checkpointing": [False, True], "model.quantization": ["none", "int8", "nf4"]}


def _own(config: dict, key: str):
    section, name = key.split(".", 1)
    return config[section][name]


def _top(spec: dict) -> int:
    """The largest integer a distribution spec can give an integer key."""
    kind = spec["type"]
    if kind == "choice":
        return int(max(spec["values"]))
    if kind == "quniform":  # Optuna's stepped float: low + k*q <= high
        low, q = spec["low"], spec["q"]
        return int(math.floor(low + math.floor((spec["high"] - low) / q + 1e-9) * q + 1e-9))
    return int(math.floor(spec["high"] + 1e-9))  # randint (high inclusive), uniform, loguniform


def largest_setting(config: dict, space: dict) -> dict:
    """The setting a preflight runs: for each memory key, the largest value ``space`` allows, else the config's.

    ``config`` is the campaign config as a nested dict (``CampaignConfig.to_dict()``), ``space``
    the cycle-1 search space (dotted key -> spec). Cycles >= 2 search narrowed ranges inside it and
    data ratios (rows, not sequence shapes), so cycle 1's largest setting bounds every trial.
    """
    overrides, why = {}, []
    for key in MEMORY_KEYS:
        own, spec = _own(config, key), space.get(key)
        if spec is None:
            overrides[key] = own
            why.append(f"{key} = {own} (not searched: the config's value)")
            continue
        overrides[key] = max(_top(spec), own) if spec["type"] != "choice" else _top(spec)
        where = f"max of {spec['values']}" if spec["type"] == "choice" else f"top of {spec['type']} [{spec['low']}, {spec['high']}]"
        why.append(f"{key} = {overrides[key]} (searched: {where})")
    for key, order in CATEGORICAL_KEYS.items():
        spec = space.get(key)
        if spec is None or spec["type"] != "choice":
            continue  # not searched: the config's own value applies, as in every trial
        value = next((v for v in order if v in spec["values"]), _own(config, key))
        overrides[key] = value
        why.append(f"{key} = {value} (searched: the most memory of {spec['values']})")
    return {"overrides": overrides, "why": why}


def fmt_mb(mb: float) -> str:
    """``812 MiB`` or ``21.3 GiB``."""
    return f"{mb:.0f} MiB" if mb < 1024 else f"{mb / 1024:.1f} GiB"


def pct(share: float) -> str:
    """``90%``, ``92.5%``, ``0.01%``."""
    return f"{share * 100:.3g}%"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _loss_trend(losses: list[float]) -> tuple[str | None, dict]:
    """A warning when the mean loss of the last quarter of steps is not below the first quarter's."""
    n = len(losses)
    if n < 2:
        return f"{n} step: too few to tell whether the loss falls", {}
    q = max(1, n // 4)
    first, last = _mean(losses[:q]), _mean(losses[-q:])
    trend = {"first_quarter_mean": first, "last_quarter_mean": last, "quarter_steps": q}
    if last < first:
        return None, trend
    return (f"loss did not fall: mean of the last {q} step(s) {last:.4g} >= mean of the first {q} {first:.4g} "
            "(check train.lr and the data)"), trend


def judge(result: dict, memory_fraction: float) -> dict:
    """Pass or fail a preflight run.

    ``result`` is what ``trainables.preflight.preflight_run`` returns (``losses`` per optimizer
    step, ``peak_memory_mb``, ``device_memory_mb``, ``tokens_per_s``; ``error`` when the run
    stopped on an exception, ``oom`` when that was out of memory), plus ``memory_shared_by``
    (workers sharing the device's memory, default 1). Fails when the peak is above
    ``memory_fraction`` of the worker's share, on any non-finite loss, or when the run stopped;
    warns (does not fail) when the loss did not fall.
    """
    failures, warnings = [], []
    shared = max(1, int(result.get("memory_shared_by") or 1))
    device = result.get("device_memory_mb")
    budget = device / shared if device else None
    peak = result.get("peak_memory_mb")
    share = "" if shared == 1 else f"; {fmt_mb(device)} shared by {shared} workers at once"
    at = f" at step {result['error_step']}" if result.get("error_step") else ""
    if result.get("oom"):
        failures.append(f"would not fit: out of memory{at} ({result['oom']})")
    elif result.get("error"):
        failures.append(f"the preflight run failed{at}: {result['error']}")
    if peak is not None and budget:
        if peak > memory_fraction * budget:
            failures.append(f"would not fit: peak {fmt_mb(peak)} of {fmt_mb(budget)} (limit {pct(memory_fraction)}{share})")
    elif not result.get("oom"):
        warnings.append("peak memory not measured")
    losses = [float("nan") if v is None else float(v) for v in result.get("losses") or []]
    bad = next((i for i, v in enumerate(losses, 1) if not math.isfinite(v)), None)
    if bad is not None:
        failures.append(f"loss is {'NaN' if math.isnan(losses[bad - 1]) else 'inf'} at step {bad}")
    trend = {}
    if bad is None and losses:
        warning, trend = _loss_trend(losses)
        if warning:
            warnings.append(warning)
    passed = not failures
    parts = []
    if peak is not None and budget:
        parts.append(f"peak {fmt_mb(peak)} of {fmt_mb(budget)} = {peak / budget:.0%} (limit {pct(memory_fraction)}{share})")
    if losses:
        parts.append(f"loss {losses[0]:.4g} → {losses[-1]:.4g} over {len(losses)} step(s)")
    parts.append("NaN at step %d" % bad if bad is not None else "no NaN")
    if result.get("tokens_per_s"):
        parts.append(f"{result['tokens_per_s']:,.0f} tokens/s")
    verdict = "passed" if passed else "FAILED: " + "; ".join(failures)
    return {"passed": passed, "failures": failures, "warnings": warnings, "loss_trend": trend,
            "summary": f"{verdict} · {', '.join(parts)}"}
