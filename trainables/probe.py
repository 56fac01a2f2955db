"""The device a trial computes on, as a plain probe for ``campaign.decide.precision`` (runs where workers run).

torch is imported inside the functions, so importing this module loads none of it.
"""
from __future__ import annotations

from campaign.decide.precision import read_cpuinfo

__all__ = ["probe_device", "cpu_probe", "cuda_probe"]


def cpu_probe(path: str | None = None) -> dict:
    """The CPU's probe: /proc/cpuinfo flags plus, when torch is importable, its own view of the CPU."""
    flags, model = read_cpuinfo(path)
    probe = {"device": "cpu", "cpu_model": model, "cpu_capability": None, "cpu_flags": flags}
    try:
        import torch
    except ImportError:
        return probe
    probe["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    # get_cpu_capability() stops at "AVX512"; torch.cpu's private checks see bf16 where cpuinfo is absent.
    for flag, check in (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx_tile", "_is_amx_tile_supported")):
        if flag not in flags and getattr(torch.cpu, check, lambda: False)():
            flags.append(flag)
    return probe


def cuda_probe() -> dict:
    """The current CUDA device's probe: name, compute capability, native bf16."""
    import torch

    index = torch.cuda.current_device()
    # including_emulation=False: pre-Ampere GPUs "support" bf16 only through slow emulated kernels.
    return {"device": "cuda", "name": torch.cuda.get_device_name(index),
            "capability": list(torch.cuda.get_device_capability(index)),
            "bf16": bool(torch.cuda.is_bf16_supported(including_emulation=False))}


def probe_device(use_gpu: bool) -> dict:
    """Describe the device a trial worker computes on (run it where the workers run)."""
    if use_gpu:
        import torch

        if torch.cuda.is_available():
            return cuda_probe()
        return {**cpu_probe(), "note": "use_gpu is set but CUDA is not available here"}
    return cpu_probe()
