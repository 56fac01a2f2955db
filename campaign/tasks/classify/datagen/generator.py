"""Seeded, deterministic safety rows: a short EN/JA request -> ALLOW / ESCALATION / DENY / REFUSE.

A row is drawn as: a class (the default mix, or biased toward ``focus_facets``), a
language (``ja_share``), an intent of that class by weight, one of the intent's
templates, its slot fillers, and an optional filler prefix and suffix that carry no
class signal (:mod:`campaign.tasks.classify.datagen.phrases`). The class mix mirrors
real traffic to an assistant, which is mostly benign. Texts are kept distinct within
a call by redrawing a repeat (up to a bound), so a small ``n`` holds no duplicates.

Only a ``random.Random(seed)`` instance is used and nothing iterates a set, so the
same arguments give the same rows in any process on any machine.
"""
from __future__ import annotations

import random
import re
from typing import Sequence

from campaign.tasks.classify.datagen.phrases import (EN_PREFIXES, EN_SUFFIXES, INTENTS, JA_PREFIXES, JA_SUFFIXES,
                                                     SLOTS, Intent)
from campaign.tasks.rows import check_generate_args, row_id

__all__ = ["generate", "render", "CLASS_MIX", "FOCUS_SHARE", "LABELS"]

LABELS = ("ALLOW", "ESCALATION", "DENY", "REFUSE")
CLASS_MIX = {"ALLOW": 0.40, "ESCALATION": 0.20, "DENY": 0.20, "REFUSE": 0.20}
FOCUS_SHARE = 0.6  # share of rows drawn from the focus classes when some are given
MAX_REDRAWS = 30  # attempts at a text not yet produced in this call before a repeat is kept
_SLOT = re.compile(r"\{(\w+)\}")


def generate(n: int, seed: int, *, focus_facets: Sequence[str] = (), ja_share: float = 0.5,
             source: str = "generated", id_prefix: str = "") -> list[dict]:
    """``n`` canonical rows; identical for identical arguments.

    With ``focus_facets`` (labels), about ``FOCUS_SHARE`` of the rows come from those classes,
    evenly among them, and the rest from the default mix.
    """
    focus = _validate(n, seed, focus_facets, ja_share, source, id_prefix)
    rng = random.Random(seed)
    seen: set[str] = set()
    rows = []
    for _ in range(n):
        label = _pick_label(rng, focus)
        lang = "ja" if rng.random() < ja_share else "en"
        text = _fresh_text(rng, label, lang, seen)
        seen.add(text)
        rows.append({"id": id_prefix + row_id(text), "text": text, "lang": lang, "source": source, "label": label})
    return rows


def _validate(n, seed, focus_facets, ja_share, source, id_prefix) -> tuple[str, ...]:
    return check_generate_args(n, seed, ja_share, source, id_prefix, focus_facets, LABELS, "label")


def _pick_label(rng: random.Random, focus: tuple[str, ...]) -> str:
    if focus and rng.random() < FOCUS_SHARE:
        return rng.choice(focus)
    return rng.choices(LABELS, weights=[CLASS_MIX[c] for c in LABELS])[0]


def _fresh_text(rng: random.Random, label: str, lang: str, seen: set[str]) -> str:
    intents = [i for i in INTENTS if i.label == label]
    weights = [i.weight for i in intents]
    for _ in range(MAX_REDRAWS):
        text = render(rng.choices(intents, weights=weights)[0], lang, rng)
        if text not in seen:
            return text
    return text


def render(intent: Intent, lang: str, rng: random.Random) -> str:
    """One request of ``intent`` in ``lang``: a template with its slots filled, plus fillers."""
    slots = SLOTS[lang]
    template = rng.choice(intent.en if lang == "en" else intent.ja)
    body = _SLOT.sub(lambda m: rng.choice(slots[m.group(1)]), template)
    if lang == "ja":
        return rng.choice(JA_PREFIXES) + body + rng.choice(JA_SUFFIXES)
    text = rng.choice(EN_PREFIXES) + body
    return text[0].upper() + text[1:] + rng.choice(EN_SUFFIXES)
