"""The selection benchmark's rules on hand-built trials (the figures it prints are in docs/MEASUREMENTS.md)."""
from __future__ import annotations

from campaign.bench.selection import pick


def trial(n, valid, eval_, rows, cost):
    return {"trial": n, "valid": valid, "eval": eval_, "rows": rows, "cost": cost}


# trial 2 is 0.1 behind trial 1 on validation; their paired per-row differences vary by ±1, so the
# paired SE (≈0.45) covers the gap, and trial 2 is cheaper. Trial 3 is far behind.
T = [trial(1, 5.0, 6.0, [5, 5, 5, 5, 5], 1000), trial(2, 5.1, 5.5, [6, 4, 6, 4, 5.5], 500),
     trial(3, 9.0, 4.0, [9, 9, 9, 9, 9], 100)]


def test_argmin_oracle_and_the_one_se_rule():
    assert pick(T, "min", "argmin")["trial"] == 1
    assert pick(T, "min", "oracle")["trial"] == 3
    assert pick(T, "min", "1se-cheapest")["trial"] == 2  # within one paired SE and cheaper; trial 3 is not close
    # the same rows shifted by a constant: no spread in the difference, so only an exact tie is "close"
    tight = [T[0], trial(2, 5.1, 5.5, [5.1] * 5, 500)]
    assert pick(tight, "min", "1se-cheapest")["trial"] == 1


def test_max_mode_flips_every_rule():
    flipped = [{**t, "valid": -t["valid"], "eval": -t["eval"], "rows": [-r for r in t["rows"]]} for t in T]
    assert [pick(flipped, "max", r)["trial"] for r in ("argmin", "oracle", "1se-cheapest")] == [1, 3, 2]
