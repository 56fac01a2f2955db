"""Seeded, deterministic category questions: "Which is a food?" with four one-word choices.

A row is drawn as: a subject (uniform over the subjects asked for, or biased toward
``focus_facets``), a language (``ja_share``), one of that subject's phrasings, one
member word of the subject (the right choice), one word of each of three different
distractor categories (in random order) and a uniform answer position A-D, so every
letter is the answer about a quarter of the time and the majority-letter baseline stays
near 0.25 (:mod:`campaign.tasks.mcq.datagen.bank` says why distractors never come from
another subject). Every word recurs across many rows in every position, so an eval
question is a new combination of words a model has seen, never a memorised item; what
a model must learn is which words are subject words and where the one present sits.

Questions are kept distinct within a call (same question and same set of choices) by
redrawing a repeat, up to a bound. Only a ``random.Random(seed)`` instance is used and
nothing iterates a set, so the same arguments give the same rows in any process.
"""
from __future__ import annotations

import random
from typing import Sequence

from campaign.tasks.mcq.datagen.bank import DISTRACTORS, EXPLANATIONS, QUESTIONS, SUBJECTS, WORDS
from campaign.tasks.rows import check_generate_args, row_id

__all__ = ["generate", "draw", "FOCUS_SHARE", "LETTERS"]

LETTERS = ("A", "B", "C", "D")
FOCUS_SHARE = 0.6  # share of rows drawn from the focus subjects when some are given
MAX_REDRAWS = 30  # attempts at a question not yet produced in this call before a repeat is kept
ROW_KEYS = ("id", "question", "choices", "answer", "subject", "lang", "source", "explanation")


def generate(n: int, seed: int, *, subjects: Sequence[str] = SUBJECTS, focus_facets: Sequence[str] = (),
             ja_share: float = 0.5, source: str = "generated", id_prefix: str = "") -> list[dict]:
    """``n`` canonical rows whose answers are of ``subjects``; identical for identical arguments.

    With ``focus_facets`` (subjects), about ``FOCUS_SHARE`` of the rows come from those subjects,
    evenly among them, and the rest uniformly from ``subjects``.
    """
    subjects = _check_subjects(subjects)
    focus = check_generate_args(n, seed, ja_share, source, id_prefix, focus_facets, subjects, "subject")
    rng = random.Random(seed)
    seen: set[tuple] = set()
    rows = []
    for _ in range(n):
        subject = rng.choice(focus) if focus and rng.random() < FOCUS_SHARE else rng.choice(subjects)
        lang = "ja" if rng.random() < ja_share else "en"
        row = _fresh_row(rng, subject, lang, seen)
        seen.add(_key(row))
        row.update(id=id_prefix + row_id(row["question"] + "\n" + "\n".join(row["choices"])), source=source)
        rows.append({k: row[k] for k in ROW_KEYS})
    return rows


def _check_subjects(subjects: Sequence[str]) -> tuple[str, ...]:
    if isinstance(subjects, str) or not subjects:
        raise ValueError(f"subjects must be a non-empty sequence of subject names, got {subjects!r}")
    unknown = [s for s in subjects if s not in SUBJECTS]
    if unknown:
        raise ValueError(f"subjects: no questions for {unknown[0]!r} (the bank's subjects: {', '.join(SUBJECTS)})")
    return tuple(subjects)


def _key(row: dict) -> tuple:
    return row["question"], tuple(sorted(row["choices"]))


def _fresh_row(rng: random.Random, subject: str, lang: str, seen: set[tuple]) -> dict:
    for _ in range(MAX_REDRAWS):
        row = draw(rng, subject, lang)
        if _key(row) not in seen:
            return row
    return row


def draw(rng: random.Random, subject: str, lang: str) -> dict:
    """One question of ``subject`` in ``lang`` (no id or source): its right word among three distractors."""
    distractors = DISTRACTORS[lang]
    right = rng.choice(WORDS[lang][subject])
    choices = [rng.choice(distractors[c]) for c in rng.sample(sorted(distractors), 3)]
    position = rng.randrange(len(LETTERS))
    choices.insert(position, right)
    return {"question": rng.choice(QUESTIONS[lang][subject]), "choices": choices, "answer": LETTERS[position],
            "subject": subject, "lang": lang, "explanation": EXPLANATIONS[lang][subject].format(word=right)}
