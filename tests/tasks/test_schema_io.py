"""User-data validation through campaign.data.io.load_rows (JSONL, Parquet, datasets folders)."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from campaign.config import DataConfig
from campaign.data.io import load_rows
from campaign.data.prepare import prepare_data
from campaign.tasks.hidden_params.schema import DIMS, DataValidationError, Problem, row_id

GOOD_PARAMS = {"energy": 10, "warmth": 20, "brightness": 30, "acousticness": 40, "complexity": 50, "nostalgia": 60}


def good(request="calm piano for a rainy night", **params):
    return {"request": request, "hidden_params": {**GOOD_PARAMS, **params}}


def write_jsonl(path: Path, rows) -> Path:
    """Write rows as JSONL; a row that is a str is written verbatim (for broken lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_error(path) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_rows(path)
    return info.value


def only_problem(err: DataValidationError) -> Problem:
    assert len(err.problems) == 1, err.problems
    return err.problems[0]


def assert_located(err: DataValidationError, path, row, field, fragment):
    """The single problem names file, row and field, both in err.problems and in str(err)."""
    p = only_problem(err)
    assert (p.file, p.row, p.field) == (str(path), row, field)
    assert fragment in p.message
    text = str(err)
    assert str(path) in text
    assert f"row {row}" in text
    assert f"field {field!r}" in text
    assert fragment in text
    assert "nothing was written" in text


# ---------------------------------------------------------------- JSONL: happy path


def test_valid_jsonl_fills_optional_fields(tmp_path):
    path = write_jsonl(tmp_path / "ok.jsonl", [
        good("calm piano for a rainy night"),
        good("雨の夜の静かなピアノ"),
        {**good("upbeat synth pop"), "id": "my-id", "lang": "en", "source": "mine"},
    ])
    rows = load_rows(path)
    assert [r["request"] for r in rows] == ["calm piano for a rainy night", "雨の夜の静かなピアノ", "upbeat synth pop"]
    assert rows[0]["id"] == row_id("calm piano for a rainy night")
    assert rows[0]["lang"] == "en" and rows[1]["lang"] == "ja"
    assert rows[0]["source"] == rows[1]["source"] == "user"
    assert (rows[2]["id"], rows[2]["lang"], rows[2]["source"]) == ("my-id", "en", "mine")
    assert set(rows[0]) == {"id", "request", "lang", "source", "hidden_params"}
    assert rows[0]["hidden_params"] == GOOD_PARAMS


def test_integral_float_accepted_as_int(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [good(energy=40.0, nostalgia=0.0)])
    (row,) = load_rows(path)
    assert row["hidden_params"]["energy"] == 40 and type(row["hidden_params"]["energy"]) is int
    assert row["hidden_params"]["nostalgia"] == 0 and type(row["hidden_params"]["nostalgia"]) is int


def test_boundaries_0_and_100_accepted(tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", [good(energy=0, warmth=100)])
    (row,) = load_rows(path)
    assert row["hidden_params"]["energy"] == 0 and row["hidden_params"]["warmth"] == 100


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text("\n" + json.dumps(good("a calm song")) + "\n\n   \n" + json.dumps(good("a loud song")) + "\n")
    assert [r["request"] for r in load_rows(path)] == ["a calm song", "a loud song"]


def test_json_suffix_is_read_as_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "rows.JSON", [good("a calm song")])
    assert load_rows(path)[0]["request"] == "a calm song"


# ---------------------------------------------------------------- JSONL: each row error


def test_missing_top_level_key(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"request": "calm piano"}])
    assert_located(load_error(path), path, 1, "hidden_params", "missing required key")


def test_missing_request_key(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [good(), {"hidden_params": GOOD_PARAMS}])
    assert_located(load_error(path), path, 2, "request", "missing required key")


def test_missing_key_inside_hidden_params(tmp_path):
    params = dict(GOOD_PARAMS)
    del params["nostalgia"]
    path = write_jsonl(tmp_path / "m.jsonl", [{"request": "calm piano", "hidden_params": params}])
    assert_located(load_error(path), path, 1, "hidden_params.nostalgia", "missing required key")


def test_extra_top_level_key(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{**good(), "tempo": 120}])
    assert_located(load_error(path), path, 1, "tempo", "unexpected key")


