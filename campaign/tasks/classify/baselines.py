"""Model-free baselines of the safety classifier: the majority label and a keyword rule.

The keyword rule is what a person would write in an afternoon: its own small table of
English and Japanese substrings per class, checked in a fixed precedence order, with
ALLOW as the fallback. It is written independently of the row generator and must never
import it or copy its word lists, so its score is an honest reference point. It is
deliberately simple: plain lower-cased substring matching, no negation, no framing, no
word boundaries. Pure Python: no Ray, no torch.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

__all__ = ["RULES", "FALLBACK", "majority_baseline", "rule_baseline"]

# (label, substrings), in precedence order: the first class with a matching substring wins.
# Crisis signals come first (they matter most), then dangerous requests, then policy ones.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ESCALATION", (
        "suicide", "kill myself", "hurt myself", "self-harm", "overdose", "emergency", "ambulance",
        "can't breathe", "lawyer", "lawsuit", "sue you", "sue your", "harass", "manager", "refund",
        "chargeback", "real person", "human agent",
        "死にたい", "自殺", "自傷", "救急", "弁護士", "訴え", "嫌がらせ", "返金", "責任者", "担当者",
    )),
    ("REFUSE", (
        "bomb", "explosive", "weapon", "gun", "malware", "ransomware", "virus", "keylogger", "poison",
        "kill", "stalk", "phishing",
        "爆弾", "爆発", "武器", "銃", "マルウェア", "ウイルス", "毒", "殺", "ストーカー", "フィッシング",
    )),
    ("DENY", (
        "password", "someone else's", "another person's", "my ex", "bypass", "paywall", "region lock",
        "cheat", "exam answers", "fake review", "home address", "phone number",
        "パスワード", "他人の", "元彼", "元カノ", "回避", "有料記事", "カンニング", "やらせ", "住所", "電話番号",
    )),
)
FALLBACK = "ALLOW"


def rule_baseline(text: str) -> str:
    """The keyword rule's label for ``text`` (one of the four default labels, upper case)."""
    lowered = text.lower()
    for label, keys in RULES:
        if any(k in lowered for k in keys):
            return label
    return FALLBACK


def majority_baseline(train_rows: Sequence[dict], labels: Sequence[str]) -> str:
    """The most frequent training label; ties go to the label listed first in ``labels``."""
    if not train_rows:
        raise ValueError("train_rows is empty: a majority baseline needs at least one row")
    counts = Counter(r["label"] for r in train_rows)
    return max(labels, key=lambda label: (counts.get(label, 0), -list(labels).index(label)))
