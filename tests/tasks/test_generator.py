"""The seeded teacher-data generator: determinism, schema, modifiers and distribution."""
from __future__ import annotations

import math
import random
import re
import statistics

import pytest

from campaign.tasks.hidden_params.datagen import LEXICON, MODIFIER_SCALE, Part, Plan, by_key, generate, plan_effects
from campaign.tasks.hidden_params.datagen.generator import _targets
from campaign.tasks.hidden_params.schema import DIMS, detect_lang, validate_rows



@pytest.fixture(scope="module")
def rows500():
    return generate(500, seed=0)


def test_rows_match_schema_exactly(rows500):
    assert validate_rows(enumerate(rows500, 1), "gen") == rows500
    for row in rows500:
        assert list(row) == ["id", "request", "lang", "source", "hidden_params"]
        assert list(row["hidden_params"]) == list(DIMS)
        assert all(type(v) is int for v in row["hidden_params"].values())
        assert row["lang"] == detect_lang(row["request"])
        assert row["source"] == "generated"


def test_source_and_id_prefix_are_applied():
    rows = generate(5, seed=1, source="aug-c2", id_prefix="c2-")
    assert all(r["source"] == "aug-c2" and r["id"].startswith("c2-") for r in rows)
    assert [r["id"][3:] for r in rows] == [r["id"] for r in generate(5, seed=1)]


def test_language_share(rows500):
    ja = sum(r["lang"] == "ja" for r in rows500)
    assert 200 <= ja <= 300
    assert {r["lang"] for r in generate(50, seed=2, ja_share=0.0)} == {"en"}
    assert {r["lang"] for r in generate(50, seed=2, ja_share=1.0)} == {"ja"}
    assert generate(0, seed=2) == []


def test_modifiers_appear_in_both_languages(rows500):
    en = [r["request"] for r in rows500 if r["lang"] == "en"]
    ja = [r["request"] for r in rows500 if r["lang"] == "ja"]
    for marker in ("not too ", " but ", "slightly ", "somewhat ", "very ", "really ", " for a "):
        assert any(marker in t for t in en), marker
    for marker in ("すぎない", "けど", "少し", "ちょっと", "とても", "すごく", "雨の日曜の朝に聴く"):
        assert any(marker in t for t in ja), marker
    assert not any(re.search(r"\ban? an? ", t) or re.search(r"\ba [aeiou]", t) for t in en)
    assert any(" an 80s" in t or t.startswith("an 80s") for t in en)
    # No English scaffolding leaks into Japanese requests.
    assert not any("not too" in t or " but " in t for t in ja)


def test_modifier_semantics():
    lex = by_key()
    nost, modern, piano = lex["nostalgic"], lex["modern"], lex["piano"]
    for mod, scale in (("slight", 0.5), ("very", 1.5), ("neg", -0.5)):
        eff = plan_effects(Plan(adjs=(Part(nost, mod),), noun=None, scene=None))
        assert eff["nostalgia"] == pytest.approx(30 * scale) and MODIFIER_SCALE[mod] == scale
    # "nostalgic but modern": modern wins on nostalgia; nostalgic keeps its warmth.
    eff = plan_effects(Plan(adjs=(Part(nost), Part(modern)), noun=Part(piano), scene=None, contrast=True))
    assert eff["nostalgia"] == modern.effects["nostalgia"]
    assert eff["warmth"] == nost.effects["warmth"] + piano.effects["warmth"]
    # Without the contrast, the two simply add up.
    plain = plan_effects(Plan(adjs=(Part(nost), Part(modern)), noun=None, scene=None))
    assert plain["nostalgia"] == nost.effects["nostalgia"] + modern.effects["nostalgia"]


def test_targets_are_base_plus_effects_with_bounded_noise():
    plan = Plan(adjs=(Part(by_key()["calm"], "very"),), noun=Part(by_key()["piano"]), scene=None)
    eff = plan_effects(plan)
    seen = set()
    for seed in range(200):
        out = _targets(plan, random.Random(seed))
        for d in DIMS:
            assert abs(out[d] - (50 + eff[d])) <= 2.5
            seen.add(out[d] - math.floor(50 + eff[d] + 0.5))
    assert seen == {-2, -1, 0, 1, 2}


def test_distribution_per_dim(rows500):
    for d in DIMS:
        v = [r["hidden_params"][d] for r in rows500]
        assert 10 <= statistics.pstdev(v) <= 25, d  # a sanity band, not a tuned target
        assert 30 <= statistics.mean(v) <= 70, d
        assert max(v) - min(v) >= 70, d


def test_focus_dims_stress_the_focus_dim(rows500):
    def spread(rows, d):
        return statistics.mean(abs(r["hidden_params"][d] - 50) for r in rows)

    for d in DIMS:
        focused = generate(500, seed=0, focus_dims=[d])
        assert spread(focused, d) >= spread(rows500, d) + 5, d
    assert generate(30, seed=4, focus_dims=("energy", "nostalgia")) != generate(30, seed=4)


@pytest.mark.parametrize("kwargs, name", [
    ({"n": -1}, "n"), ({"n": 2.5}, "n"), ({"seed": "0"}, "seed"),
    ({"ja_share": 1.5}, "ja_share"), ({"ja_share": -0.1}, "ja_share"),
    ({"focus_dims": ["energy", "tempo"]}, "tempo"), ({"focus_dims": "energy"}, "focus_dims"),
    ({"source": ""}, "source"), ({"id_prefix": 3}, "id_prefix"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    args = {"n": 3, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=name):
        generate(args.pop("n"), args.pop("seed"), **args)


def test_lexicon_is_well_formed():
    assert 40 <= len(LEXICON) <= 60
    assert len({d.key for d in LEXICON}) == len(LEXICON)
    assert {d.category for d in LEXICON} == {"genre", "mood", "era", "texture", "scene"}
    for d in LEXICON:
        assert d.en and d.ja and d.effects and set(d.effects) <= set(DIMS), d.key
        assert detect_lang(d.ja) == "ja" and detect_lang(d.en) == "en", d.key
        if d.role == "adj":
            assert d.ja_te and d.ja_but and (d.ja_neg is None or d.ja_neg.endswith("すぎない")), d.key
