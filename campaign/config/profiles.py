"""Hardware profiles and memory presets: what one trial asks Ray for, and what fits in its VRAM.

Pure data and arithmetic: this module imports neither ray nor torch (a test checks it in a
subprocess), so ``campaign validate`` can check a GPU config on a laptop.

The rules:

* A **profile** (``resources.profile``) says what one trial's Ray Train workers reserve.
  ``cpu``: CPU workers only. ``gpu``: one whole GPU, one worker. ``gpu_ddp``: N >= 2 workers
  with one GPU each, DDP. ``mig_slice``: one worker on one MIG slice (Ray does not detect MIG;
  the slices are declared as GPUs with ``--num-gpus`` and counted by the custom resource
  ``mig_20gb``); never DDP across MIG slices. ``rtx3080``: one worker, one GPU, custom resource
  ``rtx3080``. ``custom``: one GPU per worker plus a custom resource the user names.
* GPU profiles give each worker exactly one device (one process per GPU or slice). Fractional
  or multiple GPUs per worker are errors, as is every other inconsistent combination: each
  raises :class:`ConfigError` naming the ``resources.*`` key and the fix. Nothing is changed
  silently: ``gpus_per_worker=None`` means "the profile's value" and the plan says so in ``why``.
* A worker with a GPU loads the whole model on its own device: ``device_map={"": index}``,
  quantized or not, single worker or DDP. ``"auto"`` is never used: it may spread one model
  over devices another rank uses, or offload layers to the CPU without an error.
* How many trials run at once is the minimum, over every resource one trial needs, of
  ``cluster // per-trial need``, capped by ``search.num_samples``; an explicit
  ``resources.max_concurrent`` wins. A custom resource the cluster does not declare is an
  error that shows how to declare it.
* A **memory preset** (``resources.memory_preset``) is five explicit config values for one
  model/VRAM pairing. :func:`preset_changes` lists every ``{key, from, to}`` it would apply;
  :func:`apply_preset` returns a new config and that list, for the caller to print and record.
  The preset numbers are estimates (:func:`estimate_vram`), not measured on a GPU here, except
  ``8b_20gb_slice``, the users' own run recorded in ``../shared/DESIGN.md``.
"""
from __future__ import annotations

import copy
import difflib
import math

from campaign.core.errors import ConfigError

__all__ = ["PROFILES", "MEMORY_PRESETS", "MODEL_SHAPES", "PRESET_KEYS", "RESERVED_RESOURCES", "get_profile",
           "scaling_plan", "ray_task_options", "concurrency", "device_map_for", "estimate_vram", "preset_changes",
           "apply_preset"]

PRESET_KEYS = ("train.batch_size", "train.grad_accum", "model.max_seq_len", "train.gradient_checkpointing",
               "model.quantization")
RESERVED_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")
QUANTIZED = ("nf4", "int8")
GIB = 2 ** 30

PROFILES: dict[str, dict] = {
    "cpu": {"summary": "CPU workers only; DDP over gloo when num_workers > 1",
            "gpus_per_worker": 0, "workers": "N >= 1", "custom_resource": None, "ddp": "when N > 1",
            "default_preset": "tiny_cpu"},
    "gpu": {"summary": "one full GPU per trial, one worker",
            "gpus_per_worker": 1, "workers": "1", "custom_resource": None, "ddp": "never",
            "default_preset": None},
    "gpu_ddp": {"summary": "N GPUs per trial: N workers with one GPU each, DDP over NCCL",
                "gpus_per_worker": 1, "workers": "N >= 2", "custom_resource": None, "ddp": "always",
                "default_preset": None},
    "mig_slice": {"summary": "one MIG slice per trial: one worker, one GPU as Ray sees slices",
                  "gpus_per_worker": 1, "workers": "1", "custom_resource": "mig_20gb", "ddp": "never",
                  "default_preset": "8b_20gb_slice"},
    "rtx3080": {"summary": "one RTX 3080 (10 GB) per trial, one worker",
                "gpus_per_worker": 1, "workers": "1", "custom_resource": "rtx3080", "ddp": "never",
                "default_preset": "3b_10gb"},
    "custom": {"summary": "one GPU per worker plus a custom resource you name (e.g. a100_80gb)",
               "gpus_per_worker": 1, "workers": "N >= 1", "custom_resource": "(required)", "ddp": "when N > 1",
               "default_preset": None},
}

