"""Publishing plans, cards, refusals and upload failures, on hand-built folders; nothing ever reaches the Hub."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import yaml

from campaign.data.io import sha256_file, write_json, write_table
from campaign.reporting.publish import (PublishError, describe_plan, plan_adapter_upload, plan_dataset_upload,
                                        submit_plan)
from campaign.tasks.hidden_params.datagen import generate
from campaign.tasks.hidden_params.schema import DIMS

FAKE_TOKEN = "hf_fake_secret_123"
DEAD_ENDPOINT = "http://127.0.0.1:9"  # the discard port: any accidental request is refused locally


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
    """Every test runs offline, with no token, and with the Hub endpoint pointed at a closed local port."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", DEAD_ENDPOINT)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "ENDPOINT", DEAD_ENDPOINT)


@pytest.fixture(scope="module")
def rows():
    return generate(20, seed=1)


def _write_version(folder: Path, tables: dict, **manifest) -> Path:
    for name, table_rows in tables.items():
        write_table(table_rows, folder / name)
    manifest = {"kind": "dataset_version", **manifest,
                "files": {name: sha256_file(folder / name) for name in tables}}
    write_json(manifest, folder / "manifest.json")
    return folder


@pytest.fixture
def data_root(tmp_path, rows):
    """``data/flag`` with a frozen eval set, a base version v1 and a derived version v2."""
    root = tmp_path / "data" / "flag"
    write_table(rows[18:], root / "eval" / "eval.parquet")
    eval_sha = sha256_file(root / "eval" / "eval.parquet")
    write_json({"kind": "frozen_eval", "rows": 2, "files": {"eval.parquet": eval_sha}}, root / "eval" / "manifest.json")
    _write_version(root / "v1", {"train.parquet": rows[:12], "valid.parquet": rows[12:16]}, version="v1", parent=None,
                   counts={"train": 12, "valid": 4})
    _write_version(root / "v2", {"train.parquet": rows[:12], "valid.parquet": rows[12:16],
                                 "generated.parquet": rows[16:18], "replay.parquet": rows[:3]},
                   version="v2", parent="v1", cycle=2, campaign="demo", focus_dims=["energy", "brightness"],
                   counts={"train": 12, "valid": 4, "generated_pool": 2, "replay_pool": 3},
                   summary="12 → up to 17: pools of +2 generated and +3 replayed")
    return root


def _metrics(mae: float) -> dict:
    m = {"eval/n": 2, "eval/json_valid_rate": 1.0, "eval/mae_raw": mae}
    m.update({f"eval/mae_raw_{d}": mae + i for i, d in enumerate(DIMS)})
    return m


def _campaign(tmp_path: Path, *, promoted: bool = True, base_model: str = "tiny") -> Path:
    """``results/demo`` with a promoted adapter (fake weights), its lineage, baselines and gate."""
    folder = tmp_path / "results" / "demo"
    record = {"cycle": 2, "trial": 5, "trial_id": "1ff8a101", "data_version": "v2",
              "config": {"train.lr": 0.00135, "train.epochs": 8}, "metrics": _metrics(5.3571),
              "gate": "promoted: all 4 applicable checks passed (1 n/a)", "promoted": "2026-01-01T00:00:00Z",
              "source": "results/demo/cycle_2/best_adapter"} if promoted else None
    state = {"campaign": "demo", "config": {"model": {"base_model": base_model, "quantization": "nf4",
                                                       "prompt_template": "Request: {request}\nJSON:"}},
             "promoted": record, "history": []}
    write_json(state, folder / "campaign.json")
    if not promoted:
        return folder
    adapter = folder / "promoted" / "adapter"
    write_json({"peft_type": "LORA", "r": 16}, adapter / "adapter_config.json")
    (adapter / "adapter_model.safetensors").write_bytes(b"fake weights " * 100)
    (adapter / "README.md").write_text("---\nlibrary_name: peft\n---\n# Model Card for Model ID\n")
    for name, obj in {"lineage.json": record, "metrics.json": record["metrics"], "details.json": {"eval": []},
                      "train_set.json": {"total": 17}}.items():
        write_json(obj, folder / "promoted" / name)
    write_json([{"mode": "mean_baseline", "metrics": _metrics(13.5786)},
                {"mode": "prompt_baseline", "metrics": {"eval/json_valid_rate": 0.0, "eval/mae_raw": None}}],
               folder / "baselines.json")
    write_json({"checks": [{"check": "mae_raw_energy", "status": "pass", "reason": "7.60 vs 12.09"}]},
               folder / "cycle_2" / "gate.json")
    return folder


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def _by_path(plan: dict) -> dict:
    return {f["path_in_repo"]: f for f in plan["files"]}


