"""Paired comparisons of two models on the same frozen eval rows, so the gate can tell a change from noise.

Each comparison takes one number per row for the reference model (A) and the candidate (B), in the
same row order, and reports the mean difference B − A with a seeded bootstrap confidence interval
(scipy's ``bootstrap``, percentile method, over rows) and a p-value:

- per-row errors (any non-negative scale): Wilcoxon signed-rank on the differences (rows with no
  difference are dropped, scipy's ``zero_method="wilcox"``);
- right/wrong rows (every value 0 or 1): McNemar's exact test, a two-sided binomial test on the
  discordant pairs.

Errors are "lower is better", so a negative difference means the candidate is better. An invalid
output enters as the task's ``invalid_error`` on that row, never dropped, so both models are always
compared on every row.

``bootstrap_difference`` is the same seeded percentile bootstrap for a statistic that is not a mean
of per-row values (macro F1 of B − macro F1 of A): it resamples row indices and the caller
recomputes the statistic on the resampled rows for both models, which keeps the comparison paired.
Pure: numbers in, a plain record out; no Ray, no torch.
"""
from __future__ import annotations

from typing import Callable, Sequence

__all__ = ["compare", "bootstrap_difference", "row_error_table", "INTERVAL_KEYS"]

INTERVAL_KEYS = ("n", "reference", "candidate", "diff", "low", "high", "confidence", "p_value", "test")


def _is_binary(values) -> bool:
    return all(v in (0, 1) for v in values)


def _interval(diffs, confidence: float, resamples: int, seed: int) -> tuple[float, float]:
    import numpy as np
    from scipy.stats import bootstrap

    d = np.asarray(diffs, dtype=float)
    if np.all(d == d[0]):  # no spread: every resample has the same mean
        return float(d[0]), float(d[0])
    res = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=resamples, method="percentile",
                    rng=np.random.default_rng(seed), vectorized=True)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _p_value(a: Sequence[float], b: Sequence[float]) -> tuple[float, str]:
    from scipy.stats import binomtest, wilcoxon

    if _is_binary(a) and _is_binary(b):
        worse = sum(1 for x, y in zip(a, b) if x == 0 and y == 1)  # A right (error 0), B wrong
        better = sum(1 for x, y in zip(a, b) if x == 1 and y == 0)
        p = 1.0 if worse + better == 0 else float(binomtest(better, worse + better, 0.5).pvalue)
        return p, "McNemar exact"
    diffs = [y - x for x, y in zip(a, b)]
    if not any(diffs):
        return 1.0, "Wilcoxon signed-rank"
    return float(wilcoxon(diffs, zero_method="wilcox").pvalue), "Wilcoxon signed-rank"


def compare(reference: Sequence[float], candidate: Sequence[float], *, confidence: float = 0.95,
            resamples: int = 2000, seed: int = 0) -> dict:
    """Mean per-row difference candidate − reference, its bootstrap interval and a paired p-value."""
    if len(reference) != len(candidate):
        raise ValueError(f"paired comparison needs the same rows: {len(reference)} vs {len(candidate)} values")
    if not reference:
        raise ValueError("paired comparison of no rows")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1) (got {confidence})")
    n = len(reference)
    diffs = [y - x for x, y in zip(reference, candidate)]
    low, high = _interval(diffs, confidence, resamples, seed)
    p, test = _p_value(reference, candidate)
    return {"n": n, "reference": sum(reference) / n, "candidate": sum(candidate) / n, "diff": sum(diffs) / n,
            "low": low, "high": high, "confidence": confidence, "p_value": p, "test": test}


def bootstrap_difference(n: int, statistic: Callable[..., float], *, confidence: float = 0.95,
                         resamples: int = 2000, seed: int = 0) -> dict:
    """Seeded paired percentile bootstrap over rows of ``statistic(index_array) -> float``.

    ``statistic`` gets a resample of row indices (a numpy int array of length ``n``) and returns
    the difference on those rows (e.g. macro F1 of B − macro F1 of A, both on the same indices);
    the point value is ``statistic(np.arange(n))``. Where every resample gives one value (or there
    is one row) the interval is the point value itself.
    """
    import numpy as np
    from scipy.stats import bootstrap

    if n < 1:
        raise ValueError("paired comparison of no rows")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1) (got {confidence})")
    diff = float(statistic(np.arange(n)))
    low = high = diff
    if n > 1:
        res = bootstrap((np.arange(n),), lambda idx: float(statistic(np.asarray(idx, dtype=int))),
                        vectorized=False, paired=False, method="percentile", confidence_level=confidence,
                        n_resamples=resamples, rng=np.random.default_rng(seed))
        dist = np.asarray(res.bootstrap_distribution, dtype=float)
        if not np.all(dist == dist[0]):  # every resample the same value: no spread, the point value stands
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return {"n": n, "diff": diff, "low": low, "high": high, "confidence": confidence, "resamples": resamples,
            "method": "paired percentile bootstrap over rows"}


def row_error_table(task, rows: Sequence[dict], outputs: dict[str, str]) -> dict:
    """Per-row errors of one model on ``rows``: ``{"primary": [...], "facets": {facet: [...]}}`` in row order.

    ``outputs`` maps row id to the model's output; an invalid output counts ``task.invalid_error``
    on every facet and on the row's overall error.
    """
    bad = task.invalid_error
    primary, facets = [], {f: [] for f in task.spec.facets}
    for row in rows:
        err = task.row_errors(row, outputs[row["id"]])
        per = err["facets"]
        primary.append(bad if err["error"] is None else float(err["error"]))
        for f in facets:
            facets[f].append(bad if per is None or per.get(f) is None else float(per[f]))
    return {"primary": primary, "facets": facets}
