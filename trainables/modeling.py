"""Load a base model (4-bit NF4, int8 or unquantized) and wrap it with LoRA.

Imported only inside Ray workers: this is where torch, bitsandbytes and CUDA
state come to life, never in the Tune driver.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

__all__ = ["load_tokenizer", "load_base_model", "apply_lora", "restore_frozen_embeddings", "keep_4bit_layers_trainable", "pick_device", "quiet_libraries", "local_model_path",
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

    from trainables.tiny_model import default_cache_dir

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
    from campaign.decide.precision import resolve_compute_dtype
    from trainables.probe import probe_device

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

    from campaign.config.profiles import device_map_for

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
    """Wrap ``model`` with a fresh LoRA adapter; only adapter (and modules_to_save) weights train.

    peft's kbit preparation casts every non-quantized parameter to fp32. The frozen embedding
    and ``lm_head`` go back to the dtype they were loaded in (``restore_frozen_embeddings``);
    norms, LoRA and modules_to_save copies stay fp32 as peft leaves them.
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    loaded_dtype = model.get_input_embeddings().weight.dtype  # model.compute_dtype, as load_base_model loaded it
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    config = LoraConfig(r=lora_cfg["r"], lora_alpha=lora_cfg["alpha"], lora_dropout=lora_cfg["dropout"],
                        target_modules=lora_cfg["target_modules"], modules_to_save=lora_cfg["modules_to_save"] or None,
                        task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    if quantized:
        restore_frozen_embeddings(model, loaded_dtype)
        keep_4bit_layers_trainable(model)
    return model


def keep_4bit_layers_trainable(model) -> int:
    """Stop bitsandbytes repacking 4-bit weights for CPU inference on the first eval-mode forward.

    On CPUs with AVX512-BF16, bitsandbytes 0.50 converts each ``Linear4bit`` weight to a packed
    CPU inference format the first time it runs in eval mode without grad (the per-epoch
    validation). Training after that loses the gradients through the frozen base layers (layer-0
    LoRA gradients 7x smaller on the tiny model) or fails on layers with a bias. A trial trains
    again after every validation, so the packing stays off; returns the layers changed.
    """
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return 0
    layers = [m for m in model.modules() if isinstance(m, Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)


def _frozen_original(module):
    """The frozen base module behind peft's wrappers (modules_to_save keeps a trainable copy beside it)."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils.other import ModulesToSaveWrapper

    while isinstance(module, (ModulesToSaveWrapper, BaseTunerLayer)):
        module = module.original_module if isinstance(module, ModulesToSaveWrapper) else module.base_layer
    return module


def _cast_input_to_weight(module, args):
    """Forward pre-hook: the fp32 residual stream enters a bf16 ``lm_head`` in its dtype, as autocast would."""
    x, *rest = args
    if x.is_floating_point() and x.dtype != module.weight.dtype:
        x = x.to(module.weight.dtype)
    return (x, *rest)


def restore_frozen_embeddings(model, dtype) -> dict:
    """Cast the frozen input embedding and ``lm_head`` that kbit preparation made fp32 back to ``dtype``.

    They are frozen, and ``dtype`` is what they were loaded in, so the values do not change
    (bf16 -> fp32 -> bf16 is exact); only memory halves: for a Qwen3-8B shape, untied
    151,936 x 4,096 twice, 4.6 GiB in fp32 against 2.3 GiB in bf16. The embedding's output
    joins the fp32 residual stream exactly; ``lm_head`` gets a pre-hook casting its fp32
    input to ``dtype``, so it computes as it would under autocast (bf16 logits; the loss
    upcasts them to fp32). Trainable parameters (modules_to_save copies, LoRA) and the norms
    stay fp32. With ``dtype`` float32 nothing changes. Returns the parameters cast by name.
    """
    import torch

    cast: dict[str, int] = {}
    if dtype == torch.float32 or not dtype.is_floating_point:
        return cast
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):  # a tied weight has two names
        names[id(param)] = f"{names[id(param)]} = {name}" if id(param) in names else name
    pair = (base.get_input_embeddings(), base.get_output_embeddings())
    modules = [_frozen_original(m) for m in pair if m is not None]
    for module in modules:
        for param in module.parameters(recurse=False):
            if not param.requires_grad and param.dtype == torch.float32 and type(param) is torch.nn.Parameter:
                param.data = param.data.to(dtype)  # in place: the Parameter (and any tying) is kept
                cast[names.get(id(param), "?")] = param.numel()
    output = modules[-1] if len(modules) == 2 else None
    if cast and isinstance(output, torch.nn.Linear) and output.weight.dtype == dtype:
        output.register_forward_pre_hook(_cast_input_to_weight)
    if cast:
        log.info("frozen embedding / lm_head back in %s after kbit preparation: %s", dtype, cast)
    return cast
