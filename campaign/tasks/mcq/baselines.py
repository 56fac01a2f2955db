"""Model-free baselines of the multiple-choice task: a seeded random letter and the majority training letter.

``random_baseline`` draws each eval row's letter uniformly from its choices with a
``random.Random`` seeded by a fixed seed and the row's id, so it is reproducible and a
row's draw does not depend on the other rows. Its score is noisy; the exact expectation,
the mean over rows of ``1 / len(choices)`` (0.25 with four choices), is reported beside
it as ``expected_accuracy``. ``majority_letter_baseline`` always answers the training
split's most frequent answer letter (ties go to the alphabetically first): what a model
that learned only the letter prior would score. Pure Python: no Ray, no torch.
"""
from __future__ import annotations

import random
from collections import Counter
from typing import Sequence

from campaign.tasks.mcq.schema import LETTERS

__all__ = ["RANDOM_SEED", "random_baseline", "expected_random_accuracy", "majority_letter"]

RANDOM_SEED = 0


def random_baseline(eval_rows: Sequence[dict], seed: int = RANDOM_SEED) -> list[str]:
    """A random letter per row among its choices' letters, reproducible per ``(seed, row id)``."""
    return [random.Random(f"{seed}:{r['id']}").choice(LETTERS[:len(r["choices"])]) for r in eval_rows]


def expected_random_accuracy(eval_rows: Sequence[dict]) -> float:
    """The random baseline's exact expected accuracy: the mean of ``1 / len(choices)`` over ``eval_rows``."""
    if not eval_rows:
        raise ValueError("eval_rows is empty: an expected accuracy needs at least one row")
    return sum(1 / len(r["choices"]) for r in eval_rows) / len(eval_rows)


def majority_letter(train_rows: Sequence[dict]) -> str:
    """The most frequent training answer letter; ties go to the alphabetically first."""
    if not train_rows:
        raise ValueError("train_rows is empty: a majority baseline needs at least one row")
    counts = Counter(r["answer"] for r in train_rows)
    return min(LETTERS, key=lambda letter: (-counts.get(letter, 0), letter))
