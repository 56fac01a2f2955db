"""The safety classifier's words for the Hub cards: what the data and the adapter do, and the row schema."""
from __future__ import annotations

from typing import Sequence

from campaign.tasks.classify.schema import LANGS

__all__ = ["card"]


def _schema_section(labels: Sequence[str], label_case: str) -> str:
    names = ", ".join(f"`{label}`" for label in labels)
    if label_case == "insensitive":
        case_rule = (f"Gold labels are matched up to case (`task.label_case: insensitive`): `{labels[0].lower()}` "
                     f"is accepted and stored as `{labels[0]}`.")
    else:
        case_rule = "Gold labels must be spelled exactly as configured (`task.label_case: exact`)."
    return f"""## Schema

Each row is `{{"id", "text", "lang", "source", "label"}}`: `id` is a stable hash of the text, `text` the
request, `lang` one of {", ".join(f"`{lang}`" for lang in LANGS)}, `source` says where the row came from, and
`label` is one of {names}. {case_rule} Surrounding whitespace is never stripped (`" {labels[0]}"` is
rejected). Model outputs are read from their first line and matched up to case whatever the setting.

A model learns to answer the request with the label alone, e.g. `{labels[0]}`."""


def card(labels: Sequence[str], label_case: str) -> dict:
    """The card words for a classifier over ``labels``."""
    names = ", ".join(labels)
    return {
        "languages": list(LANGS),
        "tags": ["text-classification", "safety"],
        "what": f"classifying a request to an AI assistant (English or Japanese) as one of {names}",
        "adapter": f"reads a request to an AI assistant (English or Japanese) and answers one label: {names}",
        "metric_note": "`macro_f1` is the mean over classes of each class's F1 (classes absent from both gold and "
                       "predictions are left out); higher is better. `accuracy` is the share of rows labelled "
                       "correctly, invalid outputs counted as wrong. `valid_rate` is the share of outputs that name "
                       "a label.",
        "schema": _schema_section(labels, label_case),
    }