def test_extra_key_inside_hidden_params(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [good(tempo=120)])
    assert_located(load_error(path), path, 1, "hidden_params.tempo", "unexpected key")


@pytest.mark.parametrize("value, fragment", [
    (-1, "value -1 is out of range 0–100"),
    (101, "value 101 is out of range 0–100"),
    (40.5, "not integral"),
    (True, "got bool True"),
    (False, "got bool False"),
    ("40", "got str '40'"),
    (None, "got NoneType"),
    ([40], "got list"),
])
def test_bad_values_rejected(tmp_path, value, fragment):
    path = write_jsonl(tmp_path / "v.jsonl", [good(), good("another request", warmth=value)])
    assert_located(load_error(path), path, 2, "hidden_params.warmth", fragment)


@pytest.mark.parametrize("literal, fragment", [("NaN", "value is NaN"), ("Infinity", "value is inf"),
                                               ("-Infinity", "value is -inf")])
def test_nan_and_infinity_rejected(tmp_path, literal, fragment):
    line = json.dumps(good()).replace('"complexity": 50', f'"complexity": {literal}')
    assert literal in line
    path = write_jsonl(tmp_path / "n.jsonl", [line])
    assert_located(load_error(path), path, 1, "hidden_params.complexity", fragment)


def test_empty_or_non_string_request(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [{**good(), "request": "   "}, {**good(), "request": 5}])
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(1, "request"), (2, "request")]
    assert all("non-empty string" in p.message for p in err.problems)


def test_bad_optional_fields(tmp_path):
    path = write_jsonl(tmp_path / "o.jsonl", [{**good(), "lang": "fr"}, {**good("x y z"), "id": 7}])
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(1, "lang"), (2, "id")]


def test_hidden_params_not_an_object(tmp_path):
    path = write_jsonl(tmp_path / "h.jsonl", [{"request": "calm", "hidden_params": [1, 2, 3, 4, 5, 6]}])
    assert_located(load_error(path), path, 1, "hidden_params", "expected an object")


def test_non_object_line(tmp_path):
    path = write_jsonl(tmp_path / "l.jsonl", [good(), "[1, 2, 3]"])
    err = load_error(path)
    p = only_problem(err)
    assert (p.file, p.row, p.field) == (str(path), 2, None)
    assert "expected a JSON object, got list" in p.message
    assert f"{path}: row 2: expected a JSON object" in str(err)


def test_all_problems_reported_at_once(tmp_path):
    path = write_jsonl(tmp_path / "two.jsonl", [good(energy=-1), good("fine row"), good("third", warmth=101)])
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(1, "hidden_params.energy"), (3, "hidden_params.warmth")]
    assert str(err).startswith("2 data problem(s)")


def test_many_problems_truncated_in_message_but_all_kept(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", [good(f"row {i}", energy=-1) for i in range(25)])
    err = load_error(path)
    assert len(err.problems) == 25
    assert str(err).startswith("25 data problem(s)")
    assert "… and 5 more" in str(err)
    assert "row 20:" in str(err) and "row 21:" not in str(err)


# ---------------------------------------------------------------- JSONL: file-level errors


def test_broken_json_line_reports_physical_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join([json.dumps(good("one")), "", "   ", '{"request": "oops", "hidden_params": {',
                               json.dumps(good("five"))]) + "\n")
    err = load_error(path)
    p = only_problem(err)
    assert (p.file, p.row, p.field) == (str(path), 4, None)
    assert "broken JSON line" in p.message
    assert f"{path}: row 4: broken JSON line" in str(err)


def test_every_broken_line_reported(tmp_path):
    path = tmp_path / "broken2.jsonl"
    path.write_text("{\n" + json.dumps(good()) + "\n\nnot json\n")
    err = load_error(path)
    assert [p.row for p in err.problems] == [1, 4]


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    p = only_problem(load_error(path))
    assert (p.file, p.row) == (str(path), None)
    assert "empty" in p.message


