"""``model.compute_dtype: auto``: the compute precision the device runs natively.

The rule is pure (``resolve_compute_dtype`` takes a plain probe dict), so the driver decides
once and tests mock any hardware. ``trainables.probe.probe_device`` builds the probe where the
trials will run (a Ray task with a trial worker's resources); it is the part that asks torch.
"""
from __future__ import annotations

from pathlib import Path

from campaign.core.errors import ConfigError

__all__ = ["DTYPES", "BF16_CPU_FLAGS", "CPUINFO", "resolve_compute_dtype", "read_cpuinfo"]

DTYPES = ("auto", "bfloat16", "float16", "float32")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo names of native bf16 arithmetic on x86
_RELEVANT_FLAGS = ("avx2", "avx512f", *BF16_CPU_FLAGS, "amx_tile", "amx_fp16")
_BF16_CAPABILITIES = ("AVX512_BF16", "AMX")  # get_cpu_capability() strings that imply native bf16
CPUINFO = "/proc/cpuinfo"
KEY = "model.compute_dtype"
# Measured on an AVX2-only CPU, one thread: fp32 matmul 52 GFLOP/s, bf16 4.0 (shared/FACTS.md).
_EMULATED = "bf16 arithmetic is emulated there, about 13x slower than float32"


def read_cpuinfo(path: str | None = None) -> tuple[list[str], str | None]:
    """The relevant x86 flags and the model name of the first CPU in ``path`` (empty where it is missing)."""
    try:
        text = Path(path or CPUINFO).read_text(errors="replace")
    except OSError:  # macOS, Windows, a sandbox: torch's capability is then the only source
        return [], None
    fields = dict(line.split(":", 1) for line in text.split("\n\n")[0].splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return [f for f in _RELEVANT_FLAGS if f in flags], fields.get("model name")


def _device_text(probe: dict) -> str:
    """The device in words, e.g. 'NVIDIA H200 (compute capability 9.0)' or 'CPU (AMD EPYC, AVX2)'."""
    if probe.get("device") == "cuda":
        cap = ".".join(str(c) for c in probe.get("capability") or []) or "?"
        return f"{probe.get('name') or 'CUDA GPU'} (compute capability {cap})"
    parts = [p for p in (probe.get("cpu_model"), probe.get("cpu_capability")) if p]
    flags = [f for f in probe.get("cpu_flags") or [] if f in BF16_CPU_FLAGS]
    return "CPU" + (f" ({', '.join(parts + flags)})" if parts or flags else "")


def _torch_below_avx512(capability: str) -> bool:
    """torch dispatches kernels below AVX512 (a build or ``ATEN_CPU_CAPABILITY`` that caps it), whatever the CPU has."""
    return bool(capability) and not any(c in capability for c in ("AVX512", "AMX"))


def _cpu_bf16(probe: dict) -> bool:
    """Whether torch computes bf16 natively on this CPU (AVX512-BF16 or AMX, and kernels that use them)."""
    flags = set(probe.get("cpu_flags") or [])
    capability = (probe.get("cpu_capability") or "").upper()
    if _torch_below_avx512(capability):
        return False
    return bool(flags & set(BF16_CPU_FLAGS)) or any(c in capability for c in _BF16_CAPABILITIES)


def _cpu_lacks(probe: dict) -> str:
    """What the CPU lacks for native bf16, in words."""
    capability = probe.get("cpu_capability") or ("AVX2" if "avx2" in (probe.get("cpu_flags") or []) else None)
    if capability == "AVX2" and set(probe.get("cpu_flags") or []) & set(BF16_CPU_FLAGS):
        return "torch runs AVX2 kernels here (ATEN_CPU_CAPABILITY or its build), not the CPU's bf16 ones"
    if capability == "AVX2":
        return "this CPU has AVX2 only"
    return f"this CPU{f' ({capability})' if capability else ''} has no AVX512-BF16 or AMX"


def _auto(probe: dict) -> tuple[str, str]:
    """The dtype ``auto`` picks on ``probe`` and why."""
    if probe.get("device") == "cuda":
        if probe.get("bf16"):
            return "bfloat16", f"{_device_text(probe)} computes bf16 natively"
        return "float16", f"{_device_text(probe)} has no bf16 (it needs compute capability 8.0+)"
    if _cpu_bf16(probe):
        return "bfloat16", f"{_device_text(probe)} computes bf16 natively"
    return "float32", f"{_cpu_lacks(probe)}; bf16 would be emulated"


def _explicit_warning(dtype: str, probe: dict) -> str | None:
    """Why an explicit ``dtype`` runs badly on ``probe`` (None when it runs well); raise where it cannot run."""
    if probe.get("device") == "cuda":
        if dtype == "bfloat16" and not probe.get("bf16"):
            raise ConfigError(f"{KEY}: bfloat16 is not supported on {_device_text(probe)}: bf16 needs compute "
                              "capability 8.0+ (Ampere or newer); use auto or float16")
        return None
    if dtype == "bfloat16" and not _cpu_bf16(probe):
        return f"{KEY}=bfloat16 runs, but {_cpu_lacks(probe)}: {_EMULATED}; use auto or float32"
    if dtype == "float16":
        return f"{KEY}=float16 runs, but fp16 arithmetic is slow (emulated) on CPUs; use auto or float32"
    return None


def resolve_compute_dtype(requested: str, probe: dict) -> dict:
    """The compute dtype for ``requested`` (auto or explicit) on the device ``probe`` describes, with the reason."""
    if requested not in DTYPES:
        raise ConfigError(f"{KEY}: must be one of {DTYPES} (got {requested!r})")
    auto, why = _auto(probe)
    if requested == "auto":
        dtype, warning, reason = auto, None, f"compute dtype {auto}: {why}"
    else:
        dtype, warning = requested, _explicit_warning(requested, probe)
        reason = f"compute dtype {requested}: set in {KEY} (auto would pick {auto}: {why})"
    return {"dtype": dtype, "requested": requested, "reason": reason, "warning": warning,
            "device": _device_text(probe), "probe": dict(probe)}
