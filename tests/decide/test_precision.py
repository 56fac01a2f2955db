"""model.compute_dtype: auto: the rule on hand-built probes, the CPU probe on a fake /proc/cpuinfo, the session's use."""
from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from campaign.config import DTYPES, load_config
from campaign.core.errors import ConfigError
from campaign.decide import precision
from campaign.decide.precision import read_cpuinfo, resolve_compute_dtype
from trainables import probe
from trainables.probe import probe_device

REPO = Path(__file__).resolve().parents[2]

AVX2 = {"device": "cpu", "cpu_capability": "AVX2", "cpu_flags": ["avx2"], "cpu_model": "AMD EPYC"}
AVX512 = {"device": "cpu", "cpu_capability": "AVX512", "cpu_flags": ["avx2", "avx512f"], "cpu_model": "Intel Xeon"}
AVX512_BF16 = {"device": "cpu", "cpu_capability": "AVX512", "cpu_flags": ["avx2", "avx512f", "avx512_bf16"],
               "cpu_model": "AMD EPYC"}
AMX = {"device": "cpu", "cpu_capability": "AVX512", "cpu_flags": ["avx2", "avx512f", "amx_bf16", "amx_tile"],
       "cpu_model": "Intel Xeon Platinum 8480+"}
ARM = {"device": "cpu", "cpu_capability": "DEFAULT", "cpu_flags": [], "cpu_model": None}
H200 = {"device": "cuda", "name": "NVIDIA H200", "capability": [9, 0], "bf16": True}
A100 = {"device": "cuda", "name": "NVIDIA A100-SXM4-40GB MIG 3g.20gb", "capability": [8, 0], "bf16": True}
T4 = {"device": "cuda", "name": "Tesla T4", "capability": [7, 5], "bf16": False}
V100 = {"device": "cuda", "name": "Tesla V100-SXM2-16GB", "capability": [7, 0], "bf16": False}

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 avx avx2 fma bmi2{extra}

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 avx avx2 fma bmi2{extra}
"""


# ---------------------------------------------------------------- auto


@pytest.mark.parametrize("probe, dtype", [
    (AVX2, "float32"), (AVX512, "float32"), (ARM, "float32"), (AVX512_BF16, "bfloat16"), (AMX, "bfloat16"),
    ({"device": "cpu", "cpu_capability": "AVX512_BF16", "cpu_flags": []}, "bfloat16"),
    ({"device": "cpu", "cpu_capability": "AMX", "cpu_flags": []}, "bfloat16"),
    (H200, "bfloat16"), (A100, "bfloat16"), (T4, "float16"), (V100, "float16"),
])
def test_auto_picks_the_native_dtype(probe, dtype):
    choice = resolve_compute_dtype("auto", probe)
    assert choice["dtype"] == dtype and choice["requested"] == "auto" and choice["warning"] is None
    assert choice["reason"].startswith(f"compute dtype {dtype}: ")
    assert choice["probe"] == probe and choice["device"]


def test_auto_reasons_name_the_hardware():
    assert resolve_compute_dtype("auto", AVX2)["reason"] == \
        "compute dtype float32: this CPU has AVX2 only; bf16 would be emulated"
    assert "(AVX512) has no AVX512-BF16 or AMX" in resolve_compute_dtype("auto", AVX512)["reason"]
    assert "avx512_bf16" in resolve_compute_dtype("auto", AVX512_BF16)["reason"]
    assert "amx_bf16" in resolve_compute_dtype("auto", AMX)["reason"]
    assert "NVIDIA H200 (compute capability 9.0) computes bf16 natively" in resolve_compute_dtype("auto", H200)["reason"]
    capped = {**AVX512_BF16, "cpu_capability": "AVX2"}  # ATEN_CPU_CAPABILITY=avx2 on a bf16 CPU
    assert resolve_compute_dtype("auto", capped)["reason"] == (
        "compute dtype float32: torch runs AVX2 kernels here (ATEN_CPU_CAPABILITY or its build), not the CPU's "
        "bf16 ones; bf16 would be emulated")
    t4 = resolve_compute_dtype("auto", T4)
    assert "Tesla T4 (compute capability 7.5) has no bf16" in t4["reason"] and t4["device"].startswith("Tesla T4")


# ---------------------------------------------------------------- explicit values


@pytest.mark.parametrize("requested, probe", [
    ("float32", H200), ("float16", H200), ("float16", T4), ("float32", V100), ("float32", AMX), ("float32", AVX2),
    ("bfloat16", AVX512_BF16), ("bfloat16", AMX), ("bfloat16", A100),
])
def test_explicit_value_wins_without_warning(requested, probe):
    choice = resolve_compute_dtype(requested, probe)
    assert choice["dtype"] == requested and choice["requested"] == requested and choice["warning"] is None
    assert "set in model.compute_dtype" in choice["reason"] and "auto would pick" in choice["reason"]


@pytest.mark.parametrize("gpu", [T4, V100])
def test_bf16_on_a_gpu_without_bf16_is_a_config_error(gpu):
    with pytest.raises(ConfigError) as info:
        resolve_compute_dtype("bfloat16", gpu)
    message = str(info.value)
    assert message.startswith("model.compute_dtype:") and gpu["name"] in message and "use auto or float16" in message


def test_bf16_on_an_avx2_cpu_runs_with_a_warning():
    choice = resolve_compute_dtype("bfloat16", AVX2)
    assert choice["dtype"] == "bfloat16"
    assert "emulated" in choice["warning"] and "13x slower" in choice["warning"] and "AVX2 only" in choice["warning"]
    assert "model.compute_dtype" in choice["warning"]


@pytest.mark.parametrize("probe", [AVX2, AMX])
def test_fp16_on_cpu_runs_with_a_warning(probe):
    choice = resolve_compute_dtype("float16", probe)
    assert choice["dtype"] == "float16" and "slow" in choice["warning"] and "CPU" in choice["warning"]


def test_unknown_value_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^model\.compute_dtype: must be one of"):
        resolve_compute_dtype("bf16", AVX2)


def test_allowed_values_match_the_config():
    assert precision.DTYPES == DTYPES


# ---------------------------------------------------------------- the probe


def _no_torch_bf16(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    return torch


def test_read_cpuinfo_parses_the_relevant_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra=" avx512f avx512_bf16 amx_bf16 amx_tile"))
    assert read_cpuinfo(str(path)) == (["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"], "AMD EPYC 7B13")
    assert read_cpuinfo(str(tmp_path / "missing")) == ([], None)


def test_probe_device_cpu_on_a_fake_avx2_cpuinfo(tmp_path, monkeypatch):
    torch = _no_torch_bf16(monkeypatch)
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra=""))
    monkeypatch.setattr(precision, "CPUINFO", str(path))
    probe = probe_device(False)
    assert probe == {"device": "cpu", "cpu_model": "AMD EPYC 7B13",
                     "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_flags": ["avx2"]}
    assert resolve_compute_dtype("auto", probe)["dtype"] == "float32"  # torch says AVX2 or AVX512, never *_BF16


def test_probe_device_cpu_on_a_fake_bf16_cpuinfo(tmp_path, monkeypatch):
    _no_torch_bf16(monkeypatch)
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra=" avx512f avx512_bf16"))
    monkeypatch.setattr(precision, "CPUINFO", str(path))
    probe = probe_device(False)
    assert probe["cpu_flags"] == ["avx2", "avx512f", "avx512_bf16"]
    assert resolve_compute_dtype("auto", probe)["dtype"] == "bfloat16"


def test_probe_adds_what_torch_sees_where_cpuinfo_is_missing(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(precision, "CPUINFO", str(tmp_path / "missing"))
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    probe = probe_device(False)
    assert probe["cpu_flags"] == ["avx512_bf16"] and probe["cpu_model"] is None
    assert resolve_compute_dtype("auto", probe)["dtype"] == "bfloat16"


def test_probe_device_gpu_without_cuda_describes_the_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    probe = probe_device(True)
    assert probe["device"] == "cpu" and "CUDA is not available" in probe["note"]


def test_cuda_probe_asks_for_native_bf16_only(monkeypatch):
    import torch

    asked = {}

    def is_bf16_supported(including_emulation=True):
        asked["including_emulation"] = including_emulation
        return including_emulation  # a T4 "supports" bf16 only through emulation
    for name, fn in {"is_available": lambda: True, "current_device": lambda: 0,
                     "get_device_name": lambda i: "Tesla T4", "get_device_capability": lambda i: (7, 5),
                     "is_bf16_supported": is_bf16_supported}.items():
        monkeypatch.setattr(torch.cuda, name, fn)
    assert probe_device(True) == T4 and asked == {"including_emulation": False}


def test_precision_does_not_import_torch_or_ray():
    code = "import campaign.decide.precision, sys; assert 'torch' not in sys.modules and 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# ---------------------------------------------------------------- where the choice is used


def test_resolve_dtype_here(monkeypatch):
    from trainables.modeling import resolve_dtype_here

    seen = []
    monkeypatch.setattr(probe, "probe_device", lambda use_gpu: seen.append(use_gpu) or AVX2)
    cpu, cuda = types.SimpleNamespace(type="cpu"), types.SimpleNamespace(type="cuda")
    assert resolve_dtype_here({"compute_dtype": "bfloat16"}, cpu) == "bfloat16" and seen == []
    assert resolve_dtype_here({"compute_dtype": "auto"}, cpu) == "float32" and seen == [False]
    monkeypatch.setattr(probe, "probe_device", lambda use_gpu: seen.append(use_gpu) or T4)
    assert resolve_dtype_here({"compute_dtype": "auto"}, cuda) == "float16" and seen == [False, True]


def _session(cfg, probe):
    """A RaySession without Ray: its task returns ``probe`` directly."""
    import ray

    from campaign.engine.runner import RaySession

    session = object.__new__(RaySession)
    session.cfg = cfg
    session._task = lambda fn: types.SimpleNamespace(remote=lambda use_gpu: (fn.__name__, use_gpu, probe))
    return session, ray


def test_session_resolves_once_and_hands_workers_the_dtype(monkeypatch):
    cfg = load_config(None)
    session, ray = _session(cfg, AVX2)
    monkeypatch.setattr(ray, "get", lambda ref: ref[2] if ref[:2] == ("probe_device", False) else None)
    session.precision = session._resolve_precision()
    assert session.precision["dtype"] == "float32" and session.precision["requested"] == "auto"
    config = session.worker_config()
    assert config["model"]["compute_dtype"] == "float32" and cfg.model.compute_dtype == "auto"
    assert config["model"]["prompt_template"] == cfg.prompt()[0] and cfg.model.prompt_template is None  # resolved too
    resolved = ("compute_dtype", "prompt_template")
    assert {k: v for k, v in config["model"].items() if k not in resolved} == \
        {k: v for k, v in cfg.to_dict()["model"].items() if k not in resolved}


def test_session_stops_on_a_dtype_the_gpu_cannot_run(monkeypatch):
    session, ray = _session(load_config(None, {"model": {"compute_dtype": "bfloat16"}}), T4)
    monkeypatch.setattr(ray, "get", lambda ref: ref[2])
    with pytest.raises(ConfigError, match=r"^model\.compute_dtype: .*use auto or float16"):
        session._resolve_precision()