# Reference shapes for the arithmetic (from each model's config.json): hidden size, layers, MLP
# width, vocabulary, attention q / kv widths, and whether lm_head shares the embedding.
MODEL_SHAPES: dict[str, dict] = {
    "llama-3.2-3b": {"hidden": 3072, "layers": 28, "ffn": 8192, "vocab": 128256, "q_dim": 3072, "kv_dim": 1024,
                     "tied": True},
    "qwen3-8b": {"hidden": 4096, "layers": 36, "ffn": 12288, "vocab": 151936, "q_dim": 4096, "kv_dim": 1024,
                 "tied": False},
    "phi-3.5-mini": {"hidden": 3072, "layers": 32, "ffn": 8192, "vocab": 32064, "q_dim": 3072, "kv_dim": 3072,
                     "tied": False},
}

_QLORA = ("Dettmers et al. 2023, QLoRA: Efficient Finetuning of Quantized LLMs, arXiv:2305.14314 "
          "(NF4, double quantization: 0.127 bits of constants per parameter)")
_BNB = ("transformers docs, 'bitsandbytes' (4-bit QLoRA algorithm, nested quantization) and bitsandbytes docs "
        "(Linear4bit: blocksize 64); offline: .venv/.../bitsandbytes/nn/modules.py (blocksize = 64)")
_PEFT = ("peft docs, prepare_model_for_kbit_training: casts every non-4-bit fp16/bf16 parameter to fp32; "
         "offline: .venv/.../peft/utils/other.py; transformers keeps lm_head/tied embeddings unquantized "
         "(transformers/quantizers/base.py, get_keys_to_not_convert)")
_ACT = ("Korthikanti et al. 2022, Reducing Activation Recomputation in Large Transformer Models, "
        "arXiv:2205.05198 (34*s*b*h bytes per layer, attention scores not stored)")
_INT8 = ("Dettmers et al. 2022, LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale, arXiv:2208.07339 "
         "(1 B per weight plus fp16 outlier columns)")
_METHOD = ("Estimate, not measured (no GPU was available here): NF4 + double quant = 4.127 bits per quantized "
           "linear weight; embeddings/lm_head fp32 after peft's upcast; LoRA r16 all-linear, 16 B per param "
           "(fp32 weight, grad, AdamW m and v); checkpointed activations = layers*b*s*h*4 B (fp32 residual "
           "stream) + one layer recomputed (34*b*s*h B); logits 3*b*s*vocab*4 B (fp32 logits, saved "
           "log-softmax, their grad); 1 GiB CUDA context, cuBLAS workspace and allocator slack. ")

