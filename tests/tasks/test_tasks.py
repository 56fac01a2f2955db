"""The Task interface: registry, the flagship plug-in's hooks, data.columns, and the config keys that depend on a task."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from campaign.cli.main import main
from campaign.config import load_config
from campaign.core.errors import ConfigError
from campaign.data.io import load_rows
from campaign.tasks import Task, TaskSpec, get_task, known_kinds, register
from campaign.tasks.columns import map_columns
from campaign.tasks.rows import DataValidationError

DEFAULT = str(Path(__file__).resolve().parents[2] / "search_spaces" / "balanced_6run.yaml")
PARAMS = {"energy": 62, "warmth": 40, "brightness": 71, "acousticness": 15, "complexity": 35, "nostalgia": 20}


# ---------------------------------------------------------------- registry


def test_unknown_kind_names_the_key_and_the_known_kinds():
    with pytest.raises(ConfigError, match=r"task\.kind: unknown task 'chess'; known kinds: .*hidden_params"):
        get_task("chess")
    with pytest.raises(ConfigError, match=r"task\.kind: unknown task 'chess'"):
        load_config(DEFAULT, {"task": {"kind": "chess"}})


def test_campaign_validate_lists_the_known_kinds(capsys):
    assert main(["validate", "--config", DEFAULT, "task.kind=chess"]) == 2
    assert "known kinds: classify, hidden_params" in capsys.readouterr().err


def test_a_registered_task_is_found_by_kind():
    class Echo(Task):
        spec = TaskSpec(kind="echo", facets=("a", "b"), facet_kind="class", facet_error="err_{facet}",
                        primary="accuracy", mode="max", valid_rate="valid_rate")

    register("echo", Echo)
    try:
        assert isinstance(get_task("echo"), Echo) and "echo" in known_kinds()
        assert get_task("echo") is get_task("echo")  # one instance per kind
    finally:
        from campaign.tasks import base

        base._REGISTRY.pop("echo"), base._INSTANCES.pop(("echo", ()), None)


@pytest.mark.parametrize("bad, key", [({"mode": "up"}, "mode"), ({"facet_error": "err"}, "facet_error")])
def test_task_spec_checks_its_fields(bad, key):
    args = {"kind": "x", "facets": ("a",), "facet_kind": "class", "facet_error": "err_{facet}", "primary": "acc",
            "mode": "max", "valid_rate": "valid_rate", **bad}
    with pytest.raises(ValueError, match=key):
        TaskSpec(**args)


def test_spec_round_trips_through_a_plain_record():
    spec = get_task("hidden_params").spec
    record = json.loads(json.dumps(spec.to_dict()))
    assert TaskSpec.from_dict(record) == spec
    assert spec.facet_key("energy", "eval") == "eval/mae_raw_energy" and spec.objective_mode == "min"


# ---------------------------------------------------------------- the flagship plug-in


def test_flagship_hooks_on_a_hand_built_row():
    task = get_task("hidden_params")
    row = {"id": "r1", "request": "  A Calm   Piano  ", "hidden_params": PARAMS}
    assert task.row_key(row) == "a calm piano"
    assert task.prompt(row, "Request: {request}\nJSON:") == "Request:   A Calm   Piano  \nJSON:"
    assert json.loads(task.target(row)) == PARAMS
    assert task.parse("no json") == (None, "no JSON object")
    errors = task.row_errors(row, json.dumps({**PARAMS, "energy": 72}))
    assert errors["facets"]["energy"] == 10 and errors["error"] == pytest.approx(10 / 6)
    assert task.row_errors(row, "{")["facets"] is None
    scores = task.score([row], [task.target(row)])
    assert scores["json_valid_rate"] == 1.0 and scores["mae_raw"] == 0.0
    assert set(task.baselines([row], [row])) == {"mean_baseline", "rule_baseline"}


# ---------------------------------------------------------------- data.columns


def _old_pipeline_file(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_rows_of_the_old_pipeline_load_with_a_column_mapping(tmp_path, capsys):
    """DESIGN.md's pipeline wrote request_text; data.columns maps it onto request."""
    path = _old_pipeline_file(tmp_path, [{"request_text": "a calm piano song", "hidden_params": PARAMS},
                                         {"request_text": "loud drums", "hidden_params": PARAMS}])
    with pytest.raises(DataValidationError) as err:
        load_rows(path)
    assert "row 1: field 'request': missing required key" in str(err.value)
    assert "field 'request_text': unexpected key" in str(err.value)
    rows = load_rows(path, get_task("hidden_params"), {"request": "request_text"})
    assert [r["request"] for r in rows] == ["a calm piano song", "loud drums"] and rows[0]["hidden_params"] == PARAMS
    assert main(["data", "validate", "--config", DEFAULT, str(path), "data.columns={request: request_text}"]) == 0
    assert "2 valid rows for task hidden_params (columns: request_text -> request)" in capsys.readouterr().out


def test_a_mapped_column_that_no_row_has_names_the_file_and_the_column(tmp_path):
    path = _old_pipeline_file(tmp_path, [{"request_text": "a", "hidden_params": PARAMS}])
    with pytest.raises(DataValidationError) as err:
        load_rows(path, get_task("hidden_params"), {"request": "prompt"})
    assert str(path) in str(err.value) and "data.columns.request names column 'prompt', which no row has" in \
        str(err.value) and "columns found: hidden_params, request_text" in str(err.value)


