"""Hardware profiles and memory presets (campaign/config/profiles.py): pure, no Ray, no torch."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from campaign.config.profiles import (MEMORY_PRESETS, MODEL_SHAPES, PRESET_KEYS, PROFILES, apply_preset, concurrency,
                               device_map_for, estimate_vram, get_profile, preset_changes, ray_task_options,
                               scaling_plan)
from campaign.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def plan(profile, num_workers=1, cpus_per_worker=2, gpus_per_worker=None, custom_resource=None):
    return scaling_plan(profile, num_workers=num_workers, cpus_per_worker=cpus_per_worker,
                        gpus_per_worker=gpus_per_worker, custom_resource=custom_resource)


# --- scaling plans, hand-computed -------------------------------------------------------------

@pytest.mark.parametrize("args, per_worker, trial, use_gpu, ddp", [
    (("cpu", 1, 1, 0, None), {"CPU": 1}, {"CPU": 1}, False, False),
    (("cpu", 2, 1.5, None, None), {"CPU": 1.5}, {"CPU": 3}, False, True),
    (("gpu", 1, 4, 1, None), {"CPU": 4, "GPU": 1}, {"CPU": 4, "GPU": 1}, True, False),
    (("gpu", 1, 4, None, None), {"CPU": 4, "GPU": 1}, {"CPU": 4, "GPU": 1}, True, False),
    (("gpu_ddp", 4, 2, 1, None), {"CPU": 2, "GPU": 1}, {"CPU": 8, "GPU": 4}, True, True),
    (("mig_slice", 1, 4, 1, None), {"CPU": 4, "GPU": 1, "mig_20gb": 1}, {"CPU": 4, "GPU": 1, "mig_20gb": 1}, True, False),
    (("mig_slice", 1, 4, 1, "mig_10gb"), {"CPU": 4, "GPU": 1, "mig_10gb": 1}, {"CPU": 4, "GPU": 1, "mig_10gb": 1},
     True, False),
    (("rtx3080", 1, 6, None, None), {"CPU": 6, "GPU": 1, "rtx3080": 1}, {"CPU": 6, "GPU": 1, "rtx3080": 1}, True, False),
    (("custom", 1, 8, 1, "a100_80gb"), {"CPU": 8, "GPU": 1, "a100_80gb": 1}, {"CPU": 8, "GPU": 1, "a100_80gb": 1},
     True, False),
    (("custom", 2, 8, 1, "a100_80gb"), {"CPU": 8, "GPU": 1, "a100_80gb": 1}, {"CPU": 16, "GPU": 2, "a100_80gb": 2},
     True, True),
])
def test_scaling_plan_per_profile(args, per_worker, trial, use_gpu, ddp):
    out = plan(*args)
    assert out["num_workers"] == args[1]
    assert out["resources_per_worker"] == per_worker
    assert out["trial_resources"] == trial
    assert out["use_gpu"] is use_gpu and out["ddp"] is ddp
    assert repr(args[0]) in out["why"]
    assert (f"DDP over {args[1]} workers" if ddp else "no DDP") in out["why"]


def test_every_profile_has_a_plan_and_a_default_preset_entry():
    expected = {"cpu": "tiny_cpu", "gpu": None, "gpu_ddp": None, "mig_slice": "8b_20gb_slice",
                "rtx3080": "3b_10gb", "custom": None}
    assert {name: p["default_preset"] for name, p in PROFILES.items()} == expected
    workers = {"gpu_ddp": 2}
    custom = {"custom": "a100_80gb"}
    for name in PROFILES:
        out = plan(name, num_workers=workers.get(name, 1), custom_resource=custom.get(name))
        assert out["use_gpu"] is (name != "cpu")


def test_implied_gpus_are_said_in_why():
    assert "implied by the profile" in plan("gpu")["why"]
    assert "implied" not in plan("gpu", gpus_per_worker=1)["why"]


def test_ray_task_options_carry_the_custom_resource():
    assert ray_task_options(plan("mig_slice", cpus_per_worker=4)) == {"num_cpus": 4, "num_gpus": 1,
                                                                     "resources": {"mig_20gb": 1}}
    assert ray_task_options(plan("cpu")) == {"num_cpus": 2, "num_gpus": 0, "resources": {}}


# --- every inconsistent combination names its key ---------------------------------------------

@pytest.mark.parametrize("kwargs, key, fix", [
    ({"profile": "mig"}, "resources.profile", "did you mean 'mig_slice'"),
    ({"profile": "tpu"}, "resources.profile", "choose one of cpu, gpu"),
    ({"profile": "gpu", "gpus_per_worker": 0}, "resources.gpus_per_worker", "implies 1 GPU per worker"),
    ({"profile": "gpu_ddp", "num_workers": 2, "gpus_per_worker": 0}, "resources.gpus_per_worker", "set resources.gpus_per_worker: 1"),
    ({"profile": "mig_slice", "gpus_per_worker": 0}, "resources.gpus_per_worker", "implies 1"),
    ({"profile": "rtx3080", "gpus_per_worker": 0.5}, "resources.gpus_per_worker", "exactly one device"),
    ({"profile": "gpu", "gpus_per_worker": 2}, "resources.gpus_per_worker", "resources.profile: gpu_ddp"),
    ({"profile": "mig_slice", "num_workers": 2}, "resources.num_workers", "never DDP across MIG slices"),
    ({"profile": "gpu_ddp", "num_workers": 1}, "resources.num_workers", "set resources.num_workers: 2 or more"),
    ({"profile": "gpu", "num_workers": 2}, "resources.num_workers", "resources.profile: gpu_ddp"),
    ({"profile": "rtx3080", "num_workers": 2}, "resources.num_workers", "set resources.num_workers: 1"),
    ({"profile": "custom"}, "resources.custom_resource", "a100_80gb"),
    ({"profile": "custom", "custom_resource": ""}, "resources.custom_resource", "needs the name"),
    ({"profile": "custom", "custom_resource": "GPU"}, "resources.custom_resource", "not a custom resource name"),
    ({"profile": "gpu", "custom_resource": "a100_80gb"}, "resources.custom_resource", "resources.profile: custom"),
    ({"profile": "cpu", "gpus_per_worker": 1}, "resources.gpus_per_worker", "set resources.gpus_per_worker: 0"),
    ({"profile": "cpu", "num_workers": 0}, "resources.num_workers", ">= 1"),
    ({"profile": "cpu", "cpus_per_worker": 0}, "resources.cpus_per_worker", "> 0"),
])
def test_inconsistent_combinations_name_key_and_fix(kwargs, key, fix):
    with pytest.raises(ConfigError) as err:
        plan(**kwargs)
    assert str(err.value).startswith(key + ":")
    assert fix in str(err.value)


def test_get_profile():
    assert get_profile("gpu")["gpus_per_worker"] == 1
    with pytest.raises(ConfigError, match=r"^resources\.profile: .*did you mean 'gpu_ddp'"):
        get_profile("gpu-ddp")


# --- concurrency -------------------------------------------------------------------------------

def test_three_mig_slices_run_three_trials():
    trial = plan("mig_slice", cpus_per_worker=4)["trial_resources"]
    n, why = concurrency(trial, {"CPU": 16, "GPU": 3, "mig_20gb": 3}, num_samples=6, max_concurrent=None)
    assert n == 3  # CPU 16 // 4 = 4, GPU 3, mig_20gb 3
    assert "limited by GPU, mig_20gb" in why and "16 CPU / 4 per trial = 4" in why


def test_rtx3080_runs_one_trial():
    trial = plan("rtx3080", cpus_per_worker=4)["trial_resources"]
    assert concurrency(trial, {"CPU": 12, "GPU": 1, "rtx3080": 1}, 6, None)[0] == 1


def test_cpu_concurrency_matches_the_runner_rule():
    trial = plan("cpu", cpus_per_worker=1)["trial_resources"]
    # runner: a 2-core machine starts Ray with 3 logical CPUs; each trial needs 1 + 0.01
    assert concurrency(trial, {"CPU": 3}, 6, None, coordinator_cpu=0.01)[0] == 2
    assert concurrency(trial, {"CPU": 3}, 6, None)[0] == 3


def test_ddp_trial_needs_all_its_gpus():
    trial = plan("gpu_ddp", num_workers=4, cpus_per_worker=2)["trial_resources"]
    assert concurrency(trial, {"CPU": 64, "GPU": 8}, 6, None)[0] == 2
    with pytest.raises(ConfigError, match=r"^resources: one trial needs more than the cluster has \(.*3 GPU / 4"):
        concurrency(trial, {"CPU": 64, "GPU": 3}, 6, None)


def test_num_samples_and_max_concurrent_cap():
    trial = plan("gpu")["trial_resources"]
    n, why = concurrency(trial, {"CPU": 64, "GPU": 8}, 3, None)
    assert (n, "capped by search.num_samples = 3" in why) == (3, True)
    n, why = concurrency(trial, {"CPU": 64, "GPU": 8}, 6, 2)
    assert n == 2 and why.startswith("resources.max_concurrent = 2")
    n, why = concurrency(trial, {"CPU": 64, "GPU": 1}, 6, 4)
    assert n == 4 and "the rest wait for resources" in why


def test_missing_custom_resource_says_how_to_declare_it():
    trial = plan("mig_slice", cpus_per_worker=4)["trial_resources"]
    with pytest.raises(ConfigError) as err:
        concurrency(trial, {"CPU": 16, "GPU": 3}, 6, None)
    msg = str(err.value)
    assert msg.startswith("resources.custom_resource:") and "'mig_20gb'" in msg
    assert """ray start --resources='{"mig_20gb":3}'""" in msg and "--num-gpus=3" in msg


def test_missing_gpu_is_an_error():
    with pytest.raises(ConfigError, match=r"^resources: one trial needs 1 GPU but the cluster has none"):
        concurrency(plan("gpu")["trial_resources"], {"CPU": 16}, 6, None)


def test_concurrency_rejects_bad_counts():
    with pytest.raises(ConfigError, match=r"^search\.num_samples"):
        concurrency({"CPU": 1}, {"CPU": 4}, 0, None)
    with pytest.raises(ConfigError, match=r"^resources\.max_concurrent"):
        concurrency({"CPU": 1}, {"CPU": 4}, 6, 0)


# --- device_map ----------------------------------------------------------------------------------

@pytest.mark.parametrize("quant, use_gpu, world, rank, expected", [
    ("nf4", True, 1, 0, {"": 0}),
    ("int8", True, 1, 0, {"": 0}),
    ("nf4", True, 4, 3, {"": 3}),
    ("int8", True, 2, 1, {"": 1}),
    ("none", True, 1, 0, {"": 0}),
    ("none", True, 2, 1, {"": 1}),
    ("nf4", False, 1, 0, None),
    ("none", False, 2, 1, None),
])
def test_device_map(quant, use_gpu, world, rank, expected):
    assert device_map_for(quant, use_gpu, world, rank) == expected


def test_device_map_is_never_auto():
    for quant in ("nf4", "int8", "none"):
        for world in (1, 2, 8):
            assert device_map_for(quant, True, world, world - 1) != "auto"


def test_device_map_rejects_bad_input():
    with pytest.raises(ConfigError, match=r"^model\.quantization"):
        device_map_for("fp4", True, 1, 0)
    with pytest.raises(ValueError, match="local_rank"):
        device_map_for("nf4", True, 2, 2)


# --- memory presets ------------------------------------------------------------------------------

def test_presets_have_values_sources_and_notes():
    assert {"3b_10gb", "8b_20gb_slice", "phi35_20gb", "tiny_cpu"} <= set(MEMORY_PRESETS)
    for name, p in MEMORY_PRESETS.items():
        assert set(p["values"]) == set(PRESET_KEYS), name
        assert p["sources"] and all(isinstance(s, str) and s for s in p["sources"]), name
        assert p["pairing"] and p["notes"] and p["evidence"], name
        assert p["values"]["model.quantization"] in ("nf4", "int8", "none")
        assert isinstance(p["values"]["train.gradient_checkpointing"], bool)


def test_preset_values_as_specified():
    v = {name: p["values"] for name, p in MEMORY_PRESETS.items()}
    assert v["8b_20gb_slice"] == {"train.batch_size": 2, "train.grad_accum": 4, "model.max_seq_len": 1024,
                                  "train.gradient_checkpointing": True, "model.quantization": "nf4"}
    assert v["tiny_cpu"] == {"train.batch_size": 8, "train.grad_accum": 1, "model.max_seq_len": 128,
                             "train.gradient_checkpointing": False, "model.quantization": "nf4"}
    assert v["3b_10gb"]["train.batch_size"] in (1, 2) and 8 <= v["3b_10gb"]["train.grad_accum"] <= 16
    assert v["3b_10gb"]["model.max_seq_len"] == 512 and v["3b_10gb"]["train.gradient_checkpointing"]
    assert (v["phi35_20gb"]["train.batch_size"], v["phi35_20gb"]["train.grad_accum"]) == (4, 4)


def test_gpu_presets_cite_qlora_and_say_they_are_estimates():
    for name, p in MEMORY_PRESETS.items():
        if p["vram_gb"] is None:
            continue
        text = " ".join(p["sources"])
        assert "arXiv:2305.14314" in text and "peft" in text, name
        assert "not measured" in p["notes"] or "not measured" in p["evidence"], name
    assert any("DESIGN.md" in s for s in MEMORY_PRESETS["8b_20gb_slice"]["sources"])


def test_tiny_cpu_preset_matches_the_default_campaign():
    from campaign.config import read_yaml

    cfg = read_yaml((ROOT / "search_spaces/balanced_6run.yaml").read_text(encoding="utf-8"))
    assert cfg["train"]["batch_size"] == MEMORY_PRESETS["tiny_cpu"]["values"]["train.batch_size"]
    assert cfg["model"]["quantization"] == MEMORY_PRESETS["tiny_cpu"]["values"]["model.quantization"]


def test_estimates_fit_with_headroom_and_match_the_notes():
    for name, p in MEMORY_PRESETS.items():
        if p["shape"] is None:
            continue
        est = estimate_vram(MODEL_SHAPES[p["shape"]], p["values"], lora_r=p.get("lora_r", 16))
        assert est["total"] <= 0.8 * p["vram_gb"], (name, est)
        assert f"= {est['total']:.2f} GiB of {p['vram_gb']}" in p["notes"], name
        for term in ("weights", "embeddings", "logits"):
            assert f"{est[term]:.2f} GiB" in p["notes"], (name, term)


def test_checkpointing_is_what_makes_the_20gb_presets_fit():
    for name in ("8b_20gb_slice", "phi35_20gb", "phi35_int8_20gb"):
        p = MEMORY_PRESETS[name]
        off = dict(p["values"], **{"train.gradient_checkpointing": False})
        total = estimate_vram(MODEL_SHAPES[p["shape"]], off, lora_r=p.get("lora_r", 16))["total"]
        assert total > 0.85 * p["vram_gb"] and f"{total:.2f} GiB" in p["notes"]


def test_estimate_hand_check_8b():
    est = estimate_vram(MODEL_SHAPES["qwen3-8b"], MEMORY_PRESETS["8b_20gb_slice"]["values"])
    linear = 36 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 12288)
    assert linear == 6_945_767_424
    assert est["weights"] == round(linear * (4.127 / 8) / 2 ** 30, 2)
    assert est["embeddings"] == round(151936 * 4096 * 2 * 4 / 2 ** 30, 2)
    assert est["logits"] == round(3 * 2 * 1024 * 151936 * 4 / 2 ** 30, 2)


# --- preset changes ------------------------------------------------------------------------------

def _config():
    return {"model": {"base_model": "Qwen/Qwen3-8B", "quantization": "nf4", "max_seq_len": 128},
            "train": {"lr": 2e-4, "batch_size": 16, "grad_accum": 1, "gradient_checkpointing": False},
            "resources": {"profile": "mig_slice"}}


def test_preset_changes_are_exact_and_skip_unchanged_keys():
    assert preset_changes(_config(), "8b_20gb_slice") == [
        {"key": "train.batch_size", "from": 16, "to": 2},
        {"key": "train.grad_accum", "from": 1, "to": 4},
        {"key": "model.max_seq_len", "from": 128, "to": 1024},
        {"key": "train.gradient_checkpointing", "from": False, "to": True},
    ]


def test_apply_preset_returns_a_new_dict_and_leaves_the_input_untouched():
    cfg = _config()
    before = copy.deepcopy(cfg)
    new, changes = apply_preset(cfg, "3b_10gb")
    assert cfg == before
    assert new is not cfg and new["train"] is not cfg["train"]
    assert new["train"]["batch_size"] == 2 and new["train"]["grad_accum"] == 8
    assert new["model"]["max_seq_len"] == 512 and new["train"]["gradient_checkpointing"] is True
    assert new["train"]["lr"] == 2e-4 and new["model"]["base_model"] == "Qwen/Qwen3-8B"
    assert changes == preset_changes(cfg, "3b_10gb")
    assert apply_preset(new, "3b_10gb")[1] == []  # applying twice changes nothing


def test_preset_on_a_partial_config_records_missing_keys_as_none():
    new, changes = apply_preset({}, "tiny_cpu")
    assert [c["from"] for c in changes] == [None] * 5
    assert new == {"train": {"batch_size": 8, "grad_accum": 1, "gradient_checkpointing": False},
                   "model": {"max_seq_len": 128, "quantization": "nf4"}}


def test_bool_and_int_are_not_confused():
    cfg = {"train": {"batch_size": 8, "grad_accum": 1, "gradient_checkpointing": 0},
           "model": {"max_seq_len": 128, "quantization": "nf4"}}
    assert preset_changes(cfg, "tiny_cpu") == [{"key": "train.gradient_checkpointing", "from": 0, "to": False}]


def test_unknown_preset_names_its_key():
    with pytest.raises(ConfigError, match=r"^resources\.memory_preset: unknown preset '8b_20gb'; did you mean"):
        preset_changes(_config(), "8b_20gb")


def test_changes_are_json_serialisable():
    json.dumps(apply_preset(_config(), "phi35_20gb")[1])


# --- purity --------------------------------------------------------------------------------------

def test_module_imports_neither_ray_nor_torch():
    code = ("import sys, campaign.config.profiles; "
            "print(','.join(m for m in ('ray', 'torch', 'transformers', 'peft', 'bitsandbytes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_module_shape():
    import inspect

    import campaign.config.profiles as mod

    assert mod.__doc__ and "never DDP across MIG slices" in mod.__doc__
    for name in mod.__all__:
        assert hasattr(mod, name), name
    for name, fn in inspect.getmembers(mod, inspect.isfunction):
        if fn.__module__ == mod.__name__:
            assert len(inspect.getsourcelines(fn)[0]) <= 50, name


def test_docs_list_every_profile_and_preset():
    text = (ROOT / "docs/PROFILES.md").read_text(encoding="utf-8")
    for name in [*PROFILES, *MEMORY_PRESETS]:
        assert re.search(rf"`{name}`", text), name
    assert "resources.profile: mig_slice" in text and "resources.memory_preset: 8b_20gb_slice" in text