def test_whitespace_only_file(tmp_path):
    path = tmp_path / "ws.jsonl"
    path.write_text("\n   \n\t\n")
    err = load_error(path)
    p = only_problem(err)
    assert (p.file, p.row) == (str(path), None)
    assert "empty" in p.message and str(path) in str(err)


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("request,energy\ncalm,10\n")
    err = load_error(path)
    p = only_problem(err)
    assert p.file == str(path) and "unsupported format '.csv'" in p.message
    assert ".jsonl" in str(err) and ".parquet" in str(err)


def test_missing_path(tmp_path):
    path = tmp_path / "nope.jsonl"
    err = load_error(path)
    p = only_problem(err)
    assert p.file == str(path) and "does not exist" in p.message
    assert str(path) in str(err)


# ---------------------------------------------------------------- Parquet


def write_parquet(path: Path, rows, schema=None) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def test_parquet_float_column_integral_ok_non_integral_and_nan_rejected(tmp_path):
    rows = [good("forty", energy=40.0), good("forty and a half", energy=40.5), good("not a number", energy=float("nan"))]
    rows = [{"request": r["request"], "hidden_params": {d: float(v) for d, v in r["hidden_params"].items()}} for r in rows]
    path = write_parquet(tmp_path / "f.parquet", rows)
    assert pq.read_schema(path).field("hidden_params").type.field("energy").type == pa.float64()
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(2, "hidden_params.energy"), (3, "hidden_params.energy")]
    assert "not integral" in err.problems[0].message and "NaN" in err.problems[1].message
    assert f"{path}: row 2: field 'hidden_params.energy'" in str(err)
    assert f"{path}: row 3: field 'hidden_params.energy'" in str(err)

    ok = write_parquet(tmp_path / "ok.parquet", rows[:1])
    (row,) = load_rows(ok)
    assert row["hidden_params"]["energy"] == 40 and type(row["hidden_params"]["energy"]) is int
    assert all(type(v) is int for v in row["hidden_params"].values())
    assert row["source"] == "user" and row["id"] == row_id("forty")


def test_parquet_missing_and_extra_keys(tmp_path):
    params = {d: 50 for d in DIMS if d != "warmth"}
    path = write_parquet(tmp_path / "k.parquet", [{"request": "calm", "hidden_params": {**params, "tempo": 1}, "bpm": 3}])
    err = load_error(path)
    got = {(p.row, p.field, p.message.split(" (")[0]) for p in err.problems}
    assert got == {(1, "bpm", "unexpected key"), (1, "hidden_params.warmth", "missing required key"),
                   (1, "hidden_params.tempo", "unexpected key")}


def test_parquet_missing_top_level_column(tmp_path):
    path = write_parquet(tmp_path / "r.parquet", [{"request": "calm one"}, {"request": "calm two"}])
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(1, "hidden_params"), (2, "hidden_params")]


def test_parquet_out_of_range_and_bool(tmp_path):
    schema = pa.schema([("request", pa.string()),
                        ("hidden_params", pa.struct([(d, pa.int64()) for d in DIMS]))])
    path = write_parquet(tmp_path / "o.parquet", [good("a", nostalgia=101), good("b", energy=-1)], schema=schema)
    err = load_error(path)
    assert [(p.row, p.field) for p in err.problems] == [(1, "hidden_params.nostalgia"), (2, "hidden_params.energy")]
    bools = write_parquet(tmp_path / "bool.parquet", [{"request": "x", "hidden_params": {d: True for d in DIMS}}])
    err = load_error(bools)
    assert len(err.problems) == len(DIMS) and all("bool" in p.message for p in err.problems)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_text("this is not parquet")
    p = only_problem(load_error(path))
    assert p.file == str(path) and "not a readable Parquet file" in p.message


# ---------------------------------------------------------------- datasets save_to_disk


