"""Benchmark one QLoRA training run on a randomly initialised model of realistic size.

Nothing is downloaded: a Qwen2- or Qwen3-shaped model is built from a config (fixed seed) and saved with
the tiny model's tokenizer to a folder ``campaign run`` accepts as ``model.base_model=<folder>``.
It is loaded and wrapped by the engine's own ``load_base_model`` / ``apply_lora`` (NF4, device_map).
See docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

from campaign.config import QUANTIZATIONS, LoraSettings, ModelConfig
from trainables.tiny_model import default_cache_dir, ensure_tiny_model

__all__ = ["SHAPES", "PEAK_TFLOPS", "BenchError", "model_config", "param_count", "ensure_bench_model",
           "load_for_training", "peak_tflops_for", "mfu", "run_benchmark", "build_parser", "main"]

BUILDER, SEED, RECIPE_FILE, GIB = 1, 0, "bench_recipe.json", 2 ** 30
_TIED = {"tie_word_embeddings": True}
# Shapes from Qwen/Qwen2-0.5B and Qwen/Qwen2-1.5B config.json (Qwen2.5-0.5B / -1.5B have the same weight shapes; only
# max_position_embeddings and sliding_window differ); "8b" from Qwen/Qwen3-8B config.json (untied, head_dim 128,
# q/k norms, no qkv bias: "model_type" picks Qwen3Config). "tiny" is ~0.6M params for smoke tests.
SHAPES: dict[str, dict] = {
    "tiny": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 256, "vocab_size": 2048, **_TIED},
    "0.5b": {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
             "intermediate_size": 4864, "vocab_size": 151936, **_TIED},
    "1.5b": {"hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
             "intermediate_size": 8960, "vocab_size": 151936, **_TIED},
    "8b": {"model_type": "qwen3", "hidden_size": 4096, "num_hidden_layers": 36, "num_attention_heads": 32,
           "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 12288, "vocab_size": 151936,
           "tie_word_embeddings": False},
}
# Dense bf16 tensor-core peak (no sparsity), TFLOPS, by regex on torch.cuda.get_device_name(); variants with
# other peaks (H100/H200 NVL, GH200, RTX 3080 Ti) do not match. Sources: NVIDIA H100 datasheet (SXM 989,
# PCIe 756), H200 datasheet (989), A100 datasheet (312), NVIDIA Ampere GA102 GPU architecture whitepaper
# (RTX 3080: BF16 with FP32 accumulate 59.5 dense; the 119 often quoted is FP16-accumulate or sparse).
PEAK_TFLOPS: list[tuple[str, float]] = [(r"\bH200$", 989.0), (r"\bH100 PCIe", 756.0),
                                         (r"\bH100 (80GB HBM3|SXM)", 989.0), (r"\bA100\b", 312.0), (r"RTX 3080$", 59.5)]


class BenchError(RuntimeError):
    """A problem the user can fix (no CUDA, a foreign model folder); printed without a traceback."""


def model_config(size: str, tok):
    """The Qwen2Config (Qwen3Config for "8b") of ``size``, with ``tok``'s special ids; its vocabulary must cover
    the tokenizer."""
    from transformers import Qwen2Config, Qwen3Config

    shape = dict(SHAPES[size])
    config_class = {"qwen2": Qwen2Config, "qwen3": Qwen3Config}[shape.pop("model_type", "qwen2")]
    if shape["vocab_size"] < len(tok):
        raise BenchError(f"shape {size!r}: vocab_size {shape['vocab_size']} < tokenizer size {len(tok)}")
    return config_class(**shape, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)


def param_count(config) -> int:
    """N: parameters of the unquantized model (tied embeddings once), counted on the meta device (no memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def _build(folder: Path, size: str, tok_dir: Path, init_device: str = "cpu") -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from trainables.modeling import load_tokenizer

    tok = load_tokenizer(str(tok_dir))
    torch.manual_seed(SEED)  # seeds the CUDA generators too
    # bf16 halves the init memory and the files; the loader casts to model.compute_dtype anyway. On "cuda" the
    # random init runs on the GPU (seconds for 8B, where the CPU takes minutes); save_pretrained copies to the host.
    with torch.device(init_device):
        model = AutoModelForCausalLM.from_config(model_config(size, tok), dtype=torch.bfloat16)
    model.generation_config.pad_token_id = tok.pad_token_id
    tok.save_pretrained(folder)
    model.save_pretrained(folder)


def ensure_bench_model(size: str, model_dir: str | Path | None = None, init_device: str = "cpu") -> Path:
    """The saved model folder of ``size``, built atomically unless it already holds the same recipe.

    ``init_device`` "cuda" draws the random weights on the GPU: other numbers than a CPU build of the
    same seed, so it is part of the recipe (and the default folder name).
    """
    tok_dir = ensure_tiny_model()  # its byte-level BPE tokenizer is reused, as the engine's tiny model has it
    recipe = {"builder": BUILDER, "size": size, "shape": SHAPES[size], "init_seed": SEED, "tokenizer": tok_dir.name}
    if init_device != "cpu":
        recipe["init_device"] = init_device
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
    arch = SHAPES[size].get("model_type", "qwen2")
    folder = Path(model_dir) if model_dir else default_cache_dir() / f"bench-{arch}-{size}-{digest}"
    if (folder / RECIPE_FILE).exists():
        if json.loads((folder / RECIPE_FILE).read_text()) == recipe:
            return folder
        raise BenchError(f"{folder} holds another benchmark model ({RECIPE_FILE} differs); remove it or pass "
                         "another --model-dir")
    if folder.exists() and any(folder.iterdir()):
        raise BenchError(f"{folder} exists and is not a benchmark model folder; pass a new --model-dir")
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _build(tmp, size, tok_dir, init_device)
    (tmp / RECIPE_FILE).write_text(json.dumps(recipe, indent=1))  # written last: marks a complete folder
    if folder.exists():
        folder.rmdir()  # empty, checked above
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished the same recipe first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_for_training(folder: str | Path, quantization: str, device, gradient_checkpointing: bool):
    """The engine's path: ``load_base_model`` with ModelConfig defaults, then ``apply_lora`` with LoraSettings'."""
    from trainables.modeling import apply_lora, load_base_model

    model_cfg = dataclasses.asdict(ModelConfig(quantization=quantization))
    model = load_base_model(str(folder), model_cfg, device)
    return apply_lora(model, dataclasses.asdict(LoraSettings()), quantization != "none", gradient_checkpointing)


def peak_tflops_for(device_name: str) -> float | None:
    """Dense bf16 peak of a known CUDA device, else None."""
    return next((tf for pattern, tf in PEAK_TFLOPS if re.search(pattern, device_name)), None)


def mfu(n_params: int, tokens_per_s: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation with 4·N FLOPs per token: forward 2N + activation-gradient backward 2N
    (frozen base weights get no weight gradients; LoRA's own FLOPs are negligible)."""
    return 4 * n_params * tokens_per_s / (peak_tflops * 1e12)


def _device(name: str):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"--device cuda: CUDA is not available (torch {torch.__version__}, CUDA build "
                         f"{torch.version.cuda}, torch.cuda.is_available() is False); use --device cpu or auto")
    return torch.device("cuda", 0) if name != "cpu" and torch.cuda.is_available() else torch.device("cpu")


def _peak_memory_gib(device) -> tuple[float, str]:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / GIB, "cuda max_memory_allocated"
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss * (1 if sys.platform == "darwin" else 1024) / GIB, "peak RSS of the whole process"


def _train(model, device, vocab: int, args) -> tuple[list[float], float]:
    """Warmup + timed optimizer steps on random ids (labels = inputs); step times of the timed ones."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt, gen, times = torch.optim.AdamW(params, lr=1e-4), torch.Generator().manual_seed(SEED), []
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None  # kernels are async on CUDA
    model.train()
    for _ in range(args.warmup_steps + args.steps):
        ids = torch.randint(0, vocab, (args.batch_size, args.seq_len), generator=gen).to(device)
        sync()
        t = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)  # as the engine's worker does
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        times.append(time.perf_counter() - t)
    return times[args.warmup_steps:], loss.item()


def _estimate(config, args) -> dict:
    """profiles.estimate_vram for this shape and batch (a GPU estimate; on CPU only a rough reference)."""
    from campaign.config.profiles import estimate_vram

    head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    shape = {"hidden": config.hidden_size, "layers": config.num_hidden_layers, "ffn": config.intermediate_size,
             "vocab": config.vocab_size, "q_dim": config.num_attention_heads * head,
             "kv_dim": config.num_key_value_heads * head, "tied": config.tie_word_embeddings}
    values = {"train.batch_size": args.batch_size, "model.max_seq_len": args.seq_len,
              "model.quantization": args.quantization, "train.gradient_checkpointing": args.gradient_checkpointing}
    return estimate_vram(shape, values, lora_r=LoraSettings().r)


def _mfu_fields(n: int, tokens_per_s: float, device_name: str, args) -> dict:
    peak = args.peak_tflops or peak_tflops_for(device_name)
    if peak is None:
        why = "CPU: no tensor-core peak" if device_name == "cpu" else f"no known peak for {device_name!r}"
        return {"peak_tflops": None, "mfu": None, "mfu_note": f"{why}; pass --peak-tflops to compute MFU"}
    source = "--peak-tflops" if args.peak_tflops else f"the dense bf16 table for {device_name!r}"
    return {"peak_tflops": peak, "mfu": mfu(n, tokens_per_s, peak), "mfu_note": f"peak from {source}"}


def run_benchmark(args) -> dict:
    """Build or reuse the model, load it through the engine, train, and return the figures."""
    import torch
    from transformers import AutoConfig

    from trainables.modeling import quiet_libraries

    device = _device(args.device)  # before any build: a missing GPU fails in a second
    quiet_libraries()
    folder = ensure_bench_model(args.size, args.model_dir)
    config = AutoConfig.from_pretrained(folder)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t = time.perf_counter()
    model = load_for_training(folder, args.quantization, device, args.gradient_checkpointing)
    load_s = time.perf_counter() - t
    times, loss = _train(model, device, config.vocab_size, args)
    peak, peak_kind = _peak_memory_gib(device)
    n = param_count(config)
    tokens_per_s = args.batch_size * args.seq_len * len(times) / sum(times)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"size": args.size, "model_dir": str(folder), "shape": SHAPES[args.size], "params_total": n,
            "params_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "quantization": args.quantization, "gradient_checkpointing": args.gradient_checkpointing,
            "device": device_name, "torch_threads": torch.get_num_threads(), "batch_size": args.batch_size,
            "seq_len": args.seq_len, "steps": args.steps, "warmup_steps": args.warmup_steps, "load_s": load_s,
            "tokens_per_s": tokens_per_s, "step_time_mean_s": statistics.mean(times), "final_loss": loss,
            "peak_memory_gib": peak, "peak_memory_kind": peak_kind, "estimate_vram_gib": _estimate(config, args),
            "flops_per_token": 4 * n, **_mfu_fields(n, tokens_per_s, device_name, args)}


def _number(kind, low):
    def parse(text: str):
        value = kind(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low} (got {text})")
        return value
    parse.__name__ = kind.__name__  # argparse names it in "invalid int value"
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m campaign.bench.qlora", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=list(SHAPES), default="0.5b",
                   help="model shape (Qwen2-like, 8b Qwen3-like; tiny for tests)")
    p.add_argument("--model-dir", help="where the built model is saved/reused (default: the campaign cache)")
    p.add_argument("--quantization", choices=QUANTIZATIONS, default="nf4")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto", help="auto: cuda if available")
    p.add_argument("--steps", type=_number(int, 1), default=20, help="timed optimizer steps")
    p.add_argument("--warmup-steps", type=_number(int, 0), default=3, help="untimed steps first")
    p.add_argument("--batch-size", type=_number(int, 1), default=4)
    p.add_argument("--seq-len", type=_number(int, 1), default=512)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--peak-tflops", type=_number(float, 0.001), help="device peak for MFU (default: table by GPU name)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--smoke-test", action="store_true",
                   help="tiny shape, 2 steps after 1 warmup, batch 2 x 32 tokens, on CPU (overrides those flags)")
    return p


def _print(r: dict) -> None:
    est = r["estimate_vram_gib"]["total"]
    mfu_text = f"{r['mfu']:.4f}" if r["mfu"] is not None else f"n/a ({r['mfu_note']})"
    for key, value in [
        ("model", f"{r['shape'].get('model_type', 'qwen2')}-{r['size']} {r['shape']}"), ("model dir", r["model_dir"]),
        ("N (unquantized params)", f"{r['params_total']:,}"),
        ("trainable (LoRA)", f"{r['params_trainable']:,}"),
        ("quantization / checkpointing", f"{r['quantization']} / {r['gradient_checkpointing']}"),
        ("device", f"{r['device']} ({r['torch_threads']} torch threads)"),
        ("batch x seq, timed steps", f"{r['batch_size']} x {r['seq_len']}, {r['steps']} (+{r['warmup_steps']} warmup)"),
        ("load", f"{r['load_s']:.1f} s"), ("step time mean", f"{r['step_time_mean_s']:.3f} s"),
        ("tokens/s", f"{r['tokens_per_s']:.1f}"),
        ("peak memory", f"{r['peak_memory_gib']:.2f} GiB ({r['peak_memory_kind']}); estimate_vram {est} GiB"),
        ("MFU (4·N·tokens/s / peak)", mfu_text)]:
        print(f"{key:>30}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.smoke_test:
        vars(args).update(size="tiny", steps=2, warmup_steps=1, seq_len=32, batch_size=2, device="cpu")
    try:
        result = run_benchmark(args)
    except BenchError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    _print(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
