"""`campaign ab` names its two models by a word or a folder; each form resolves to one adapter or the base model."""
from __future__ import annotations

import json

import pytest

from campaign.core.errors import ConfigError
from campaign.engine.ab import resolve_model


def _adapter(folder):
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    return folder


def test_each_form_resolves_to_its_adapter(tmp_path):
    assert resolve_model("base", "A") == {"name": "base", "label": "the base model, not fine-tuned", "adapter": None}
    plain = _adapter(tmp_path / "my_adapter")
    assert resolve_model(str(plain), "A")["adapter"] == plain
    checkpoint = tmp_path / "train" / "t1" / "checkpoint_000002"
    _adapter(checkpoint / "adapter")
    assert resolve_model(str(checkpoint), "B")["adapter"] == checkpoint / "adapter"
    campaign = tmp_path / "results" / "cls"
    _adapter(campaign / "promoted" / "adapter")
    (campaign / "promoted" / "lineage.json").write_text(json.dumps({"cycle": 2, "trial": 3}))
    got = resolve_model(str(campaign), "B")
    assert got["adapter"] == campaign / "promoted" / "adapter" and "(cycle 2, trial 3)" in got["label"]
    assert resolve_model(str(campaign / "promoted"), "B")["name"] == "cls/promoted"


def test_unusable_names_say_what_was_looked_for(tmp_path):
    with pytest.raises(ConfigError, match=r"A: 'nowhere' is neither 'base' nor an existing folder"):
        resolve_model("nowhere", "A")
    with pytest.raises(ConfigError, match=r"B: .* holds no adapter: looked for adapter_config.json in it, in .*adapter"):
        resolve_model(str(tmp_path), "B")
