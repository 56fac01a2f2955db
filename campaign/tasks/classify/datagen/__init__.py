"""Seeded generation of safety rows (EN/JA request text -> one of the four default labels)."""
from campaign.tasks.classify.datagen.generator import CLASS_MIX, FOCUS_SHARE, LABELS, generate, render
from campaign.tasks.classify.datagen.phrases import INTENTS, SLOTS, Intent

__all__ = ["generate", "render", "CLASS_MIX", "FOCUS_SHARE", "LABELS", "INTENTS", "SLOTS", "Intent"]
