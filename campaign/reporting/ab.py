"""Compare two models' outputs on the same frozen eval rows: the pure part of ``campaign ab A B``.

``compare_models`` takes a task, the eval rows and each model's outputs (and latencies) and returns
one JSON-ready record; ``write_ab`` saves it as ``ab.json`` beside ``ab.html``
(:mod:`campaign.reporting.ab_html`). Only the Task interface is used (``score``, ``tables``,
``row_errors``, ``parse``, ``input_text``, ``target``, ``spec``, ``headline_metrics``,
``facet_metrics``, ``invalid_error``), so any task works: a classifier, a multiple-choice bank, the
flagship regression-like task.

- Headline metrics: B − A with a paired percentile bootstrap over rows: each resample draws row
  indices once and rescores both models on those rows (``bootstrap_difference``).
- Right/wrong: ``campaign.decide.paired.compare`` on the per-row errors (McNemar's exact test when
  every error is 0/1, Wilcoxon signed-rank otherwise); an invalid output counts
  ``task.invalid_error``, never dropped.
- Verdict: a model is called better only when the first headline metric's interval excludes 0 in
  its favour and the paired test agrees (p < 1 − confidence, fewer errors on that side).

Pure: no Ray, no torch, no model; NaN becomes None in the record.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Callable, Sequence

from campaign.core.numeric import percentile
from campaign.decide.paired import bootstrap_difference, compare
from campaign.reporting.ab_html import render_ab_html

__all__ = ["compare_models", "write_ab", "INVALID", "RECORD_KEYS"]

INVALID = "(invalid)"  # The prediction of an output the task cannot parse.
RECORD_KEYS = ("a", "b", "headline", "mcnemar", "facets", "disagreements", "settings", "verdict", "winner")
_ERROR_WORDS = ("error", "mae", "mse", "rmse", "loss")  # Facet metric names where lower is better.
_RULE = ("a model is called better only when the first headline metric's interval excludes 0 in its favour "
         "and the paired test on per-row errors agrees (p < 1 − confidence, fewer errors on that side)")


# -- plain values ------------------------------------------------------------------------------

def _plain(value):
    """JSON-ready: numpy scalars to Python, tuples to lists, NaN/inf to None, unknown objects to str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def _number(value) -> float:
    """A metric as a float; missing or not a number is NaN."""
    value = _plain(value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _prediction_key(prediction) -> str:
    return INVALID if prediction is None else json.dumps(_plain(prediction), sort_keys=True, ensure_ascii=False)


def _shown(prediction):
    """A prediction as the record shows it: text as is, a structure as plain JSON values."""
    return INVALID if prediction is None else _plain(prediction)


# -- inputs ------------------------------------------------------------------------------------

def _check_model(model: dict, side: str, ids: list) -> None:
    name = model.get("name") or side
    missing = [i for i in ids if i not in (model.get("outputs") or {})]
    if missing:
        raise ValueError(f"model {side} ({name}) has no output for {len(missing)} eval row(s): "
                         + ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else ""))
    latency = model.get("latency_ms") or {}
    missing = [i for i in ids if i not in latency] if latency else []
    if missing:
        raise ValueError(f"model {side} ({name}) has no latency for {len(missing)} eval row(s): "
                         + ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else ""))


def _scorer(task, rows: Sequence[dict], outputs: list[str]):
    """``score(index_array) -> metrics`` on those rows, memoised: every headline metric reuses one rescoring."""
    memo: dict[bytes, dict] = {}

    def score(idx) -> dict:
        key = hashlib.blake2b(bytes(memoryview(idx.astype("int64"))), digest_size=16).digest()
        if key not in memo:
            memo[key] = task.score([rows[i] for i in idx], [outputs[i] for i in idx])
        return memo[key]
    return score


def _direction(spec, name: str) -> str:
    """'max' or 'min' for a metric: the primary's own mode, an error-like name 'min', anything else 'max'."""
    if name == spec.primary:
        return spec.mode
    if name == spec.objective:
        return spec.objective_mode
    if spec.facet_error.replace("_{facet}", "").replace("{facet}", "") == name:
        return "min"
    return "min" if any(w in name.lower() for w in _ERROR_WORDS) else "max"


# -- sections of the record --------------------------------------------------------------------

def _headline(task, scores: tuple, n: int, confidence: float, resamples: int, seed: int, full: tuple) -> list[dict]:
    """Each headline metric: A, B, and B − A with its paired bootstrap interval; 'better' by the point value."""
    names = tuple(task.headline_metrics) or (task.spec.primary,)
    out = []
    for name in names:
        if name not in full[0] or name not in full[1]:
            raise ValueError(f"headline metric {name!r} is not among task {task.spec.kind!r}'s scores")
        a, b = _number(full[0][name]), _number(full[1][name])
        boot = bootstrap_difference(n, lambda idx, m=name: _number(scores[1](idx)[m]) - _number(scores[0](idx)[m]),
                                    confidence=confidence, resamples=resamples, seed=seed)
        mode = _direction(task.spec, name)
        sign = (1 if mode == "max" else -1) * (0.0 if math.isnan(boot["diff"]) else boot["diff"])
        lo, hi = boot["low"], boot["high"]
        significant = not (math.isnan(lo) or math.isnan(hi)) and (lo > 0 or hi < 0)
        out.append({"metric": name, "mode": mode, "a": a, "b": b, **boot, "significant": significant,
                    "better": "B" if sign > 0 else "A" if sign < 0 else "tie"})
    return out