def test_a_row_holding_the_field_and_its_mapped_column_is_an_error():
    rows = [(1, {"request": "a", "text": "b"}), (2, "not a dict")]
    with pytest.raises(DataValidationError, match=r"f: row 1: field 'request': present both as 'request' and as the "
                                                  r"column 'text'"):
        map_columns(rows, {"request": "text"}, "f")
    assert map_columns([(2, "x")] + [(3, {"text": "b"})], {"request": "text"}, "f") == [(2, "x"), (3, {"request": "b"})]


def test_a_mapping_onto_a_field_the_task_lacks_names_the_key():
    with pytest.raises(ConfigError, match=r"data\.columns\.prompt: task 'hidden_params' has no field 'prompt'"):
        load_config(DEFAULT, {"data": {"columns": {"prompt": "request_text"}}})


def test_a_campaign_with_a_missing_column_fails_before_any_trial(tmp_path, capsys):
    path = _old_pipeline_file(tmp_path, [{"request_text": f"song {i}", "hidden_params": PARAMS} for i in range(30)])
    args = ["run", "--config", DEFAULT, f"data.source={path}", f"data.root={tmp_path / 'data'}",
            f"results_dir={tmp_path / 'results'}", "data.columns={request: text}", "tracking.wandb=disabled"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "names column 'text', which no row has" in err
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------- config keys that depend on the task


def test_force_facets_must_be_facets_of_the_task():
    with pytest.raises(ConfigError, match=r"cycles\.force_facets: unknown dimension\(s\) \['tempo'\]; task "
                                          r"'hidden_params' has \['energy'"):
        load_config(DEFAULT, {"cycles": {"force_facets": ["tempo"]}})
    with pytest.raises(ConfigError, match=r"cycles\.n_facets: must be in 1\.\.6"):
        load_config(DEFAULT, {"cycles": {"n_facets": 7}})


def test_prompt_template_must_name_the_task_prompt_fields():
    with pytest.raises(ConfigError, match=r"model\.prompt_template: must contain \{request\}"):
        load_config(DEFAULT, {"model": {"prompt_template": "Say: {text}"}})


def test_deprecated_keys_load_with_a_message_and_both_names_is_an_error():
    old = {"cycles": {"force_dims": ["energy"], "n_dims": 1}, "gate": {"min_json_valid_rate": 0.9, "mae_tolerance": 0.5}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = load_config(None, old)
    assert cfg.cycles.force_facets == ["energy"] and cfg.cycles.n_facets == 1
    assert cfg.gate.min_valid_rate == 0.9 and cfg.gate.primary_tolerance == 0.5
    notes = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert len(notes) == 4 and any("cycles.force_dims is deprecated" in n and "read as cycles.force_facets" in n
                                   for n in notes)
    assert len(cfg.deprecations) == 4
    with pytest.raises(ConfigError, match=r"gate\.mae_tolerance: deprecated name of gate\.primary_tolerance, and both"):
        load_config(None, {"gate": {"mae_tolerance": 0.5, "primary_tolerance": 0.1}})


def test_shipped_configs_use_no_deprecated_key():
    for path in (Path(DEFAULT).parent).glob("*.yaml"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            load_config(path)


def test_the_prompt_is_a_named_style_of_the_task_unless_you_write_your_own():
    cfg = load_config(DEFAULT)
    assert cfg.prompt() == ("Request: {request}\nJSON:", "task.prompt_style 'plain' of task 'hidden_params'")
    own = load_config(DEFAULT, {"model": {"prompt_template": "Q: {request}\nA:"}})
    assert own.prompt() == ("Q: {request}\nA:", "model.prompt_template")
    with pytest.raises(ConfigError, match=r"task\.prompt_style: task 'hidden_params' has the prompt styles \['plain'\]"):
        load_config(DEFAULT, {"task": {"prompt_style": "chatty"}})
    with pytest.raises(ConfigError, match=r"model\.prompt_template: set either task\.prompt_style"):
        load_config(DEFAULT, {"task": {"prompt_style": "plain"}, "model": {"prompt_template": "Q: {request}"}})


def test_a_task_without_a_generator_cannot_generate_or_add_rows(tmp_path):
    class NoGen(Task):
        spec = TaskSpec(kind="nogen", facets=("a",), facet_kind="class", facet_error="err_{facet}",
                        primary="accuracy", mode="max", valid_rate="valid_rate")
        fields = ("text", "label")
        prompt_styles = {"plain": "{text}"}
        prompt_fields = ("text",)

    register("nogen", NoGen)
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "a", "label": "a"}\n')
    base = {"task": {"kind": "nogen"}, "search": {"space": {}}, "train": {"add_ratio": 0.0}, "cycles": {"n_facets": 1}}
    try:
        with pytest.raises(ConfigError, match=r"data\.source: task 'nogen' has no row generator"):
            load_config(None, base)
        with pytest.raises(ConfigError, match=r"train\.add_ratio: task 'nogen' has no row generator"):
            load_config(None, {**base, "data": {"source": str(rows)}, "train": {"add_ratio": 0.1}})
        cfg = load_config(None, {**base, "data": {"source": str(rows)}})
        assert cfg.prompt()[0] == "{text}"
    finally:
        from campaign.tasks import base as registry

        registry._REGISTRY.pop("nogen"), registry._INSTANCES.pop(("nogen", ()), None)
