"""Parse model outputs and score them: the metrics of DESIGN.md, as pure functions.

Invalid outputs are counted in ``json_valid_rate`` and never crash or vanish;
the error metrics are over valid outputs only, and ``objective`` folds the two
together so a search cannot win by emitting fewer valid objects.
"""
from __future__ import annotations

import json
import math
from typing import Any, Sequence

from campaign.core.numeric import percentile  # noqa: F401 - re-exported
from campaign.tasks.hidden_params.schema import DIMS, VALUE_MAX, VALUE_MIN

__all__ = ["parse_prediction", "score", "sample_error", "hard_cases", "percentile", "INVALID_ERROR"]

# An invalid output is scored as an error of 50 in ``objective``: worse than a
# uniform guess (about 33), so the search never prefers broken JSON.
INVALID_ERROR = 50.0


def parse_prediction(text: str) -> tuple[dict[str, float] | None, str | None]:
    """Return ``(values, None)`` for a valid output or ``(None, reason)``.

    Valid means: the first ``{`` starts a JSON object holding all six keys with
    numeric (not boolean) values in 0–100. Trailing text after the object is
    ignored, as a generation may run past the closing brace.
    """
    start = text.find("{")
    if start < 0:
        return None, "no JSON object"
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as err:
        return None, f"broken JSON: {err.msg}"
    if not isinstance(obj, dict):
        return None, "not an object"
    missing = [d for d in DIMS if d not in obj]
    if missing:
        return None, f"missing keys: {', '.join(missing)}"
    values = {}
    for dim in DIMS:
        v = obj[dim]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None, f"{dim} is not a number"
        if not VALUE_MIN <= v <= VALUE_MAX:
            return None, f"{dim}={v} out of range"
        values[dim] = float(v)
    return values, None


def _r2(targets: list[dict], preds: list[dict]) -> float:
    """Mean over dimensions of the coefficient of determination; dims with zero variance are skipped."""
    scores = []
    for dim in DIMS:
        ys = [t[dim] for t in targets]
        mean = sum(ys) / len(ys)
        ss_tot = sum((y - mean) ** 2 for y in ys)
        if ss_tot > 0:
            ss_res = sum((t[dim] - p[dim]) ** 2 for t, p in zip(targets, preds))
            scores.append(1.0 - ss_res / ss_tot)
    return sum(scores) / len(scores) if scores else math.nan


def score(targets: Sequence[dict], outputs: Sequence[str]) -> dict[str, float]:
    """All scalar metrics for raw model ``outputs`` against ``targets`` (hidden_params dicts)."""
    if len(targets) != len(outputs):
        raise ValueError(f"{len(targets)} targets but {len(outputs)} outputs")
    if not targets:
        raise ValueError("cannot score an empty set")
    pairs = [(t, parse_prediction(o)[0]) for t, o in zip(targets, outputs)]
    valid = [(t, p) for t, p in pairs if p is not None]
    n, n_valid = len(pairs), len(valid)
    out: dict[str, float] = {"n": n, "n_valid": n_valid, "json_valid_rate": n_valid / n}
    if not valid:
        nan = math.nan
        out.update({"mae_raw": nan, "mse_raw": nan, "mse_norm": nan, "r2_score": nan, "objective": INVALID_ERROR})
        out.update({f"mae_raw_{d}": nan for d in DIMS})
        return out
    ts, ps = [t for t, _ in valid], [p for _, p in valid]
    abs_err = {d: [abs(t[d] - p[d]) for t, p in valid] for d in DIMS}
    for d in DIMS:
        out[f"mae_raw_{d}"] = sum(abs_err[d]) / n_valid
    out["mae_raw"] = sum(out[f"mae_raw_{d}"] for d in DIMS) / len(DIMS)
    out["mse_raw"] = sum((t[d] - p[d]) ** 2 for t, p in valid for d in DIMS) / (n_valid * len(DIMS))
    out["mse_norm"] = out["mse_raw"] / (VALUE_MAX - VALUE_MIN) ** 2
    out["r2_score"] = _r2(ts, ps)
    out["objective"] = (out["mae_raw"] * n_valid + INVALID_ERROR * (n - n_valid)) / n
    return out


def sample_error(target: dict, text: str) -> dict[str, Any]:
    """One sample's parsed prediction and its errors: per-dimension absolute error and their mean.

    An invalid output has no errors (``None``) and says why in ``invalid_reason``.
    """
    pred, reason = parse_prediction(text)
    if pred is None:
        return {"prediction": None, "invalid_reason": reason, "abs_error": None, "error": None}
    abs_error = {d: abs(target[d] - pred[d]) for d in DIMS}
    return {"prediction": pred, "invalid_reason": None, "abs_error": abs_error,
            "error": sum(abs_error.values()) / len(DIMS)}


def hard_cases(rows: Sequence[dict], outputs: Sequence[str], k: int) -> list[dict[str, Any]]:
    """The top-``k`` samples by mean absolute error; invalid outputs rank first."""
    cases = []
    for row, text in zip(rows, outputs):
        err = sample_error(row["hidden_params"], text)
        cases.append({"id": row["id"], "request": row["request"], "target": row["hidden_params"],
                      "prediction": err["prediction"], "output": text[:300], "error": err["error"],
                      "invalid_reason": err["invalid_reason"]})
    cases.sort(key=lambda c: (c["error"] is not None, -(c["error"] or 0.0)))
    return cases[:k]
