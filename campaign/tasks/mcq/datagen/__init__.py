"""Seeded generation of multiple-choice category questions (EN/JA): one subject word among three distractors."""
from campaign.tasks.mcq.datagen.bank import DISTRACTORS, EXPLANATIONS, QUESTIONS, SUBJECTS, WORDS
from campaign.tasks.mcq.datagen.generator import FOCUS_SHARE, LETTERS, draw, generate

__all__ = ["generate", "draw", "SUBJECTS", "WORDS", "DISTRACTORS", "QUESTIONS", "EXPLANATIONS", "FOCUS_SHARE",
           "LETTERS"]