MEMORY_PRESETS: dict[str, dict] = {
    "tiny_cpu": {
        "pairing": "the embedded tiny Llama (built locally) on CPU", "vram_gb": None, "shape": None,
        "evidence": "measured here on CPU",
        "values": {"train.batch_size": 8, "train.grad_accum": 1, "model.max_seq_len": 128,
                   "train.gradient_checkpointing": False, "model.quantization": "nf4"},
        "sources": ["search_spaces/balanced_6run.yaml (the embedded default campaign)",
                    "docs/MEASUREMENTS.md (batch 8 chosen on the 2-core CPU machine)",
                    "campaign/config/__init__.py ModelConfig.max_seq_len default 128"],
        "notes": "The default campaign's own values; a completion is 19 tokens, so 128 tokens is ample. "
                 "No checkpointing: the model is a few MB and recomputation would only cost time.",
    },
    "3b_10gb": {
        "pairing": "a 3B model (reference shape Llama-3.2-3B) on a 10 GB RTX 3080", "vram_gb": 10,
        "shape": "llama-3.2-3b", "evidence": "estimate",
        "values": {"train.batch_size": 2, "train.grad_accum": 8, "model.max_seq_len": 512,
                   "train.gradient_checkpointing": True, "model.quantization": "nf4"},
        "sources": [_QLORA, _BNB, _PEFT, _ACT],
        "notes": _METHOD + "Llama-3.2-3B: 2.82e9 linear params * 0.516 B = 1.35 GiB; tied embedding 3.94e8 * 4 B "
                 "= 1.47 GiB; LoRA 24.3e6 * 16 B = 0.36 GiB; activations (b2, s512) 28*2*512*3072*4 B + "
                 "34*2*512*3072 B = 0.43 GiB; logits 3*2*512*128256*4 B = 1.47 GiB; + 1 GiB = 6.08 GiB of "
                 "10 (batch 1: 5.13 GiB). Effective batch 16. If the card also drives a display or a run "
                 "OOMs, use batch 1 with grad_accum 16. Other 3B models: rescale each term with their shape.",
    },
    "8b_20gb_slice": {
        "pairing": "Qwen3-8B on a 20 GB A100 MIG slice (3g.20gb)", "vram_gb": 20, "shape": "qwen3-8b",
        "evidence": "reported by the users (DESIGN.md); memory not measured here",
        "values": {"train.batch_size": 2, "train.grad_accum": 4, "model.max_seq_len": 1024,
                   "train.gradient_checkpointing": True, "model.quantization": "nf4"},
        "sources": ["../shared/DESIGN.md, 'Other task kinds the same engine must serve': multiple-choice QA "
                    "run, Qwen3-8B, 4-bit NF4, bf16 compute, LoRA r16/alpha32, batch 2, grad-accum 4, max "
                    "length 1024 on a 20 GB MIG slice", _QLORA, _PEFT, _ACT],
        "notes": "The values are the users' run from DESIGN.md (it names no checkpointing setting or memory "
                 "figure; checkpointing is on because without it the estimate is 22.66 GiB). " + _METHOD
                 + "Qwen3-8B: 6.95e9 linear params * 0.516 B = 3.34 GiB; untied embedding + lm_head 1.24e9 "
                 "* 4 B = 4.64 GiB; LoRA 43.6e6 * 16 B = 0.65 GiB; activations (b2, s1024) = 1.39 GiB; "
                 "logits 3*2*1024*151936*4 B = 3.48 GiB; + 1 GiB = 14.49 GiB of 20, consistent with the "
                 "reported run fitting. Compute dtype stays bfloat16 (model.compute_dtype).",
    },
    "phi35_20gb": {
        "pairing": "Phi-3.5-mini (3.8B) on 20 GB (MIG 3g.20gb or any 20 GB+ GPU)", "vram_gb": 20,
        "shape": "phi-3.5-mini", "evidence": "estimate",
        "values": {"train.batch_size": 4, "train.grad_accum": 4, "model.max_seq_len": 1024,
                   "train.gradient_checkpointing": True, "model.quantization": "nf4"},
        "sources": [_QLORA, _BNB, _PEFT, _ACT],
        "notes": _METHOD + "Phi-3.5-mini: 3.62e9 linear params * 0.516 B = 1.74 GiB; untied embedding + lm_head "
                 "1.97e8 * 4 B = 0.73 GiB; LoRA 29.9e6 * 16 B = 0.45 GiB (fused qkv/gate_up counted as "
                 "separate projections: a slight over-estimate); activations (b4, s1024) = 1.90 GiB; logits "
                 "3*4*1024*32064*4 B = 1.47 GiB; + 1 GiB = 7.29 GiB of 20. nf4, not int8: int8 fits too "
                 "(1 B per weight: 8.92 GiB) but doubles the base weights, while the QLoRA paper reports "
                 "NF4 + double quantization matching 16-bit LoRA, and nf4 is the engine's default path. "
                 "Without checkpointing: 18.14 GiB, too close to 20.",
    },
    "phi35_int8_20gb": {
        "pairing": "Phi-3.5-mini (3.8B) in 8-bit with LoRA r64/alpha128 on 20 GB (the 4-class safety classifier's "
                   "run: MIG 3g.20gb or any 20 GB+ GPU)", "vram_gb": 20, "shape": "phi-3.5-mini", "lora_r": 64,
        "evidence": "estimate",
        "values": {"train.batch_size": 8, "train.grad_accum": 2, "model.max_seq_len": 512,
                   "train.gradient_checkpointing": True, "model.quantization": "int8"},
        "sources": ["../shared/DESIGN.md, 'Other task kinds the same engine must serve': 4-class classification, "
                    "LoRA r64/alpha128, 8-bit, a checkpoint every 5 minutes (keep 10)", _INT8, _QLORA, _BNB, _PEFT, _ACT],
        "notes": _METHOD.replace("NF4 + double quant = 4.127 bits per quantized linear weight",
                                 "LLM.int8 = 1 B per quantized linear weight").replace("LoRA r16", "LoRA r64")
                 + "Phi-3.5-mini in int8: 3.62e9 linear params * 1 B = 3.38 GiB; untied embedding + lm_head 1.97e8 "
                 "* 4 B = 0.73 GiB; LoRA r64 119.5e6 * 16 B = 1.78 GiB; activations (b8, s512) = 1.90 GiB; logits "
                 "3*8*512*32064*4 B = 1.47 GiB; + 1 GiB = 10.26 GiB of 20. A request to classify is short, so 512 "
                 "tokens hold prompt and label with room; batch 8 x accumulation 2 = 16 sequences per step. The "
                 "margin is kept for LLM.int8's outlier decomposition (fp16 copies of outlier activation columns), "
                 "which this estimate does not count. Without checkpointing: 21.11 GiB, over 20.",
    },
}


