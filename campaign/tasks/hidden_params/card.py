"""The flagship's words for the Hub cards: what the data and the adapter do, and the row schema."""
from __future__ import annotations

from campaign.tasks.hidden_params.schema import DIMS, LANGS, VALUE_MAX, VALUE_MIN, target_json

__all__ = ["CARD"]


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _schema_section() -> str:
    example = {d: v for d, v in zip(DIMS, (62, 40, 71, 15, 35, 20))}
    dims = _table(["dimension", "type", "range"], [[f"`{d}`", "int64", f"{VALUE_MIN}–{VALUE_MAX}"] for d in DIMS])
    return f"""## Schema

Each row is `{{"id", "request", "lang", "source", "hidden_params"}}`: `id` is a stable hash of the request,
`lang` is one of {", ".join(f"`{lang}`" for lang in LANGS)}, `source` says where the row came from, and
`hidden_params` holds the six dimensions, each an integer:

{dims}

A model learns to answer the request with one JSON object in this key order, e.g.
`{target_json(example)}`."""


CARD = {
    "languages": list(LANGS),
    "tags": ["music", "json"],
    "what": "turning a music request (English or Japanese) into six hidden parameters as JSON",
    "adapter": f"turns a music request (English or Japanese) into six hidden parameters ({', '.join(DIMS)}) "
               "as one JSON object",
    "metric_note": "`mae_raw` is the mean absolute error on the 0–100 scale over valid outputs; lower is better. "
                   "`json_valid_rate` is the share of outputs that are one valid JSON object.",
    "schema": _schema_section(),
}