def test_datasets_folder_valid_and_invalid(tmp_path):
    from datasets import Dataset, DatasetDict

    ok_dir = tmp_path / "ok_ds"
    Dataset.from_list([good("calm piano"), good("雨の日のジャズ")]).save_to_disk(str(ok_dir))
    rows = load_rows(ok_dir)
    assert [r["lang"] for r in rows] == ["en", "ja"]
    assert rows[1]["hidden_params"] == GOOD_PARAMS

    bad_dir = tmp_path / "bad_ds"
    Dataset.from_list([good("calm piano"), good("loud rock", energy=101), good("odd", energy=-1)]).save_to_disk(str(bad_dir))
    err = load_error(bad_dir)
    assert [(p.file, p.row, p.field) for p in err.problems] == [
        (str(bad_dir), 2, "hidden_params.energy"), (str(bad_dir), 3, "hidden_params.energy")]
    assert f"{bad_dir}: row 2: field 'hidden_params.energy'" in str(err)

    extra_dir = tmp_path / "extra_ds"
    Dataset.from_list([{**good("calm"), "mood": "sad"}]).save_to_disk(str(extra_dir))
    assert_located(load_error(extra_dir), extra_dir, 1, "mood", "unexpected key")

    dict_dir = tmp_path / "dict_ds"
    DatasetDict({"train": Dataset.from_list([good("from train split")]),
                 "test": Dataset.from_list([good("from test split")])}).save_to_disk(str(dict_dir))
    assert [r["request"] for r in load_rows(dict_dir)] == ["from train split"]

    no_train = tmp_path / "no_train_ds"
    DatasetDict({"test": Dataset.from_list([good()])}).save_to_disk(str(no_train))
    assert "no 'train' split" in only_problem(load_error(no_train)).message


def test_plain_folder_is_not_a_datasets_folder(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    p = only_problem(load_error(folder))
    assert p.file == str(folder) and "not a datasets folder" in p.message


# ---------------------------------------------------------------- nothing partial is written


def _bad_source(tmp_path) -> Path:
    rows = [good(f"good request number {i}") for i in range(12)] + [good("the bad one", energy=101)]
    return write_jsonl(tmp_path / "bad.jsonl", rows)


def test_prepare_data_with_bad_source_writes_nothing(tmp_path):
    root = tmp_path / "data"
    cfg = DataConfig(root=str(root), source=str(_bad_source(tmp_path)), eval_size=5, base_size=10)
    with pytest.raises(DataValidationError) as info:
        prepare_data(cfg)
    assert any(p.row == 13 and p.field == "hidden_params.energy" for p in info.value.problems)
    # The eval set is carved from the same (bad) source, so validation fails before anything is frozen.
    assert not (root / cfg.name / "v1").exists()
    assert not (root / cfg.name / "eval" / "eval.parquet").exists()
    assert not root.exists() or not list(root.rglob("*.parquet"))


def test_prepare_data_bad_source_after_good_eval_source_writes_no_version(tmp_path):
    root = tmp_path / "data"
    eval_src = write_jsonl(tmp_path / "eval.jsonl", [good(f"held out request {i}") for i in range(6)])
    cfg = DataConfig(root=str(root), source=str(_bad_source(tmp_path)), eval_source=str(eval_src),
                     eval_size=5, base_size=10)
    with pytest.raises(DataValidationError):
        prepare_data(cfg)
    # The eval set was frozen first (it is valid); the base version was never written.
    assert (root / cfg.name / "eval" / "manifest.json").exists()
    v1 = root / cfg.name / "v1"
    assert not (v1 / "train.parquet").exists() and not (v1 / "valid.parquet").exists()
    assert not (v1 / "manifest.json").exists()
    assert not list(root.rglob("*.tmp"))


def test_non_utf8_file_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"request": "ok", "hidden_params": {}}\n{"request": "caf\xe9"}\n')
    with pytest.raises(DataValidationError) as exc:
        load_rows(path)
    (problem,) = exc.value.problems
    assert problem.file == str(path) and problem.row == 2 and "UTF-8" in problem.message


def test_json_array_file_is_accepted(tmp_path):
    path = tmp_path / "rows.json"
    row = {"request": "a calm piano song", "hidden_params": {d: 50 for d in DIMS}}
    path.write_text(json.dumps([row, {**row, "request": "an upbeat synth track"}]))
    assert [r["request"] for r in load_rows(path)] == ["a calm piano song", "an upbeat synth track"]
    path.write_text(json.dumps([row, {**row, "hidden_params": {**row["hidden_params"], "energy": 140}}]))
    with pytest.raises(DataValidationError) as exc:
        load_rows(path)
    assert exc.value.problems[0].row == 2 and exc.value.problems[0].field == "hidden_params.energy"