def get_profile(name: str) -> dict:
    """The profile's data; an unknown name is a ConfigError with the closest match."""
    if name in PROFILES:
        return PROFILES[name]
    raise ConfigError(f"resources.profile: unknown profile {name!r}; {_suggest(name, PROFILES)}"
                      f"choose one of {', '.join(PROFILES)}")


def _suggest(name, options) -> str:
    """``"did you mean 'x'? "`` for a prefix, substring or close spelling of one option, else ``""``."""
    text = str(name).lower().replace("-", "_")
    near = [o for o in options if text and (o.startswith(text) or text in o)]
    near = near or difflib.get_close_matches(text, list(options), n=1, cutoff=0.5)
    return f"did you mean {near[0]!r}? " if near else ""


def _check_workers(profile: str, num_workers: int, cpus_per_worker: float) -> None:
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 1:
        raise ConfigError(f"resources.num_workers: must be an integer >= 1 (got {num_workers!r})")
    if not cpus_per_worker > 0:
        raise ConfigError(f"resources.cpus_per_worker: must be > 0 (got {cpus_per_worker!r})")
    if profile == "mig_slice" and num_workers > 1:
        raise ConfigError(f"resources.num_workers: {num_workers} with profile 'mig_slice': never DDP across MIG "
                          "slices (a process sees one slice, and slices cannot talk to each other); set "
                          "resources.num_workers: 1 and let more trials run at once, one per slice")
    if profile in ("gpu", "rtx3080") and num_workers > 1:
        raise ConfigError(f"resources.num_workers: {num_workers} with profile {profile!r}, which is one worker "
                          "on one GPU; set resources.num_workers: 1, or resources.profile: gpu_ddp for DDP")
    if profile == "gpu_ddp" and num_workers < 2:
        raise ConfigError(f"resources.num_workers: {num_workers} with profile 'gpu_ddp', which is DDP over "
                          "N >= 2 GPUs; set resources.num_workers: 2 or more, or resources.profile: gpu")


def _check_gpus(profile: str, gpus_per_worker: float | None) -> float:
    """The GPUs per worker the profile uses; ``None`` means the profile's own value."""
    implied = PROFILES[profile]["gpus_per_worker"]
    if gpus_per_worker is None or gpus_per_worker == implied:
        return implied
    if profile == "cpu":
        raise ConfigError(f"resources.gpus_per_worker: {gpus_per_worker:g} with profile 'cpu'; set "
                          "resources.gpus_per_worker: 0, or a GPU profile (resources.profile: gpu)")
    if gpus_per_worker == 0:
        raise ConfigError(f"resources.gpus_per_worker: 0 with profile {profile!r}, which implies 1 GPU per "
                          "worker; set resources.gpus_per_worker: 1 (or leave it unset), or resources.profile: cpu")
    fix = ("for several GPUs per trial use resources.profile: gpu_ddp with resources.num_workers: N"
           if gpus_per_worker > 1 else "fractional GPUs (trials sharing a device) are not a profile")
    raise ConfigError(f"resources.gpus_per_worker: {gpus_per_worker:g} with profile {profile!r}; each worker "
                      f"gets exactly one device, so set resources.gpus_per_worker: 1; {fix}")


def _check_custom(profile: str, custom_resource: str | None) -> str | None:
    """The custom resource each worker reserves (the profile's default unless one is named)."""
    default = PROFILES[profile]["custom_resource"]
    if profile == "custom" and not custom_resource:
        raise ConfigError("resources.custom_resource: profile 'custom' needs the name of a custom resource "
                          "your nodes declare, e.g. resources.custom_resource: a100_80gb")
    if custom_resource is None:
        return default
    if default is None:
        raise ConfigError(f"resources.custom_resource: {custom_resource!r} with profile {profile!r}, which "
                          "reserves none; remove it, or set resources.profile: custom")
    if not isinstance(custom_resource, str) or not custom_resource.strip() or custom_resource in RESERVED_RESOURCES:
        raise ConfigError(f"resources.custom_resource: {custom_resource!r} is not a custom resource name; "
                          f"give a name such as a100_80gb (not one of {', '.join(RESERVED_RESOURCES)})")
    return custom_resource