# ---------------------------------------------------------------- dataset plans


def test_base_version_plan_lists_splits_with_sizes_and_hashes_but_not_eval(data_root):
    plan = plan_dataset_upload(data_root / "v1", "me/flag-data")
    files = _by_path(plan)
    assert list(files) == ["data/train.parquet", "data/valid.parquet", "manifest.json"]
    assert plan["repo_type"] == "dataset" and plan["repo_id"] == "me/flag-data" and plan["private"] is True
    for f in plan["files"]:
        local = Path(f["local_path"])
        assert f["bytes"] == local.stat().st_size
        assert f["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert not any("eval" in p for p in files)
    meta = _front_matter(plan["card"])
    assert meta["license"] == "other"
    assert meta["configs"] == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/train.parquet"}, {"split": "validation", "path": "data/valid.parquet"}]}]
    assert "v1" in plan["card"] and "none (a base version)" in plan["card"]
    assert "Frozen eval set: not included" in plan["card"] and "benchmark" in plan["card"]


def test_derived_version_plan_has_pools_and_a_card_with_lineage(data_root):
    plan = plan_dataset_upload(data_root / "v2", "me/flag-data")
    assert list(_by_path(plan)) == ["data/train.parquet", "data/valid.parquet", "data/generated.parquet",
                                    "data/replay.parquet", "manifest.json"]
    card = plan["card"]
    meta = _front_matter(card)
    assert {c["config_name"] for c in meta["configs"]} == {"default", "augmentation_pools"}
    assert "tags" in meta and "qlora" in meta["tags"]
    assert "| version | `v2` |" in card and "| parent | `v1` |" in card
    assert "| focus dimensions | energy, brightness |" in card
    for path, n in [("data/train.parquet", 12), ("data/valid.parquet", 4), ("data/generated.parquet", 2),
                    ("data/replay.parquet", 3)]:
        assert f"| `{path}` | {n} |" in card
    assert "12 → up to 17" in card
    assert all(f"`{d}`" in card for d in DIMS) and "0–100" in card  # the six-dimension schema


def test_eval_set_is_uploaded_only_when_asked(data_root):
    plan = plan_dataset_upload(data_root / "v1", "me/flag-data", include_eval=True)
    files = _by_path(plan)
    assert "eval/eval.parquet" in files and "eval/manifest.json" in files
    assert files["eval/eval.parquet"]["sha256"] == sha256_file(data_root / "eval" / "eval.parquet")
    splits = _front_matter(plan["card"])["configs"][0]["data_files"]
    assert {"split": "test", "path": "eval/eval.parquet"} in splits
    assert "Never train on it" in plan["card"]


def test_tampered_dataset_file_is_refused_naming_it(data_root, rows):
    write_table(rows[:11], data_root / "v2" / "generated.parquet")
    with pytest.raises(PublishError, match=r"generated\.parquet does not match the sha256"):
        plan_dataset_upload(data_root / "v2", "me/flag-data")


def test_tampered_eval_set_is_refused_when_included(data_root):
    (data_root / "eval" / "eval.parquet").write_bytes(b"not the frozen set")
    plan_dataset_upload(data_root / "v1", "me/flag-data")  # not included: not read
    with pytest.raises(PublishError, match=r"eval\.parquet does not match"):
        plan_dataset_upload(data_root / "v1", "me/flag-data", include_eval=True)


def test_missing_dataset_file_and_non_version_folders_are_refused(data_root):
    with pytest.raises(PublishError, match="is not a dataset version"):
        plan_dataset_upload(data_root / "eval", "me/flag-data")
    with pytest.raises(PublishError, match="manifest.json is missing"):
        plan_dataset_upload(data_root, "me/flag-data")
    (data_root / "v1" / "valid.parquet").unlink()
    with pytest.raises(PublishError, match=r"valid\.parquet is listed .* but missing"):
        plan_dataset_upload(data_root / "v1", "me/flag-data")


@pytest.mark.parametrize("repo_id", ["flag-data", "a/b/c", "me/", "/x", "me/bad--name", "me/.hidden", "me/x..y",
                                     "me/with space", "me/" + "x" * 100, "me/x.git", ""])
def test_bad_repo_id_is_refused_naming_the_flag(data_root, repo_id):
    with pytest.raises(PublishError, match="--repo-id"):
        plan_dataset_upload(data_root / "v1", repo_id)


# ---------------------------------------------------------------- adapter plans


def test_adapter_plan_has_adapter_files_and_a_card_with_metrics_and_lineage(tmp_path):
    plan = plan_adapter_upload(_campaign(tmp_path), "me/flag-adapter")
    files = _by_path(plan)
    assert list(files) == ["adapter_config.json", "adapter_model.safetensors", "metrics.json", "lineage.json",
                           "train_set.json"]  # not peft's blank README.md, not the per-row details.json
    weights = files["adapter_model.safetensors"]
    assert weights["bytes"] == 1300 and weights["sha256"] == hashlib.sha256(b"fake weights " * 100).hexdigest()
    assert plan["repo_type"] == "model"
    card = plan["card"]
    meta = _front_matter(card)
    assert meta["library_name"] == "peft" and meta["tags"] == ["lora", "qlora", "peft"]
    assert "base_model" not in meta and "a locally built test model" in card
    assert "| `mae_raw` | 5.36 | 13.58 | n/a |" in card  # the adapter, then each baseline
    assert "| `json_valid_rate` | 1.000 | 1.000 | 0.000 |" in card
    assert "| `mae_raw_nostalgia` | 10.36 | 18.58 | n/a |" in card
    assert "promoted: all 4 applicable checks passed" in card and "7.60 vs 12.09" in card
    for fragment in ("| campaign | `demo` |", "| cycle | 2 |", "| trial | 5 |", "| trial_id | `1ff8a101` |",
                     "| data version | `v2` |", "| `train.lr` | 0.00135 |", "| `train.epochs` | 8 |"):
        assert fragment in card


def test_adapter_card_declares_a_hub_base_model(tmp_path):
    plan = plan_adapter_upload(_campaign(tmp_path, base_model="Qwen/Qwen2.5-0.5B-Instruct"), "me/flag-adapter")
    assert _front_matter(plan["card"])["base_model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert 'from_pretrained("me/flag-adapter")' in plan["card"]


def test_describe_plan_shows_every_file_and_says_dry_run(tmp_path):
    plan = plan_adapter_upload(_campaign(tmp_path), "me/flag-adapter")
    text = describe_plan(plan)
    for f in plan["files"]:
        assert f["path_in_repo"] in text and f["local_path"] in text and f["sha256"][:12] in text
    assert "README.md" in text and plan["card"].strip() in text
    assert "1.3 KiB" in text and "private" in text and "https://huggingface.co/me/flag-adapter" in text
    last = text.splitlines()[-1]
    assert "dry run" in last and "--submit" in last


def test_nothing_promoted_is_refused(tmp_path):
    folder = _campaign(tmp_path, promoted=False)
    with pytest.raises(PublishError, match="nothing is promoted in .*; run the campaign until a cycle passes its gate"):
        plan_adapter_upload(folder, "me/flag-adapter")


def test_not_a_campaign_folder_is_refused(tmp_path):
    with pytest.raises(PublishError, match="not a campaign folder"):
        plan_adapter_upload(tmp_path, "me/flag-adapter")


def test_promoted_folder_that_differs_from_campaign_json_is_refused(tmp_path):
    folder = _campaign(tmp_path)
    lineage = json.loads((folder / "promoted" / "lineage.json").read_text())
    write_json(lineage | {"trial_id": "deadbeef"}, folder / "promoted" / "lineage.json")
    with pytest.raises(PublishError, match="does not match the promoted record .*trial_id"):
        plan_adapter_upload(folder, "me/flag-adapter")


def test_adapter_without_weights_is_refused(tmp_path):
    folder = _campaign(tmp_path)
    (folder / "promoted" / "adapter" / "adapter_model.safetensors").unlink()
    with pytest.raises(PublishError, match="lacks adapter_config.json or adapter weights"):
        plan_adapter_upload(folder, "me/flag-adapter")


# ---------------------------------------------------------------- submit (never reaches the Hub)


def _assert_token_hidden(err: BaseException) -> None:
    shown = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    assert FAKE_TOKEN not in str(err) and FAKE_TOKEN not in repr(err) and FAKE_TOKEN not in shown


def test_submit_offline_fails_clearly_without_the_token(data_root, monkeypatch, capsys):
    plan = plan_dataset_upload(data_root / "v1", "me/flag-data")
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    with pytest.raises(PublishError) as info:
        submit_plan(plan)
    msg = str(info.value)
    assert "huggingface.co" in msg and "nothing was uploaded" in msg and "HF_HUB_OFFLINE" in msg
    _assert_token_hidden(info.value)
    assert FAKE_TOKEN not in "".join(capsys.readouterr())


def test_submit_connection_refused_fails_clearly_without_the_token(tmp_path, monkeypatch, capsys):
    """Offline mode off, so the real client runs, against a closed local port."""
    import huggingface_hub.constants as constants

    plan = plan_adapter_upload(_campaign(tmp_path), "me/flag-adapter")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(PublishError) as info:
        submit_plan(plan, token=FAKE_TOKEN)
    msg = str(info.value)
    assert "huggingface.co" in msg and "nothing was uploaded" in msg and DEAD_ENDPOINT in msg
    _assert_token_hidden(info.value)
    assert FAKE_TOKEN not in "".join(capsys.readouterr())


def test_submit_hides_the_token_even_when_an_error_echoes_it(data_root, monkeypatch):
    import huggingface_hub

    def echo_token(self, *args, **kwargs):
        raise ConnectionError(f"boom with Authorization: Bearer {FAKE_TOKEN}")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", echo_token)
    with pytest.raises(PublishError, match=r"could not reach .*huggingface\.co.*Bearer \*\*\*") as info:
        submit_plan(plan_dataset_upload(data_root / "v1", "me/flag-data"), token=FAKE_TOKEN)
    _assert_token_hidden(info.value)


def test_submit_without_a_token_names_hf_token(data_root):
    with pytest.raises(PublishError, match="HF_TOKEN") as info:
        submit_plan(plan_dataset_upload(data_root / "v1", "me/flag-data"))
    assert "nothing was uploaded" in str(info.value)


def test_submit_refuses_files_changed_since_the_plan(data_root, rows):
    plan = plan_dataset_upload(data_root / "v1", "me/flag-data")
    write_table(rows[:5], data_root / "v1" / "train.parquet")
    with pytest.raises(PublishError, match=r"train\.parquet changed since it was planned"):
        submit_plan(plan, token=FAKE_TOKEN)


def test_publish_imports_neither_ray_nor_torch():
    code = ("import sys, campaign.reporting.publish; "
            "print(sorted(m for m in ('ray', 'torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_publish_is_a_dry_run_unless_submit(tmp_path, data_root, capsys):
    from campaign.cli.main import main

    assert main(["publish", "adapter", str(_campaign(tmp_path)), "--repo-id", "me/adapter"]) == 0
    out = capsys.readouterr().out
    assert "adapter_model.safetensors" in out and "This was a dry run: nothing was uploaded" in out
    assert main(["publish", "dataset", str(data_root / "v1"), "--repo-id", "bad id"]) == 2
    assert "--repo-id" in capsys.readouterr().err
    assert main(["publish", "dataset", str(data_root / "v1"), "--repo-id", "me/data", "--submit"]) == 2
    err = capsys.readouterr().err
    assert "huggingface.co" in err and "nothing was uploaded" in err
