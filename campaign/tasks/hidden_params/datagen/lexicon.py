"""The descriptor lexicon behind the generated teacher data (pure data, no logic).

Each descriptor has an English and a Japanese phrase and a known, additive effect on
the six dimensions (offsets around a base of 50). Effects are kept consistent across
roles so a tiny model can learn the mapping from a few hundred rows.

Order matters: within a role, a descriptor's position is its frequency rank (the
generator samples the k-th descriptor of a role with weight 1/k).

Roles decide where a phrase goes in a request:

- ``noun``: a genre or instrument, the head of the request ("synth track", "ピアノ曲").
- ``adj``: mood, era and texture words. ``ja_te`` is the conjunctive form used to chain
  two adjectives ("明るくて"), ``ja_but`` the clause before けど in a contrast
  ("懐かしいけど"), ``ja_neg`` the すぎない form; only adjectives with a ``ja_neg``
  may be negated (English "not too calm" reads oddly, so those have none).
- ``scene``: indirect scene words. ``en`` is a trailing phrase, ``ja`` an attributive
  clause ("雨の日曜の朝に聴く"); their effects are implied rather than named.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Descriptor", "LEXICON", "ROLES", "CATEGORIES", "by_key"]

ROLES = ("noun", "adj", "scene")
CATEGORIES = ("genre", "mood", "era", "texture", "scene")


@dataclass(frozen=True)
class Descriptor:
    key: str
    role: str
    category: str
    en: str
    ja: str
    effects: dict[str, int] = field(default_factory=dict)
    ja_te: str | None = None
    ja_but: str | None = None
    ja_neg: str | None = None


def _noun(key, en, ja, **eff):
    return Descriptor(key, "noun", "genre", en, ja, eff)


def _adj(key, cat, en, ja, te, but, neg, **eff):
    return Descriptor(key, "adj", cat, en, ja, eff, ja_te=te, ja_but=but, ja_neg=neg)


def _scene(key, en, ja, **eff):
    return Descriptor(key, "scene", "scene", en, ja, eff)


# Dimension keys: energy, warmth, brightness, acousticness, complexity, nostalgia.
LEXICON: tuple[Descriptor, ...] = (
    # Genres and instruments.
    _noun("acoustic_guitar", "acoustic guitar song", "アコースティックギターの曲", energy=-5, warmth=15, acousticness=30, nostalgia=5),
    _noun("piano", "piano piece", "ピアノ曲", energy=-10, warmth=10, acousticness=25, complexity=5),
    _noun("synth", "synth track", "シンセの曲", warmth=-5, brightness=10, acousticness=-30, complexity=5),
    _noun("orchestral", "orchestral piece", "オーケストラ曲", energy=5, warmth=5, acousticness=20, complexity=25),
    _noun("lofi", "lo-fi beat", "ローファイビート", energy=-15, warmth=10, acousticness=-10, complexity=-10, nostalgia=15),
    _noun("jazz", "jazz tune", "ジャズ", warmth=15, acousticness=15, complexity=20, nostalgia=10),
    _noun("edm", "EDM track", "EDMの曲", energy=30, warmth=-10, brightness=15, acousticness=-30, nostalgia=-10),
    _noun("folk", "folk song", "フォークソング", energy=-5, warmth=15, acousticness=25, nostalgia=15),
    _noun("rock", "rock song", "ロック", energy=25, warmth=-5, brightness=5, acousticness=-5),
    _noun("ambient", "ambient piece", "アンビエント", energy=-25, brightness=-5, acousticness=-10, complexity=-10),
    _noun("bossa_nova", "bossa nova tune", "ボサノバ", energy=-10, warmth=15, brightness=5, acousticness=20, nostalgia=10),
    _noun("chiptune", "chiptune track", "チップチューン", energy=10, brightness=20, acousticness=-30, nostalgia=20),
    _noun("string_quartet", "string quartet piece", "弦楽四重奏曲", warmth=5, acousticness=25, complexity=20, nostalgia=5),
    _noun("hiphop", "hip-hop beat", "ヒップホップ", energy=15, acousticness=-20, complexity=-5),
    # Mood adjectives.
    _adj("upbeat", "mood", "upbeat", "アップテンポな", "アップテンポで", "アップテンポだけど", "アップテンポすぎない", energy=25, brightness=15),
    _adj("calm", "mood", "calm", "落ち着いた", "落ち着いていて", "落ち着いているけど", None, energy=-25, warmth=5, complexity=-5),
    _adj("melancholic", "mood", "melancholic", "切ない", "切なくて", "切ないけど", "切なすぎない", energy=-10, warmth=-5, brightness=-20, nostalgia=10),
    _adj("warm", "mood", "warm", "温かい", "温かくて", "温かいけど", None, warmth=25, acousticness=5),
    _adj("bright", "mood", "bright", "明るい", "明るくて", "明るいけど", "明るすぎない", energy=10, brightness=25),
    _adj("dark", "mood", "dark", "暗い", "暗くて", "暗いけど", "暗すぎない", energy=-5, warmth=-15, brightness=-25),
    _adj("dreamy", "mood", "dreamy", "幻想的な", "幻想的で", "幻想的だけど", "幻想的すぎない", energy=-10, brightness=5, acousticness=-10, complexity=10),
    _adj("intense", "mood", "intense", "激しい", "激しくて", "激しいけど", "激しすぎない", energy=30, warmth=-10, complexity=10),
    _adj("cheerful", "mood", "cheerful", "楽しい", "楽しくて", "楽しいけど", None, energy=15, warmth=5, brightness=20),
    _adj("gentle", "mood", "gentle", "優しい", "優しくて", "優しいけど", None, energy=-15, warmth=15, acousticness=10),
    _adj("cold", "mood", "cold", "冷たい", "冷たくて", "冷たいけど", "冷たすぎない", warmth=-30, brightness=-5, acousticness=-10),
    _adj("nostalgic", "mood", "nostalgic", "懐かしい", "懐かしくて", "懐かしいけど", "懐かしすぎない", warmth=10, nostalgia=30),
    _adj("energetic", "mood", "energetic", "エネルギッシュな", "エネルギッシュで", "エネルギッシュだけど", None, energy=30, brightness=10),
    _adj("mellow", "mood", "mellow", "まったりした", "まったりしていて", "まったりしているけど", None, energy=-20, warmth=10, complexity=-5),
    _adj("heavy", "mood", "heavy", "重たい", "重たくて", "重たいけど", "重すぎない", energy=15, warmth=-10, brightness=-15, acousticness=-10, complexity=5),
    _adj("sparkling", "mood", "sparkling", "きらきらした", "きらきらしていて", "きらきらしているけど", None, energy=5, brightness=25, acousticness=-5),
    # Era words.
    _adj("80s", "era", "80s", "80年代風の", "80年代風で", "80年代風だけど", None, brightness=5, acousticness=-15, nostalgia=25),
    _adj("retro", "era", "retro", "レトロな", "レトロで", "レトロだけど", "レトロすぎない", warmth=5, nostalgia=25),
    _adj("vintage", "era", "vintage", "ヴィンテージ感のある", "ヴィンテージ感があって", "ヴィンテージ感があるけど", None, warmth=10, acousticness=10, nostalgia=20),
    _adj("modern", "era", "modern", "モダンな", "モダンで", "モダンだけど", "モダンすぎない", brightness=5, acousticness=-5, nostalgia=-25),
    _adj("futuristic", "era", "futuristic", "近未来的な", "近未来的で", "近未来的だけど", "近未来的すぎない", warmth=-10, brightness=10, acousticness=-20, complexity=5, nostalgia=-30),
    _adj("old_school", "era", "old-school", "昔ながらの", "昔ながらで", "昔ながらだけど", None, acousticness=5, complexity=-5, nostalgia=20),
    # Texture.
    _adj("simple", "texture", "simple", "シンプルな", "シンプルで", "シンプルだけど", "シンプルすぎない", complexity=-25),
    _adj("minimal", "texture", "minimal", "ミニマルな", "ミニマルで", "ミニマルだけど", "ミニマルすぎない", energy=-10, warmth=-5, complexity=-20),
    _adj("complex", "texture", "complex", "複雑な", "複雑で", "複雑だけど", "複雑すぎない", energy=5, complexity=25),
    _adj("intricate", "texture", "intricate", "緻密な", "緻密で", "緻密だけど", None, acousticness=5, complexity=30),
    _adj("layered", "texture", "layered", "厚みのある", "厚みがあって", "厚みがあるけど", None, energy=5, warmth=5, complexity=20),
    _adj("sparse", "texture", "sparse", "音数の少ない", "音数が少なくて", "音数が少ないけど", None, energy=-10, complexity=-20),
    _adj("busy", "texture", "busy", "にぎやかな", "にぎやかで", "にぎやかだけど", "にぎやかすぎない", energy=15, brightness=10, complexity=15),
    _adj("raw", "texture", "raw", "荒削りな", "荒削りで", "荒削りだけど", None, warmth=-5, acousticness=10, complexity=-10),
    _adj("polished", "texture", "polished", "洗練された", "洗練されていて", "洗練されているけど", None, acousticness=-10, complexity=10, nostalgia=-10),
    # Indirect scene words: the effect is implied by the setting, never named.
    _scene("rainy_sunday", "for a rainy Sunday morning", "雨の日曜の朝に聴く", energy=-20, warmth=10, brightness=-10, acousticness=15, nostalgia=10),
    _scene("neon_city", "for a night in a neon city", "ネオンきらめく夜の街に合う", energy=10, warmth=-15, brightness=-5, acousticness=-25),
    _scene("campfire", "to play around a campfire", "キャンプファイヤーを囲んで聴く", energy=-5, warmth=20, acousticness=25, nostalgia=15),
    _scene("road_trip", "for a road trip", "ドライブ旅行で聴く", energy=20, brightness=15, nostalgia=5),
    _scene("study", "for a study session", "勉強中に流す", energy=-20, brightness=-5, complexity=-15),
    _scene("childhood_summer", "that brings back childhood summers", "子どもの頃の夏を思い出す", warmth=10, brightness=15, nostalgia=30),
    _scene("winter_cafe", "for a winter café", "冬のカフェで流れるような", energy=-15, warmth=20, acousticness=15, complexity=5),
    _scene("workout", "for a workout", "筋トレ中に聴く", energy=30, acousticness=-15, complexity=-5),
    _scene("late_night_drive", "for a late-night drive", "深夜のドライブで聴く", energy=5, brightness=-15, acousticness=-15, nostalgia=5),
    _scene("sunset_beach", "for a sunset at the beach", "夕暮れのビーチで聴く", energy=-5, warmth=15, brightness=5, acousticness=5, nostalgia=10),
    _scene("space", "that feels like drifting through space", "宇宙を漂うような", energy=-5, brightness=-5, acousticness=-25, complexity=15, nostalgia=-15),
    _scene("old_album", "for looking through an old photo album", "古いアルバムを眺めながら聴く", energy=-10, warmth=15, nostalgia=30),
)


def by_key() -> dict[str, Descriptor]:
    """Descriptors by key (a fresh dict, so callers cannot mutate shared state)."""
    return {d.key: d for d in LEXICON}