def scaling_plan(profile: str, *, num_workers: int, cpus_per_worker: float, gpus_per_worker: float | None,
                 custom_resource: str | None) -> dict:
    """What one trial's Ray Train workers reserve under ``profile``; ConfigError on any inconsistency."""
    get_profile(profile)
    _check_workers(profile, num_workers, cpus_per_worker)
    gpus = _check_gpus(profile, gpus_per_worker)
    custom = _check_custom(profile, custom_resource)
    per_worker: dict[str, float] = {"CPU": cpus_per_worker}
    if gpus > 0:
        per_worker["GPU"] = gpus
    if custom:
        per_worker[custom] = 1
    trial = {key: round(value * num_workers, 6) for key, value in per_worker.items()}
    ddp = num_workers > 1
    why = (f"profile {profile!r}: {num_workers} worker(s) x {_fmt(per_worker)}"
           f"{'' if gpus_per_worker is not None else f' (gpus_per_worker {gpus:g} implied by the profile)'}; "
           f"one trial reserves {_fmt(trial)}; "
           + (f"DDP over {num_workers} workers ({'NCCL' if gpus else 'gloo'})" if ddp else "no DDP")
           + ("; each worker loads the model on its own device" if gpus else "; CPU threads = cpus_per_worker"))
    return {"profile": profile, "num_workers": num_workers, "use_gpu": gpus > 0, "resources_per_worker": per_worker,
            "trial_resources": trial, "ddp": ddp, "why": why}


def ray_task_options(plan: dict) -> dict:
    """``ray.remote`` options for a single task holding one worker's share (e.g. the prompt baseline)."""
    per_worker = plan["resources_per_worker"]
    custom = {k: v for k, v in per_worker.items() if k not in ("CPU", "GPU")}
    return {"num_cpus": per_worker["CPU"], "num_gpus": per_worker.get("GPU", 0), "resources": custom}


def _fmt(resources: dict) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in resources.items()) + "}"


def _missing(name: str, need: float, cluster: dict) -> ConfigError:
    if name in ("CPU", "GPU"):
        fix = ("start Ray on a node with a GPU (`ray start --num-gpus=1`), or use resources.profile: cpu"
               if name == "GPU" else "start Ray with CPUs (`ray start --num-cpus=N`)")
        return ConfigError(f"resources: one trial needs {need:g} {name} but the cluster has none; {fix}")
    count = int(cluster.get("GPU") or math.ceil(need))
    return ConfigError(
        f"resources.custom_resource: one trial needs {need:g} {name!r} but the cluster declares no {name!r}; "
        f"declare it on each node that has it, e.g. `ray start --resources='{{\"{name}\":{count}}}'` (one per "
        f"card or slice; for MIG also --num-gpus={count} with CUDA_VISIBLE_DEVICES set to the slice UUIDs), "
        f"or `resources: {{{name}: {count}}}` under the node type in cluster.yaml, or "
        f"ray.init(resources={{'{name}': {count}}}) for a local run")


def concurrency(trial_resources: dict, cluster: dict, num_samples: int, max_concurrent: int | None, *,
                coordinator_cpu: float = 0.0) -> tuple[int, str]:
    """Trials at once, and why. ``cluster`` is ``ray.cluster_resources()``; ``coordinator_cpu`` is
    the CPU the Tune function itself holds per trial (``campaign.engine.runner.TRIAL_FN_CPU``)."""
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ConfigError(f"search.num_samples: must be >= 1 (got {num_samples!r})")
    if max_concurrent is not None and max_concurrent < 1:
        raise ConfigError(f"resources.max_concurrent: must be >= 1 or null (got {max_concurrent!r})")
    need = dict(trial_resources)
    need["CPU"] = round(need.get("CPU", 0) + coordinator_cpu, 6)
    fits, parts = {}, []
    for name, amount in need.items():
        if amount <= 0:
            continue
        have = cluster.get(name, 0)
        if have <= 0:
            raise _missing(name, amount, cluster)
        fits[name] = math.floor(have / amount + 1e-9)
        parts.append(f"{have:g} {name} / {amount:g} per trial = {fits[name]}")
    if min(fits.values()) < 1:
        raise ConfigError(f"resources: one trial needs more than the cluster has ({'; '.join(parts)})")
    fit = min(fits.values())
    if max_concurrent:
        n = min(max_concurrent, num_samples)
        extra = f"; more than the {fit} that fit now, the rest wait for resources" if n > fit else ""
        return n, f"resources.max_concurrent = {max_concurrent} (search.num_samples {num_samples}){extra}"
    limit = [name for name, value in fits.items() if value == fit]
    if num_samples < fit:
        return num_samples, f"{'; '.join(parts)}; capped by search.num_samples = {num_samples}"
    return fit, f"{'; '.join(parts)}; limited by {', '.join(limit)}"


