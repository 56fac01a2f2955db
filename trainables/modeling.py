"""Load a base model (4-bit NF4, int8 or unquantized) and wrap it with LoRA.

Imported only inside Ray workers: this is where torch, bitsandbytes and CUDA
state come to life, never in the Tune driver.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

__all__ = ["load_tokenizer", "load_base_model", "apply_lora", "pick_device", "quiet_libraries", "local_model_path",
           "resolve_dtype_here"]


def local_model_path(path: str, files_ref=None) -> str:
    """``path`` if this node has it; else the model files shipped through Ray's object store, written once here.

    The locally built tiny model exists only in the driver's cache; on another node of a
    cluster its files arrive as ``files_ref`` (a ref to ``{file name: bytes}``).
    """
    import os
    from pathlib import Path

    if files_ref is None or Path(path).is_dir():
        return path
    import ray

    from campaign.tiny_model import default_cache_dir

    target = default_cache_dir() / Path(path).name
    if not (target / "tiny_recipe.json").exists():
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for name, data in ray.get(files_ref).items():
            (tmp / name).write_bytes(data)
        try:
            os.replace(tmp, target)
        except OSError:  # another worker on this node finished first
            pass
    return str(target)


def quiet_libraries() -> None:
    """Keep worker logs readable: no per-load progress bars, no known-harmless notices.

    bitsandbytes logs that the optional ``kernels`` package is missing (it would download
    from the Hub; the built-in CPU path is used instead), and peft's kbit preparation
    calls a transformers method deprecated in favour of a new name.
    """
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def pick_device(use_gpu: bool, in_train: bool = True):
    """This worker's device: Ray Train's local-rank GPU, cuda:0 in a plain Ray task, or the CPU."""
    import torch

    if not use_gpu:
        return torch.device("cpu")
    if in_train:
        import ray.train.torch

        return ray.train.torch.get_device()
    return torch.device("cuda", 0)  # Ray sets CUDA_VISIBLE_DEVICES to this task's GPU


def load_tokenizer(path: str, trust_remote_code: bool = False):
    """Tokenizer with an explicit pad token (eos when the model has none, logged)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tok.pad_token_id is None:
        log.info("tokenizer of %s has no pad token; padding with eos %r", path, tok.eos_token)
        tok.pad_token = tok.eos_token
    if tok.eos_token_id is None:
        raise ValueError(f"tokenizer of {path} has no eos token; generation could not stop")
    return tok


def _quantization_config(model_cfg: dict, dtype):
    from transformers import BitsAndBytesConfig

    if model_cfg["quantization"] == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                                  bnb_4bit_use_double_quant=model_cfg["double_quant"])
    if model_cfg["quantization"] == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


def resolve_dtype_here(model_cfg: dict, device) -> str:
    """``model.compute_dtype``, with ``auto`` resolved for ``device`` in this process (callers outside the driver)."""
    if model_cfg["compute_dtype"] != "auto":
        return model_cfg["compute_dtype"]  # explicit, or resolved by the driver (RaySession.worker_config)
    from campaign.precision import probe_device, resolve_compute_dtype

    choice = resolve_compute_dtype("auto", probe_device(device.type == "cuda"))
    log.info("%s", choice["reason"])
    return choice["dtype"]


def load_base_model(path: str, model_cfg: dict, device):
    """The base model, whole, on ``device``; quantized layers compute in ``model.compute_dtype``.

    With DDP each rank loads its own copy on its own GPU or MIG slice: ``device`` is Ray
    Train's device for this rank, whose index counts among the GPUs this process sees.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from campaign.profiles import device_map_for

    dtype = getattr(torch, resolve_dtype_here(model_cfg, device))
    kwargs = {"dtype": dtype, "trust_remote_code": model_cfg["trust_remote_code"]}
    quant = _quantization_config(model_cfg, dtype)
    if quant is not None:
        kwargs["quantization_config"] = quant
    on_gpu = device.type == "cuda"
    visible = torch.cuda.device_count() if on_gpu else 1
    device_map = device_map_for(model_cfg["quantization"], on_gpu, visible, (device.index or 0) if on_gpu else 0)
    if device_map is not None:
        kwargs["device_map"] = device_map
    return AutoModelForCausalLM.from_pretrained(path, **kwargs)


def apply_lora(model, lora_cfg: dict, quantized: bool, gradient_checkpointing: bool):
    """Wrap ``model`` with a fresh LoRA adapter; only adapter (and modules_to_save) weights train."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    config = LoraConfig(r=lora_cfg["r"], lora_alpha=lora_cfg["alpha"], lora_dropout=lora_cfg["dropout"],
                        target_modules=lora_cfg["target_modules"], modules_to_save=lora_cfg["modules_to_save"] or None,
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config)
