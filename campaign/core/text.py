"""Text keys shared by tasks and the data layer."""
from __future__ import annotations

import unicodedata

__all__ = ["normalize_request"]


def normalize_request(text: str) -> str:
    """Key used for dedupe and eval-leak checks: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
