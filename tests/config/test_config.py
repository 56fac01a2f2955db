"""Campaign configuration: defaults, shipped YAML files, key/type/value checks, search spaces, overrides."""
from __future__ import annotations

from pathlib import Path

import pytest

from campaign.config import CampaignConfig, ConfigError, load_config, parse_overrides
from campaign.config.search import SearchConfig, flatten, nested

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "search_spaces").glob("*.yaml"))


def config_error(overrides=None, path=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


# ---------------------------------------------------------------- defaults and shipped files


def test_defaults_build():
    cfg = load_config()
    assert isinstance(cfg, CampaignConfig)
    assert cfg.to_dict() == CampaignConfig().to_dict()
    assert cfg.train.lr == 2e-3 and cfg.search.num_samples == 6 and cfg.search.space == {}
    assert cfg.results_path() == Path("results") / "default"
    assert cfg.search.tune_space() == {}


def test_there_are_shipped_search_spaces():
    assert SHIPPED, "search_spaces/*.yaml is empty"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_yaml_loads_and_default_point_is_in_space(path):
    from ray.tune.search.sample import Categorical, Float, Integer

    cfg = load_config(path)
    assert cfg.search.space, f"{path.name} searches nothing"
    space = cfg.search.tune_space()
    assert flatten(space).keys() == cfg.search.space.keys()
    point = cfg.search.default_point(cfg)
    assert set(point) == {k.replace(".", "/") for k in cfg.search.space}
    for key, domain in flatten(space).items():
        value = point[key.replace(".", "/")]
        section, name = key.split(".")
        assert value == getattr(getattr(cfg, section), name)
        if isinstance(domain, Categorical):
            assert value in domain.categories, key
        elif isinstance(domain, Integer):
            assert domain.lower <= value < domain.upper, key  # Tune's randint upper is exclusive
        else:
            assert isinstance(domain, Float)
            assert domain.lower <= value <= domain.upper, key


def test_randint_high_is_inclusive_in_yaml():
    cfg = load_config(overrides={"train": {"epochs": 4},
                                 "search": {"space": {"train.epochs": {"type": "randint", "low": 2, "high": 4}}}})
    domain = cfg.search.tune_space()["train"]["epochs"]
    assert (domain.lower, domain.upper) == (2, 5)


def test_nested_and_flatten_are_inverse():
    flat = {"train.lr": 1, "train.epochs": 2, "lora.r": 8}
    assert nested(flat) == {"train": {"lr": 1, "epochs": 2}, "lora": {"r": 8}}
    assert flatten(nested(flat)) == flat


# ---------------------------------------------------------------- unknown keys and types


def test_unknown_key_names_dotted_key_and_suggests():
    msg = config_error({"train": {"lrr": 0.001}})
    assert "train.lrr: unknown key" in msg and "did you mean 'lr'?" in msg
    msg = config_error({"tracking": {"wandb_projet": "x"}})
    assert "tracking.wandb_projet" in msg and "'wandb_project'" in msg
    msg = config_error({"trian": {}})
    assert "trian: unknown key" in msg and "'train'" in msg


def test_unknown_key_without_close_match_lists_valid_keys():
    msg = config_error({"lora": {"zzzzzz": 1}})
    assert "lora.zzzzzz: unknown key; valid keys: r, alpha, dropout, target_modules, modules_to_save" in msg


@pytest.mark.parametrize("overrides, key, fragment", [
    ({"train": {"lr": "fast"}}, "train.lr", "expected float, got str 'fast'"),
    ({"train": {"epochs": True}}, "train.epochs", "expected int, got bool True"),
    ({"train": {"epochs": 2.0}}, "train.epochs", "expected int, got float 2.0"),
    ({"train": {"lr": True}}, "train.lr", "expected float, got bool True"),
    ({"model": {"double_quant": "yes"}}, "model.double_quant", "expected bool"),
    ({"name": 5}, "name", "expected str"),
    ({"lora": {"modules_to_save": "lm_head"}}, "lora.modules_to_save", "expected a list"),
    ({"lora": {"modules_to_save": [1]}}, "lora.modules_to_save", "expected str"),
    ({"train": {"max_steps": 1.5}}, "train.max_steps", "expected int or null"),
    ({"train": 3}, "train", "expected a mapping"),
])
def test_wrong_types_name_the_key(overrides, key, fragment):
    msg = config_error(overrides)
    assert f"{key}: " in msg and fragment in msg, msg


def test_int_is_accepted_for_float_and_union_fields():
    cfg = load_config(overrides={"train": {"weight_decay": 0, "max_steps": 3}, "resources": {"cpus_per_worker": 2},
                                 "lora": {"target_modules": ["q_proj", "v_proj"]}})
    assert cfg.train.weight_decay == 0.0 and type(cfg.train.weight_decay) is float
    assert type(cfg.resources.cpus_per_worker) is float
    assert cfg.train.max_steps == 3 and cfg.lora.target_modules == ["q_proj", "v_proj"]


# ---------------------------------------------------------------- value checks


@pytest.mark.parametrize("overrides, key", [
    ({"train": {"lr": 0.0}}, "train.lr"),
    ({"train": {"lr": 1.5}}, "train.lr"),
    ({"train": {"epochs": 0}}, "train.epochs"),
    ({"train": {"add_ratio": 2.5}}, "train.add_ratio"),
    ({"train": {"max_steps": 0}}, "train.max_steps"),
    ({"model": {"quantization": "fp4"}}, "model.quantization"),
    ({"model": {"prompt_template": "no placeholder"}}, "model.prompt_template"),
    ({"lora": {"r": 0}}, "lora.r"),
    ({"lora": {"dropout": 1.0}}, "lora.dropout"),
    ({"lora": {"target_modules": []}}, "lora.target_modules"),
    ({"data": {"valid_fraction": 0.5}}, "data.valid_fraction"),
    ({"data": {"valid_fraction": 0.0}}, "data.valid_fraction"),
    ({"data": {"seed": 7919}}, "data.eval_seed"),
    ({"data": {"source": "/definitely/not/here.jsonl"}}, "data.source"),
    ({"data": {"min_chars": 10, "max_chars": 10}}, "data.min_chars"),
    ({"resources": {"num_workers": 0}}, "resources.num_workers"),
    ({"resources": {"max_concurrent": 0}}, "resources.max_concurrent"),
    ({"tracking": {"wandb": "sometimes"}}, "tracking.wandb"),
    ({"search": {"mode": "avg"}}, "search.mode"),
    ({"search": {"sampler": "grid"}}, "search.sampler"),
    ({"search": {"scheduler": "pbt"}}, "search.scheduler"),
    ({"search": {"num_samples": 0}}, "search.num_samples"),
    ({"name": "a/b"}, "name"),
])
def test_value_checks_name_their_key(overrides, key):
    msg = config_error(overrides)
    assert msg.startswith(f"config: {key}: "), msg


def test_eval_seed_check_applies_both_ways():
    assert "data.eval_seed" in config_error({"data": {"eval_seed": 0}})
    cfg = load_config(overrides={"data": {"seed": 1, "eval_seed": 2}})
    assert (cfg.data.seed, cfg.data.eval_seed) == (1, 2)


# ---------------------------------------------------------------- search.space


def space_error(space: dict, **extra) -> str:
    return config_error({"search": {"space": space}, **extra})


@pytest.mark.parametrize("key, spec, fragment", [
    ("train.lr", {"type": "normal", "low": 1e-3, "high": 5e-3}, "expected {type: one of"),
    ("train.lr", "loguniform", "expected {type: one of"),
    ("train.lr", {"type": "uniform", "low": 1e-3}, "missing ['high']"),
    ("train.epochs", {"type": "choice", "values": [3], "low": 1}, "unexpected ['low']"),
    ("train.lr", {"type": "quniform", "low": 1e-3, "high": 5e-3}, "missing ['q']"),
    ("train.lr", {"type": "uniform", "low": 5e-3, "high": 5e-3}, "need numeric low < high"),
    ("train.lr", {"type": "uniform", "low": 5e-3, "high": 1e-3}, "need numeric low < high"),
    ("train.lr", {"type": "uniform", "low": "a", "high": 1e-3}, "need numeric low < high"),
    ("train.lr", {"type": "loguniform", "low": 0.0, "high": 5e-3}, "loguniform needs low > 0"),
    ("train.epochs", {"type": "choice", "values": []}, "values must be a non-empty list"),
    ("lr", {"type": "uniform", "low": 0.0, "high": 1.0}, "keys are 'section.field'"),
    ("train.lr.x", {"type": "uniform", "low": 0.0, "high": 1.0}, "keys are 'section.field'"),
    ("data.base_size", {"type": "choice", "values": [500]}, "only model/lora/train fields can be searched"),
    ("search.seed", {"type": "choice", "values": [0]}, "only model/lora/train fields can be searched"),
    ("foo.bar", {"type": "choice", "values": [0]}, "only model/lora/train fields can be searched"),
    ("name.x", {"type": "choice", "values": [0]}, "only model/lora/train fields can be searched"),
    ("train.lrr", {"type": "uniform", "low": 0.0, "high": 0.5}, "train has no field 'lrr'"),
    ("train.lr", {"type": "loguniform", "low": 3e-3, "high": 5e-3}, "the config's own value 0.002 is outside"),
    ("lora.r", {"type": "choice", "values": [4, 8]}, "the config's own value 16 is outside"),
])
def test_search_space_errors_name_the_key(key, spec, fragment):
    msg = space_error({key: spec})
    assert f"search.space.{key}: " in msg and fragment in msg, msg


def test_out_of_range_default_allowed_when_not_evaluated_first():
    space = {"train.lr": {"type": "loguniform", "low": 3e-3, "high": 5e-3}}
    cfg = load_config(overrides={"search": {"space": space, "evaluate_default_first": False}})
    assert cfg.search.space == space
    # ...and the same range is fine once the config's own value is inside it.
    assert load_config(overrides={"train": {"lr": 4e-3}, "search": {"space": space}}).train.lr == 4e-3


def test_search_config_alone_checks_specs():
    with pytest.raises(ConfigError, match=r"search\.space\.train\.lr: "):
        SearchConfig(space={"train.lr": {"type": "uniform"}})


# ---------------------------------------------------------------- overrides and files


def test_parse_overrides():
    got = parse_overrides(["train.lr=0.0003", "search.num_samples=2", "tracking.weave=true", "train.max_steps=null",
                           "lora.target_modules=[q_proj, v_proj]", "name=a=b", " data.name = x "])
    assert got == {"train": {"lr": 0.0003, "max_steps": None}, "search": {"num_samples": 2},
                   "tracking": {"weave": True}, "lora": {"target_modules": ["q_proj", "v_proj"]},
                   "name": "a=b", "data": {"name": "x"}}
    assert parse_overrides([]) == {}


def test_parse_overrides_rejects_missing_equals():
    with pytest.raises(ConfigError, match="override 'noequals': expected key=value"):
        parse_overrides(["train.lr=0.1", "noequals"])


def test_load_config_applies_overrides_over_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: filed\ntrain:\n  lr: 1.0e-3\n  epochs: 5\nsearch:\n  num_samples: 4\n")
    cfg = load_config(path, ["train.epochs=7", "search.mode=max"])
    assert (cfg.name, cfg.train.lr, cfg.train.epochs) == ("filed", 1e-3, 7)
    assert (cfg.search.num_samples, cfg.search.mode) == (4, "max")
    cfg = load_config(path, {"train": {"lr": 0.01}})
    assert (cfg.train.lr, cfg.train.epochs) == (0.01, 5)  # merged, not replaced


def test_errors_from_a_file_name_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lrr: 1.0e-3\n")
    msg = config_error(path=path)
    assert msg.startswith(f"{path}: train.lrr: unknown key")


def test_missing_config_file(tmp_path):
    path = tmp_path / "missing.yaml"
    msg = config_error(path=path)
    assert str(path) in msg and "does not exist" in msg


def test_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: {lr: [1,\n")
    msg = config_error(path=path)
    assert msg.startswith(f"{path}: not valid YAML")


def test_empty_yaml_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert load_config(path).to_dict() == CampaignConfig().to_dict()


def test_scientific_notation_without_dot_is_a_float(tmp_path):
    cfg = load_config(overrides=["train.lr=3e-4"])
    assert cfg.train.lr == 3e-4
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 5e-4\n")
    assert load_config(path).train.lr == 5e-4


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "hello\n", "5\n"])
def test_non_mapping_yaml_names_the_file(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"bad\.yaml: expected a mapping"):
        load_config(path)


# ---------------------------------------------------------------- model.compute_dtype


def test_compute_dtype_defaults_to_auto():
    assert load_config(None).model.compute_dtype == "auto"
    for path in SHIPPED:
        assert load_config(path).model.compute_dtype == "auto", path.name


def test_compute_dtype_unknown_value_names_the_key():
    message = config_error(["model.compute_dtype=bf16"])
    assert "model.compute_dtype:" in message and "'bf16'" in message and "auto" in message


def test_cycle_settings_that_make_the_loop_meaningless_name_their_key():
    two = {"cycles": {"count": 2}}

    def err(overrides):
        return config_error(overrides).removeprefix("config: ")

    # a control with no previous cycle
    assert err({"cycles": {"count": 1, "control": True}}).startswith("cycles.control: a control re-runs")
    assert load_config(None, {"cycles": {"count": 1}}).cycles.control_on()  # unset: on, from cycle 2
    msg = err({"search": {"space": {"train.focus_ratio": {"type": "uniform", "low": 0.0, "high": 0.2}}}})
    assert msg.startswith("search.space.train.focus_ratio: focus_ratio means rows for the focus facets")
    msg = err({"cycles": {"count": 2, "space": {"train.lr": {"type": "uniform", "low": 0.1, "high": 0.2}}}})
    assert msg.startswith("cycles.space.train.lr: only the data ratios of cycles >= 2")
    msg = err({"cycles": {"count": 2, "space": {"train.focus_ratio": {"type": "uniform", "low": 0.3}}}})
    assert msg.startswith("cycles.space.train.focus_ratio: uniform takes ['low', 'high']")
    msg = err({**two, "cycles": {"count": 2, "space": {
        "train.focus_ratio": {"type": "uniform", "low": 0.05, "high": 0.3}}}, "train": {"focus_ratio": 0.1}})
    assert msg.startswith("cycles.space.train.focus_ratio: the control trial adds nothing on top (0)")
    msg = err({"cycles": {"count": 2, "space": {
        "train.focus_ratio": {"type": "uniform", "low": 0.0, "high": 0.3}}}, "train": {"focus_ratio": 0.5}})
    assert msg.startswith("cycles.space.train.focus_ratio: the config's own train.focus_ratio = 0.5 is outside")
    assert err({"cycles": {"count": 2, "space": {}}}).startswith("cycles.control: the control sets")
    assert err({**two, "search": {"num_samples": 1}}).startswith("cycles.control: the control takes one")
    ok = load_config(None, {"cycles": {"count": 2, "control": False, "space": {}}, "search": {"num_samples": 1}})
    assert not ok.cycles.control_on() and ok.cycles.data_space(True) == {}
    assert set(load_config(None, two).cycles.data_space(True)) == {"train.focus_ratio", "train.replay_ratio"}
    assert err({"cycles": {"hard_by": "mae"}}).startswith("cycles.hard_by: must be 'error' or 'relative'")
    assert load_config(None, {"cycles": {"count": 2, "hard_by": "relative"}}).cycles.hard_by == "relative"