def _row_table(task, rows: Sequence[dict], outputs: list[str]) -> list[dict]:
    """Per row: the error (invalid = task.invalid_error), the parsed prediction and why it is invalid."""
    table = []
    for row, output in zip(rows, outputs):
        err = task.row_errors(row, output)
        prediction, reason = task.parse(output)
        error = task.invalid_error if err.get("error") is None else float(err["error"])
        table.append({"error": error, "key": _prediction_key(prediction), "prediction": _shown(prediction),
                      "invalid_reason": reason or err.get("invalid_reason")})
    return table


def _mcnemar(errs_a: list[float], errs_b: list[float], confidence: float, resamples: int, seed: int) -> dict:
    cmp = compare(errs_a, errs_b, confidence=confidence, resamples=resamples, seed=seed)
    binary = all(e in (0, 1) for e in errs_a + errs_b)
    a_better = sum(1 for x, y in zip(errs_a, errs_b) if x < y)
    b_better = sum(1 for x, y in zip(errs_a, errs_b) if y < x)
    counts = {"both_right": None, "both_wrong": None, "only_a_right": None, "only_b_right": None}
    if binary:
        counts = {"both_right": sum(1 for x, y in zip(errs_a, errs_b) if x == 0 and y == 0),
                  "both_wrong": sum(1 for x, y in zip(errs_a, errs_b) if x == 1 and y == 1),
                  "only_a_right": a_better, "only_b_right": b_better}
    label = ("McNemar's exact test on right/wrong rows (two-sided binomial on the discordant rows)" if binary
             else "Wilcoxon signed-rank test on per-row errors (rows with equal errors dropped)")
    return {"test": cmp["test"], "label": label, "binary": binary, "p_value": cmp["p_value"], "n": cmp["n"],
            **counts, "discordant": a_better + b_better, "a_better": a_better, "b_better": b_better,
            "tied": len(errs_a) - a_better - b_better, "error_a": cmp["reference"], "error_b": cmp["candidate"],
            "diff": cmp["diff"], "low": cmp["low"], "high": cmp["high"], "confidence": cmp["confidence"]}


def _facet_names(task) -> tuple[list[str], Callable[[str, str], str]]:
    """The per-facet metric names and ``key(name, facet)``: the task's facet_metrics, else its facet error."""
    spec = task.spec
    if task.facet_metrics:
        return list(task.facet_metrics), lambda name, facet: f"{name}_{facet}"
    name = spec.facet_error.replace("_{facet}", "").replace("{facet}", "") or "error"
    return [name], lambda _name, facet: spec.facet_key(facet)


def _facet_values(task, metrics: dict) -> dict:
    names, key = _facet_names(task)
    return {f: {m: _number(metrics.get(key(m, f))) for m in names} for f in task.spec.facets}


def _facets(task, per_a: dict, per_b: dict) -> dict:
    names, _ = _facet_names(task)
    rows = [{"facet": f, "a": per_a[f], "b": per_b[f], "delta": {m: per_b[f][m] - per_a[f][m] for m in names}}
            for f in task.spec.facets]
    return {"kind": task.spec.facet_kind, "word": task.spec.facets_word, "metrics": names,
            "directions": {m: _direction(task.spec, m) for m in names}, "rows": rows}


def _right(ea: float, eb: float, binary: bool) -> str:
    """Which side is right on a row: 'A', 'B', 'both', 'neither' (binary errors); else the lower error or 'tie'."""
    if binary:
        return {(True, True): "both", (True, False): "A", (False, True): "B"}.get((ea == 0, eb == 0), "neither")
    return "A" if ea < eb else "B" if eb < ea else "tie"


def _disagreements(task, rows: Sequence[dict], ta: list[dict], tb: list[dict], binary: bool) -> list[dict]:
    out = []
    for row, ra, rb in zip(rows, ta, tb):
        if ra["key"] == rb["key"]:
            continue
        out.append({"id": row["id"], "text": task.input_text(row), "gold": task.target(row),
                    "prediction_a": ra["prediction"], "prediction_b": rb["prediction"],
                    "error_a": ra["error"], "error_b": rb["error"], "right": _right(ra["error"], rb["error"], binary),
                    "invalid_reason_a": ra["invalid_reason"], "invalid_reason_b": rb["invalid_reason"]})
    return out