def device_map_for(quantization: str, use_gpu: bool, world_size: int, local_rank: int):
    """``from_pretrained``'s device_map for one worker.

    CPU: ``None`` (the model stays on the CPU). GPU: ``{"": local_rank}`` for nf4, int8 and
    unquantized models alike, single worker or DDP (each rank loads its own copy on its own
    device; ``local_rank`` is the worker's CUDA index, ``ray.train.torch.get_device().index``).
    Never ``"auto"``: under DDP it would spread one rank's model over the other ranks' GPUs, and
    on one GPU it may silently offload layers to the CPU instead of failing with an OOM.
    """
    if quantization not in (*QUANTIZED, "none"):
        raise ConfigError(f"model.quantization: must be one of nf4, int8, none (got {quantization!r})")
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an integer >= 1 (got {world_size!r})")
    if not isinstance(local_rank, int) or not 0 <= local_rank < world_size:
        raise ValueError(f"local_rank must be in [0, {world_size}) (got {local_rank!r})")
    if not use_gpu:
        return None
    return {"": local_rank}


def estimate_vram(shape: dict, values: dict, *, lora_r: int = 16) -> dict[str, float]:
    """Estimated peak GPU memory of one QLoRA worker, in GiB per term and ``total`` (not measured)."""
    h, layers, ffn, vocab = shape["hidden"], shape["layers"], shape["ffn"], shape["vocab"]
    q, kv = shape["q_dim"], shape["kv_dim"]
    b, s = values["train.batch_size"], values["model.max_seq_len"]
    quant = values["model.quantization"]
    linear = layers * (2 * h * q + 2 * h * kv + 3 * h * ffn)
    embed = vocab * h * (1 if shape["tied"] else 2)
    lora = layers * lora_r * (2 * (h + q) + 2 * (h + kv) + 3 * (h + ffn))
    layer_act = 34 * b * s * h  # bytes of one layer's saved activations in 16-bit (Korthikanti et al.)
    act = layers * b * s * h * 4 + layer_act if values["train.gradient_checkpointing"] else layers * layer_act
    terms = {"weights": linear * {"nf4": 0.5 + 0.127 / 8, "int8": 1.0, "none": 2.0}[quant],
             "embeddings": embed * (4 if quant in QUANTIZED else 2),
             "lora_and_adamw": lora * 16, "activations": act, "logits": 3 * b * s * vocab * 4,
             "cuda_overhead": GIB}
    out = {k: round(v / GIB, 2) for k, v in terms.items()}
    out["total"] = round(sum(terms.values()) / GIB, 2)
    return out


def _preset(name: str) -> dict:
    if name in MEMORY_PRESETS:
        return MEMORY_PRESETS[name]
    raise ConfigError(f"resources.memory_preset: unknown preset {name!r}; {_suggest(name, MEMORY_PRESETS)}"
                      f"choose one of {', '.join(MEMORY_PRESETS)}")


def preset_changes(config: dict, preset: str) -> list[dict]:
    """Every ``{"key", "from", "to"}`` the preset would apply to the nested ``config`` (unchanged keys omitted;
    a key absent from ``config`` reads as ``from: None``)."""
    changes = []
    for key, new in _preset(preset)["values"].items():
        section, field = key.split(".")
        node = config.get(section, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{section}: expected a mapping, got {type(node).__name__}")
        old = node.get(field)
        if not (type(old) is type(new) and old == new):
            changes.append({"key": key, "from": old, "to": new})
    return changes


def apply_preset(config: dict, preset: str) -> tuple[dict, list[dict]]:
    """A copy of ``config`` with the preset's values, and the changes made; ``config`` is left untouched."""
    changes = preset_changes(config, preset)
    out = copy.deepcopy(config)
    for change in changes:
        section, field = change["key"].split(".")
        out.setdefault(section, {})[field] = change["to"]
    return out, changes
