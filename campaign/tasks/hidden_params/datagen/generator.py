"""Seeded, deterministic teacher pairs: music request text -> six hidden params.

A request is a *plan* of 1-3 descriptors from :mod:`campaign.tasks.hidden_params.datagen.lexicon` (at most
one genre noun, one scene, two adjectives), rendered through English or Japanese
templates. The target is ``clip(round(50 + sum of scaled effects) + noise, 0, 100)``,
with noise of at most ±2, so the mapping stays additive and learnable from a few
hundred rows while the modifiers keep some dimensions genuinely hard:

- intensity: "slightly"/"少し" scales an adjective's effect by 0.5, "very"/"とても" by 1.5;
- negation: "not too X"/"Xすぎない" flips it to -0.5x (it does not cancel it fully);
- contrast: "A but B"/"AけどB": on dims both touch, B's effect replaces A's;
- scene words, whose effects are implied rather than named.

Only a ``random.Random(seed)`` instance is used, and nothing iterates a set, so the
same arguments give the same rows in any process on any machine.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

from campaign.tasks.hidden_params.datagen.lexicon import LEXICON, Descriptor
from campaign.tasks.hidden_params.schema import DIMS, VALUE_MAX, VALUE_MIN
from campaign.tasks.rows import check_generate_args, row_id

__all__ = ["generate", "Part", "Plan", "plan_effects", "MODIFIER_SCALE"]

MODIFIER_SCALE = {"": 1.0, "slight": 0.5, "very": 1.5, "neg": -0.5}
NOISE = 2
# Descriptor counts: two-descriptor requests are the most common, as in real requests.
K_CHOICES, K_WEIGHTS = (1, 2, 3), (0.25, 0.45, 0.30)
ROLE_CAP = {"noun": 1, "scene": 1, "adj": 2}
P_CONTRAST = 0.3
# Opposite-sign effects at least this large on one dim make a pair contradictory:
# kept apart in plain requests ("calm EDM"), sought out for contrasts ("nostalgic but modern").
CONFLICT_MIN = 15
# Modifier probabilities (none, slight, very, neg); focused rows push effects harder.
MOD_NAMES = ("", "slight", "very", "neg")
MOD_WEIGHTS = (0.55, 0.15, 0.15, 0.15)
MOD_WEIGHTS_FOCUS = (0.5, 0.1, 0.25, 0.15)
ZIPF_EXPONENT = 1.0  # frequency of the k-th descriptor of a role ∝ 1/k
FOCUS_FLOOR = 0.3

EN_SLIGHT, EN_VERY = ("slightly", "somewhat"), ("very", "really")
JA_SLIGHT, JA_VERY = ("少し", "ちょっと"), ("とても", "すごく")
EN_GENERIC = ("track", "song", "tune")
EN_TEMPLATES = ("{np}{tail}", "I'd like {np}{tail}", "Play me {np}{tail}", "Can you make {np}{tail}?",
                "Looking for {np}{tail}", "Give me {np}{tail}", "Put on {np}{tail}")
JA_TEMPLATES = ("{body}", "{body}をお願いします", "{body}が聴きたい", "{body}を流して",
                "{body}を作ってください", "{body}がほしい")


@dataclass(frozen=True)
class Part:
    """One descriptor as used in a request, with its modifier ('' for none)."""

    desc: Descriptor
    mod: str = ""


@dataclass(frozen=True)
class Plan:
    """What a request says: adjectives in order, an optional noun and scene."""

    adjs: tuple[Part, ...]
    noun: Part | None
    scene: Part | None
    contrast: bool = False


def generate(n: int, seed: int, *, focus_dims: Sequence[str] = (), ja_share: float = 0.5,
             source: str = "generated", id_prefix: str = "") -> list[dict]:
    """``n`` rows in the teacher schema; identical for identical arguments.

    ``focus_dims`` biases descriptor and modifier choice toward large effects on those
    dims, so the rows stress them (targeted augmentation of hard dims).
    """
    focus = _validate(n, seed, focus_dims, ja_share, source, id_prefix)
    rng = random.Random(seed)
    weights = _weights(focus)
    rows = []
    for _ in range(n):
        plan = _sample_plan(rng, weights, focus)
        lang = "ja" if rng.random() < ja_share else "en"
        request = _render_ja(plan, rng) if lang == "ja" else _render_en(plan, rng)
        rows.append({
            "id": id_prefix + row_id(request),
            "request": request,
            "lang": lang,
            "source": source,
            "hidden_params": _targets(plan, rng),
        })
    return rows


def _validate(n, seed, focus_dims, ja_share, source, id_prefix) -> tuple[str, ...]:
    return check_generate_args(n, seed, ja_share, source, id_prefix, focus_dims, DIMS, "dimension", "focus_dims")


def _focus_strength(desc: Descriptor, focus: tuple[str, ...]) -> int:
    return max((abs(desc.effects.get(d, 0)) for d in focus), default=0)


def _zipf() -> list[float]:
    """Base frequency: Zipf-like (1 / rank) by a descriptor's order within its role.

    Real requests reuse a few words often and many rarely; with uniform sampling every
    phrase of a 500-row set is rare and a small model barely gets past the mean.
    """
    ranks: dict[str, int] = {}
    out = []
    for d in LEXICON:
        ranks[d.role] = ranks.get(d.role, 0) + 1
        out.append(1.0 / ranks[d.role] ** ZIPF_EXPONENT)
    return out


def _weights(focus: tuple[str, ...]) -> list[float]:
    """Sampling weight per descriptor: its Zipf frequency, times its largest focus effect.

    Linear, not steeper: focused rows should stress a dim without piling up at 0/100,
    where clipping hides the effect and augmentation overshoots.
    """
    base = _zipf()
    if not focus:
        return base
    return [b * (FOCUS_FLOOR + _focus_strength(d, focus) / 10) for b, d in zip(base, LEXICON)]


def _conflicts(a: Descriptor, b: Descriptor) -> bool:
    return any(
        dim in b.effects and a.effects[dim] * b.effects[dim] < 0
        and min(abs(a.effects[dim]), abs(b.effects[dim])) >= CONFLICT_MIN
        for dim in a.effects
    )


def _pick(rng: random.Random, weights: list[float], ok) -> int | None:
    """Weighted index of a lexicon entry satisfying ``ok``, or None when none does."""
    idx = [i for i, d in enumerate(LEXICON) if ok(d)]
    if not idx:
        return None
    return rng.choices(idx, weights=[weights[i] for i in idx])[0]


def _sample_plan(rng: random.Random, weights: list[float], focus: tuple[str, ...]) -> Plan:
    k = rng.choices(K_CHOICES, weights=K_WEIGHTS)[0]
    chosen: list[Descriptor] = []
    contrast = False
    if k >= 2 and rng.random() < P_CONTRAST:
        a = LEXICON[_pick(rng, weights, lambda d: d.role == "adj")]
        j = _pick(rng, weights, lambda d: d.role == "adj" and d is not a and _conflicts(a, d))
        if j is not None:
            chosen, contrast = [a, LEXICON[j]], True
    while len(chosen) < k:
        counts = {r: sum(c.role == r for c in chosen) for r in ROLE_CAP}
        i = _pick(rng, weights, lambda d: (
            counts[d.role] < ROLE_CAP[d.role] and all(d is not c and not _conflicts(d, c) for c in chosen)
            and not (contrast and d.role == "adj")))
        if i is None:
            break
        chosen.append(LEXICON[i])
    parts = [Part(d, _modifier(rng, d, focus, contrast) if d.role == "adj" else "") for d in chosen]
    return Plan(
        adjs=tuple(p for p in parts if p.desc.role == "adj"),
        noun=next((p for p in parts if p.desc.role == "noun"), None),
        scene=next((p for p in parts if p.desc.role == "scene"), None),
        contrast=contrast,
    )


def _modifier(rng: random.Random, desc: Descriptor, focus: tuple[str, ...], contrast: bool) -> str:
    focused = _focus_strength(desc, focus) >= CONFLICT_MIN
    weights = list(MOD_WEIGHTS_FOCUS if focused else MOD_WEIGHTS)
    if desc.ja_neg is None or contrast:
        # Negation reads oddly for some words, and "not too A but B" muddles the contrast.
        weights[0] += weights[3]
        weights[3] = 0.0
    return rng.choices(MOD_NAMES, weights=weights)[0]


def plan_effects(plan: Plan) -> dict[str, float]:
    """Summed scaled effects of a plan (before the base of 50 and the noise)."""
    total = {d: 0.0 for d in DIMS}
    parts = [p for p in (*plan.adjs, plan.noun, plan.scene) if p is not None]
    overridden: set[str] = set()
    if plan.contrast:
        # "A but B": B wins on the dims both touch, so A's effect there is dropped.
        a, b = plan.adjs
        overridden = {dim for dim in a.desc.effects if dim in b.desc.effects}
    for p in parts:
        for dim, eff in p.desc.effects.items():
            if plan.contrast and p is plan.adjs[0] and dim in overridden:
                continue
            total[dim] += eff * MODIFIER_SCALE[p.mod]
    return total


def _targets(plan: Plan, rng: random.Random) -> dict[str, int]:
    effects = plan_effects(plan)
    out = {}
    for dim in DIMS:
        value = math.floor(50 + effects[dim] + 0.5) + rng.randint(-NOISE, NOISE)
        out[dim] = min(VALUE_MAX, max(VALUE_MIN, value))
    return out


def _en_adj(rng: random.Random, p: Part) -> str:
    if p.mod == "slight":
        return f"{rng.choice(EN_SLIGHT)} {p.desc.en}"
    if p.mod == "very":
        return f"{rng.choice(EN_VERY)} {p.desc.en}"
    return p.desc.en


def _article(phrase: str) -> str:
    # "an 80s track": the digit 8 is read "eight", a vowel sound.
    word = phrase.split()[0]
    return "an" if word[0].lower() in "aeiou8" else "a"


def _render_en(plan: Plan, rng: random.Random) -> str:
    plain = [p for p in plan.adjs if p.mod != "neg"]
    if plan.contrast:
        chain = f"{_en_adj(rng, plan.adjs[0])} but {_en_adj(rng, plan.adjs[1])}"
    else:
        chain = ", ".join(_en_adj(rng, p) for p in plain)
    noun = plan.noun.desc.en if plan.noun else rng.choice(EN_GENERIC)
    np = f"{chain} {noun}" if chain else noun
    tail = f" {plan.scene.desc.en}" if plan.scene else ""
    tail += "".join(f", not too {p.desc.en}" for p in plan.adjs if p.mod == "neg")
    return rng.choice(EN_TEMPLATES).format(np=f"{_article(np)} {np}", tail=tail)


def _ja_adj(rng: random.Random, p: Part, form: str) -> str:
    """One adjective in Japanese; ``form`` is 'attr' (before a noun), 'te' or 'but'."""
    d = p.desc
    if p.mod == "neg":
        # Xすぎない conjugates like an i-adjective: すぎなくて.
        return d.ja_neg[:-1] + "くて" if form == "te" else d.ja_neg
    word = {"attr": d.ja, "te": d.ja_te, "but": d.ja_but}[form]
    if p.mod == "slight":
        return rng.choice(JA_SLIGHT) + word
    if p.mod == "very":
        return rng.choice(JA_VERY) + word
    return word


def _render_ja(plan: Plan, rng: random.Random) -> str:
    adjs = plan.adjs
    if plan.contrast:
        chain = _ja_adj(rng, adjs[0], "but") + _ja_adj(rng, adjs[1], "attr")
    else:
        chain = "".join(_ja_adj(rng, p, "te" if i < len(adjs) - 1 else "attr") for i, p in enumerate(adjs))
    noun = plan.noun.desc.ja if plan.noun else "曲"
    # The scene clause is set off by a comma only when adjectives follow, as in
    # "雨の日曜の朝に聴く、懐かしいアコースティック曲".
    scene = plan.scene.desc.ja + ("、" if chain else "") if plan.scene else ""
    return rng.choice(JA_TEMPLATES).format(body=scene + chain + noun)