def _latency(model: dict, ids: list) -> dict:
    latency = model.get("latency_ms") or {}
    values = [float(latency[i]) for i in ids if i in latency and latency[i] is not None]
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}


def _side(model: dict, metrics: dict, facets: dict, tables: dict, ids: list) -> dict:
    return {"name": model.get("name"), "label": model.get("label"), "metrics": dict(metrics),
            "latency_ms": _latency(model, ids), "facets": facets, "tables": tables}


# -- the verdict -------------------------------------------------------------------------------

def _signed(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{'−' if value < 0 else '+'}{abs(value):.{digits}f}"


def _p_text(p) -> str:
    return "p = —" if p is None or math.isnan(p) else "p < 0.0001" if p < 1e-4 else f"p = {p:.3g}"


def _verdict(record: dict, confidence: float) -> tuple[str, str | None]:
    """One sentence, and the winner ('A', 'B' or None), by the rule in ``_RULE``."""
    lead, test = record["headline"][0], record["mcnemar"]
    a, b = record["a"]["name"] or "A", record["b"]["name"] or "B"
    ci_side = None
    if lead["significant"]:
        ci_side = "B" if (lead["low"] > 0) == (lead["mode"] == "max") else "A"
    alpha = 1 - confidence
    test_side = None
    if test["p_value"] is not None and test["p_value"] < alpha and test["diff"]:
        test_side = "B" if test["diff"] < 0 else "A"
    ci = f"{confidence * 100:g}% CI [{_signed(lead['low'])}, {_signed(lead['high'])}]"
    rows = f"{test['discordant']} " + ("discordant rows" if test["binary"] else "rows with unequal errors")
    evidence = f"B − A = {_signed(lead['diff'])} ({ci}); {test['test']} {_p_text(test['p_value'])} on {rows}"
    if ci_side and ci_side == test_side:
        better, worse = (f"B ({b})", f"A ({a})") if ci_side == "B" else (f"A ({a})", f"B ({b})")
        return f"{better} is better than {worse} on {lead['metric']}: {evidence}.", ci_side
    if not ci_side and not test_side:
        return f"No significant difference between A ({a}) and B ({b}) on {lead['metric']}: {evidence}.", None
    return (f"Mixed evidence between A ({a}) and B ({b}) on {lead['metric']}: {evidence} "
            f"(threshold p < {alpha:.3g}).", None)


# -- public API --------------------------------------------------------------------------------

def compare_models(task, rows: Sequence[dict], a: dict, b: dict, *, confidence: float = 0.95, resamples: int = 2000,
                   seed: int = 0) -> dict:
    """Compare model ``b`` to model ``a`` on ``rows`` (each ``{"name", "label", "outputs", "latency_ms"}``).

    Returns the JSON-ready record (keys ``RECORD_KEYS``); raises ValueError naming any row id a model
    has no output for.
    """
    import numpy as np

    rows = list(rows)
    if not rows:
        raise ValueError("A/B comparison of no rows")
    ids = [r["id"] for r in rows]
    _check_model(a, "A", ids)
    _check_model(b, "B", ids)
    outs = ([str(a["outputs"][i]) for i in ids], [str(b["outputs"][i]) for i in ids])
    scores = (_scorer(task, rows, outs[0]), _scorer(task, rows, outs[1]))
    full = (scores[0](np.arange(len(rows))), scores[1](np.arange(len(rows))))
    ta, tb = _row_table(task, rows, outs[0]), _row_table(task, rows, outs[1])
    mcnemar = _mcnemar([r["error"] for r in ta], [r["error"] for r in tb], confidence, resamples, seed)
    per_a, per_b = _facet_values(task, full[0]), _facet_values(task, full[1])
    record = {
        "a": _side(a, full[0], per_a, task.tables(rows, outs[0]), ids),
        "b": _side(b, full[1], per_b, task.tables(rows, outs[1]), ids),
        "headline": _headline(task, scores, len(rows), confidence, resamples, seed, full),
        "mcnemar": mcnemar,
        "facets": _facets(task, per_a, per_b),
        "disagreements": _disagreements(task, rows, ta, tb, mcnemar["binary"]),
        "settings": {"confidence": confidence, "alpha": round(1 - confidence, 12), "resamples": resamples,
                     "seed": seed, "rows": len(rows), "task": task.spec.kind, "facet_kind": task.spec.facet_kind,
                     "primary": task.spec.primary, "mode": task.spec.mode, "valid_rate": task.spec.valid_rate,
                     "invalid_error": task.invalid_error, "invalid": INVALID, "rule": _RULE},
    }
    record["verdict"], record["winner"] = _verdict(record, confidence)
    return _plain(record)


def write_ab(record: dict, folder) -> tuple[Path, Path]:
    """Write ``ab.json`` (indent 1, UTF-8) and ``ab.html`` into ``folder`` (created); return both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "ab.json", folder / "ab.html"
    json_path.write_text(json.dumps(_plain(record), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path.write_text(render_ab_html(record), encoding="utf-8")
    return json_path, html_path
