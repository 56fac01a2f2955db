"""Seeded generation of teacher rows (request text -> six hidden params)."""
from campaign.tasks.hidden_params.datagen.generator import MODIFIER_SCALE, Part, Plan, generate, plan_effects
from campaign.tasks.hidden_params.datagen.lexicon import CATEGORIES, LEXICON, ROLES, Descriptor, by_key

__all__ = [
    "generate", "plan_effects", "Part", "Plan", "MODIFIER_SCALE",
    "LEXICON", "Descriptor", "ROLES", "CATEGORIES", "by_key",
]
