"""The multiple-choice task's words for the Hub cards: what the data and the adapter do, and the row schema."""
from __future__ import annotations

from typing import Sequence

__all__ = ["card"]


def _schema_section(subjects: Sequence[str], prompt_style: str) -> str:
    names = ", ".join(f"`{s}`" for s in subjects)
    target = ("the answer letter alone, e.g. `B`" if prompt_style == "direct" else
              "a short explanation ending in `Answer: <letter>`, e.g. `apple is a food. Answer: B`")
    return f"""## Schema

Each row is `{{"id", "question", "choices", "answer", "subject", "lang", "source", "explanation"}}`:
`choices` holds 4 strings, `answer` is the right choice's letter `A`–`D`, `subject` one of {names}, and
`explanation` the reasoning the `cot` prompt style learns (may be empty). User files may give the choices as
a list or as the keys `a`–`d`, and the answer as a letter in either case, a 0-based index (0 is `A`, as in
MMLU) or the exact text of one choice; each is stored as the letter.

A model learns to answer the question and its lettered choices with {target} (prompt style
`{prompt_style}`). Outputs are read by the last `Answer: X`, else the first standalone letter A–D."""


def card(subjects: Sequence[str], prompt_style: str, scoring: str) -> dict:
    """The card words for a multiple-choice task over ``subjects``."""
    how = ("the likeliest of the four answer letters after the direct prompt (loglikelihood scoring)"
           if scoring == "loglikelihood" else "the letter read from the greedy output")
    return {
        "languages": ["en", "ja"],
        "tags": ["multiple-choice", "question-answering"],
        "what": f"multiple-choice questions (4 choices, English or Japanese) on {', '.join(subjects)}",
        "adapter": "reads a question with four lettered choices (English or Japanese) and answers the letter A–D "
                   "of the right one",
        "metric_note": f"`accuracy` is the share of questions answered with the right letter ({how}); an output "
                       "with no answer letter counts as wrong. `accuracy_<subject>` is the same on one subject; "
                       "higher is better. `valid_rate` is the share of outputs that name a letter, and "
                       "`pred_share_A`..`pred_share_D` show whether a model favours one position.",
        "schema": _schema_section(subjects, prompt_style),
    }
