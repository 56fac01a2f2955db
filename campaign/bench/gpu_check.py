"""The GPU check: the engine's own worker path, without Ray, on config-built Qwen shapes (random weights).

Run it with ``scripts/gpu_check.sh`` (docs/BENCHMARKS.md). For each shape it times and checks:

build     the model folder (``bench_qlora.ensure_bench_model``); on CUDA the bf16 weights are drawn on the GPU
load      ``load_base_model`` (NF4, compute dtype ``auto``) and ``apply_lora`` (r 16, alpha 32, all-linear)
demo      ``fit`` on generated demo rows (``datagen.generate`` + ``encode_rows``), with the batching
          ``choose_batching`` picks; the loss on one fixed batch before and after must fall
timing    ``fit`` on random-token rows, ``--batch-size`` x ``--seq-len`` (2 x 1024) per micro-step:
          tokens/s, MFU (4·N, ``bench_qlora.mfu``) and peak memory
generate  ``evaluate_rows`` (batched greedy) on ``--gen-prompts`` demo prompts: latency p50/p95

The 8b shape trains with gradient checkpointing, and its 2 x 1024 step must peak under 20 GiB (an A100
3g.20gb MIG slice). Results go to ``<out>/results.json`` (rewritten after every phase, so a run cut
short keeps what it measured) and ``<out>/gpu_check.log``; a short table is printed last. One failing
shape is reported and the others still run; the exit status is 1 if any shape failed.

Nothing here imports ray, datasets, optuna or wandb: the GPU machine has none of them.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from campaign.bench.qlora import GIB, SHAPES, _number

__all__ = ["PLAN", "build_parser", "run_check", "main"]

PROG = "gpu_check"
TEMPLATE_ROWS_SEED, GEN_ROWS_SEED, TIMING_SEED = 0, 1, 0
# Per shape: gradient checkpointing, the memory limit its 2 x 1024 step must stay under (GiB, or None), and the
# seconds planned for it on one H200 (printed beside what it took; the whole default run is planned at <= 8 min).
PLAN: dict[str, dict] = {
    "tiny": {"gradient_checkpointing": True, "memory_limit_gib": None, "planned_s": 60},
    "0.5b": {"gradient_checkpointing": False, "memory_limit_gib": None, "planned_s": 60},
    "1.5b": {"gradient_checkpointing": False, "memory_limit_gib": None, "planned_s": 80},
    "8b": {"gradient_checkpointing": True, "memory_limit_gib": 20.0, "planned_s": 240},
}
PHASES = ("build", "load", "demo", "timing", "generate")
SMOKE = {"shapes": "tiny", "device": "cpu", "threads": 1, "steps": 2, "warmup_steps": 1, "seq_len": 64, "demo_steps": 8,
         "demo_batch": 8, "gen_prompts": 8, "gen_batch": 4, "max_new_tokens": 8}


class CheckError(RuntimeError):
    """A problem with the machine or the arguments (no CUDA, no bitsandbytes): one line, exit status 1."""


class _Tee:
    """Everything printed goes to the terminal and to the log file."""

    def __init__(self, stream, file):
        self.stream, self.file = stream, file

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.file.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.file.flush()


def _say(*parts) -> None:
    print(*parts, flush=True)


def _shapes(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in PLAN]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown shape(s) {unknown or text!r}; choose from {', '.join(PLAN)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--shapes", type=_shapes, default=_shapes("0.5b,1.5b,8b"),
                   help="comma-separated shapes, run in this order (default 0.5b,1.5b,8b; tiny for tests)")
    p.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out",
                   help="folder for results.json and gpu_check.log (default $OUT if set, else ./gpu_check_out)")
    p.add_argument("--steps", type=_number(int, 1), default=10, help="timed optimizer steps of the timing phase")
    p.add_argument("--warmup-steps", type=_number(int, 0), default=2, help="untimed steps before them")
    p.add_argument("--batch-size", type=_number(int, 1), default=2, help="rows per micro-step in the timing phase")
    p.add_argument("--seq-len", type=_number(int, 2), default=1024, help="tokens per row in the timing phase")
    p.add_argument("--demo-steps", type=_number(int, 1), default=30, help="optimizer steps on the demo rows")
    p.add_argument("--demo-batch", type=_number(int, 1), default=8, help="demo rows per step")
    p.add_argument("--demo-lr", type=_number(float, 1e-9), default=1e-3)
    p.add_argument("--gen-prompts", type=_number(int, 1), default=32)
    p.add_argument("--gen-batch", type=_number(int, 1), default=8, help="prompts per generate call")
    p.add_argument("--max-new-tokens", type=_number(int, 1), default=40)
    p.add_argument("--compute-dtype", choices=["auto", "bfloat16", "float16", "float32"], default="auto")
    p.add_argument("--batching", choices=["auto", "padded", "length_grouped", "padding_free"], default="auto",
                   help="auto: what choose_batching picks for the device (padding_free on CUDA)")
    p.add_argument("--model-cache", help="where model folders are built (default $CAMPAIGN_CACHE or "
                                         "~/.cache/campaign-engine); never under --out")
    p.add_argument("--threads", type=_number(int, 1), help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--budget-s", type=_number(float, 1), default=450.0,
                   help="phases not started within this many seconds are skipped (the shape fails)")
    p.add_argument("--smoke-test", action="store_true",
                   help="tiny shape on CPU, one thread, a few steps, padding-free batches (the CUDA choice) for CI")
    return p


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "safetensors", "tokenizers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _device(name: str):
    import torch

    if name == "cuda":
        if not torch.cuda.is_available():
            raise CheckError(f"--device cuda: CUDA is not available (torch {torch.__version__}, CUDA build "
                             f"{torch.version.cuda}, torch.cuda.is_available() is False); use --device cpu")
        return torch.device("cuda", 0)
    return torch.device("cpu")


def _env(device) -> dict:
    import torch

    env = {**_versions(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    if device.type == "cuda":
        env.update(device=torch.cuda.get_device_name(device), capability=list(torch.cuda.get_device_capability(device)),
                   total_memory_gib=round(torch.cuda.get_device_properties(device).total_memory / GIB, 1))
    else:
        env.update(device="cpu", cpu_capability=torch.backends.cpu.get_cpu_capability())
    return env


class _Memory:
    """Peak memory per phase: CUDA max_memory_allocated (reset per phase), or the process's peak RSS on CPU."""

    def __init__(self, device):
        self.device = device

    def reset(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> dict:
        import torch

        from campaign.bench.qlora import _peak_memory_gib

        gib, kind = _peak_memory_gib(self.device)
        out = {"peak_gib": round(gib, 3), "kind": kind}
        if self.device.type == "cuda":
            out["reserved_peak_gib"] = round(torch.cuda.max_memory_reserved(self.device) / GIB, 3)
        return out


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device) -> None:
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def param_dtypes(model) -> dict:
    """Bytes of the model's parameters by role and dtype (embedding, lm_head, norms, LoRA, quantized, other)."""
    summary: dict[str, dict[str, int]] = {}
    seen = set()
    for name, p in model.named_parameters():
        if id(p) in seen:  # a tied embedding is one tensor
            continue
        seen.add(id(p))
        if type(p).__name__ in ("Params4bit", "Int8Params"):
            role = "quantized"
        elif "lora_" in name:
            role = "lora"
        elif "modules_to_save" in name:
            role = "modules_to_save"
        elif "embed_tokens" in name:
            role = "embed_tokens"
        elif "lm_head" in name:
            role = "lm_head"
        elif "norm" in name:
            role = "norms"
        elif name.endswith(".bias"):
            role = "biases"
        else:
            role = "other"
        key = str(p.dtype).replace("torch.", "")
        summary.setdefault(role, {}).setdefault(key, 0)
        summary[role][key] += p.numel() * p.element_size()
    return summary


def _timing_rows(n: int, seq_len: int, vocab: int) -> list[dict]:
    """Random-token rows (as bench_qlora trains on); the first label is masked as a prompt's would be."""
    import torch

    from trainables.sft import IGNORE

    ids = torch.randint(0, vocab, (n, seq_len), generator=torch.Generator().manual_seed(TIMING_SEED)).tolist()
    return [{"input_ids": row, "labels": [IGNORE] + row[1:]} for row in ids]


def _train_config(**values) -> dict:
    from campaign.config import TrainConfig

    return dataclasses.asdict(TrainConfig(**values))


def _fixed_batch_loss(model, batch: dict, device) -> float:
    """The training loss of ``batch`` without a step: train mode (same dropout masks each time), no gradients.

    Not eval mode: on a CPU with AVX512-BF16, bitsandbytes 0.50 repacks each Linear4bit for inference at its
    first eval-mode forward, and training after that loses the input gradients through the base weights (and
    fails outright on layers with a bias, as Qwen2's q/k/v have).
    """
    import torch

    from trainables.trainer import batch_loss

    model.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(1234)
        return batch_loss(model, {k: v.to(device) for k, v in batch.items()}).item()


class _Shape:
    """One shape's run, phase by phase; every phase records its seconds and peak memory into ``self.r``."""

    def __init__(self, size: str, args, device, memory: _Memory, save):
        self.size, self.args, self.device, self.memory, self.save = size, args, device, memory, save
        self.plan = PLAN[size]
        self.r: dict = {"shape": size, "arch": SHAPES[size].get("model_type", "qwen2"), "config": SHAPES[size],
                        "gradient_checkpointing": self.plan["gradient_checkpointing"], "phases": {}, "ok": False}

    def phase(self, name: str, fn, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise CheckError(f"phase {name} not started: past the --budget-s deadline ({self.args.budget_s:.0f} s)")
        _say(f"[{self.size}] {name} ...")
        self.memory.reset()
        t = time.perf_counter()
        try:
            info = fn() or {}
            _sync(self.device)
        except BaseException as err:  # the failed phase keeps its seconds and peak memory too
            self.r["phases"][name] = {"s": round(time.perf_counter() - t, 2), **self.memory.peak(),
                                      "error": f"{type(err).__name__}: {err}"}
            raise
        seconds = time.perf_counter() - t
        self.r["phases"][name] = {"s": round(seconds, 2), **self.memory.peak(), **info}
        mem = self.r["phases"][name]
        _say(f"[{self.size}] {name}: {seconds:.1f} s, peak {mem['peak_gib']:.2f} GiB"
             + "".join(f", {k} {v}" for k, v in info.items() if k in _SHOWN))
        self.save()

    # -- phases -----------------------------------------------------------------------------------------------
    def build(self) -> dict:
        from campaign.bench.qlora import ensure_bench_model, param_count
        from transformers import AutoConfig

        t = time.perf_counter()
        self.folder = ensure_bench_model(self.size, init_device=self.device.type)
        self.config = AutoConfig.from_pretrained(self.folder)
        self.n_params = param_count(self.config)
        self.r.update(model_dir=str(self.folder), params_total=self.n_params)
        _free(self.device)  # the bf16 model drawn on the GPU is gone; give its cached blocks back
        size_gib = sum(f.stat().st_size for f in self.folder.glob("*.safetensors")) / GIB
        return {"init_device": self.device.type, "files_gib": round(size_gib, 2),
                "built_s": round(time.perf_counter() - t, 2)}

    def load(self) -> dict:
        from campaign.config import CampaignConfig, LoraSettings, ModelConfig
        from campaign.decide.precision import resolve_compute_dtype
        from trainables.probe import probe_device
        from trainables.modeling import apply_lora, load_base_model, load_tokenizer
        from trainables.trainer import choose_batching

        a = self.args
        model_cfg = dataclasses.asdict(ModelConfig(quantization="nf4", compute_dtype=a.compute_dtype,
                                                   max_new_tokens=max(8, a.max_new_tokens)))
        model_cfg["max_new_tokens"] = a.max_new_tokens
        model_cfg["prompt_template"] = CampaignConfig().prompt()[0]  # the demo's prompt: the task's default style
        self.model_cfg = model_cfg
        choice = resolve_compute_dtype(a.compute_dtype, probe_device(self.device.type == "cuda"))
        lora_cfg = dataclasses.asdict(LoraSettings())
        self.tok = load_tokenizer(str(self.folder))
        base = load_base_model(str(self.folder), model_cfg, self.device)
        loaded = param_dtypes(base)
        self.model = apply_lora(base, lora_cfg, True, self.plan["gradient_checkpointing"])
        attn = self.model.config._attn_implementation
        self.batching, why = choose_batching(a.batching, self.device.type, attn)
        self.r.update(compute_dtype=choice["dtype"], compute_dtype_reason=choice["reason"], attn_implementation=attn,
                      batching=self.batching, batching_why=why,
                      batching_auto_on_cuda=choose_batching("auto", "cuda", attn)[0],
                      lora={k: lora_cfg[k] for k in ("r", "alpha", "dropout", "target_modules")},
                      params_trainable=sum(p.numel() for p in self.model.parameters() if p.requires_grad),
                      param_bytes_loaded=loaded, param_bytes_after_lora=param_dtypes(self.model))
        _say(f"[{self.size}] {choice['reason']}")
        _say(f"[{self.size}] {why}")
        _say(f"[{self.size}] parameters after apply_lora: " + ", ".join(
            f"{role} {dtype} {n / GIB:.3f} GiB" for role, by in self.r["param_bytes_after_lora"].items()
            for dtype, n in by.items()))
        return {"dtype": choice["dtype"], "batching": self.batching}

    def demo(self) -> dict:
        from campaign.tasks.hidden_params.datagen import generate
        from trainables.sft import collate, encode_rows
        from trainables.trainer import fit

        a = self.args
        rows = generate(a.demo_steps * a.demo_batch, seed=TEMPLATE_ROWS_SEED)
        template, max_len = self.model_cfg["prompt_template"], self.model_cfg["max_seq_len"]
        examples, truncated = encode_rows(self.tok, rows, template, max_len)
        fixed = collate(examples[:a.demo_batch], self.tok.pad_token_id, self.batching)
        before = _fixed_batch_loss(self.model, fixed, self.device)
        tc = _train_config(lr=a.demo_lr, epochs=1, batch_size=a.demo_batch, max_steps=a.demo_steps, seed=0,
                           gradient_checkpointing=self.plan["gradient_checkpointing"], batching=self.batching)
        epochs = []
        progress = fit(self.model, examples, self.tok.pad_token_id, tc, self.device, batching=self.batching,
                       on_epoch=lambda epoch, loss, prog, last: epochs.append(loss))
        after = _fixed_batch_loss(self.model, fixed, self.device)
        fell = math.isfinite(before) and math.isfinite(after) and after < before
        self.r["demo"] = {"rows": len(rows), "truncated": truncated, "steps": progress.steps, "lr": a.demo_lr,
                          "loss_before": before, "loss_after": after, "loss_fell": fell, "epoch_mean_loss": epochs[-1],
                          "tokens": progress.tokens, "tokens_per_s": progress.tokens / max(progress.train_s, 1e-9)}
        return {"loss": f"{before:.3f} -> {after:.3f}"}

    def timing(self) -> dict:
        from campaign.bench.qlora import _estimate, mfu, peak_tflops_for
        from trainables.trainer import fit

        a, device = self.args, self.device
        rows = _timing_rows(a.batch_size * (a.warmup_steps + a.steps), a.seq_len, self.config.vocab_size)
        common = {"lr": 1e-4, "epochs": 1, "batch_size": a.batch_size, "seed": 0, "warmup_ratio": 0.0,
                  "gradient_checkpointing": self.plan["gradient_checkpointing"], "batching": self.batching}
        warm = rows[:a.batch_size * a.warmup_steps]
        if warm:
            fit(self.model, warm, self.tok.pad_token_id, _train_config(max_steps=a.warmup_steps, **common), device,
                batching=self.batching, on_epoch=lambda *_: None)
        timed = rows[len(warm):]
        _sync(device)
        self.memory.reset()  # the 2 x 1024 training step's own peak (the MIG check), apart from the load's
        t = time.perf_counter()
        progress = fit(self.model, timed, self.tok.pad_token_id, _train_config(max_steps=a.steps, **common), device,
                       batching=self.batching, on_epoch=lambda *_: None)
        _sync(device)
        wall = time.perf_counter() - t
        train_peak = self.memory.peak()
        tokens_per_s = progress.tokens / wall
        name = torch_device_name(device)
        peak_tf = peak_tflops_for(name) if device.type == "cuda" else None
        est = _estimate(self.config, argparse.Namespace(batch_size=a.batch_size, seq_len=a.seq_len, quantization="nf4",
                                                        gradient_checkpointing=self.plan["gradient_checkpointing"]))
        self.r["timing"] = {
            "batch_size": a.batch_size, "seq_len": a.seq_len, "steps": progress.steps, "warmup_steps": a.warmup_steps,
            "tokens": progress.tokens, "wall_s": wall, "step_time_mean_s": wall / max(progress.steps, 1),
            "tokens_per_s": tokens_per_s, "tokens_per_s_fit": progress.tokens / max(progress.train_s, 1e-9),
            "final_loss": progress.loss_sum / max(progress.loss_n, 1), "flops_per_token": 4 * self.n_params,
            "peak_tflops": peak_tf, "mfu": mfu(self.n_params, tokens_per_s, peak_tf) if peak_tf else None,
            "mfu_note": (f"4·N, N={self.n_params:,}, dense bf16 peak {peak_tf} TFLOPS for {name!r}" if peak_tf else
                         f"no dense bf16 peak known for {name!r}"),
            "train_peak_gib": train_peak["peak_gib"], "train_peak_kind": train_peak["kind"],
            "train_reserved_peak_gib": train_peak.get("reserved_peak_gib"), "estimate_vram_gib": est}
        limit = self.plan["memory_limit_gib"]
        if limit is not None:
            passed = device.type == "cuda" and train_peak["peak_gib"] < limit
            self.r["memory_check"] = {
                "limit_gib": limit, "measured_gib": train_peak["peak_gib"], "pass": passed,
                "what": f"max_memory_allocated of the {a.batch_size} x {a.seq_len} training steps, gradient "
                        f"checkpointing {self.plan['gradient_checkpointing']} (A100 3g.20gb MIG slice)",
                "reserved_gib": train_peak.get("reserved_peak_gib"),
                "load_peak_gib": self.r["phases"]["load"]["peak_gib"],
                "note": ("a 3g.20gb slice shows about 19.5 GiB, and the CUDA context and the caching allocator's "
                         "reserve (reserved_gib) come on top of max_memory_allocated; the load's own peak "
                         "(load_peak_gib, peft's transient fp32 casts included) must fit too"
                         if device.type == "cuda" else "not a GPU measurement: FAIL by definition")}
            _say(f"[{self.size}] memory: {a.batch_size} x {a.seq_len} training peak {train_peak['peak_gib']:.2f} GiB "
                 f"vs {limit:g} GiB limit: {'PASS' if passed else 'FAIL'}")
        return {"tokens/s": f"{tokens_per_s:,.0f}", "mfu": f"{self.r['timing']['mfu']:.3f}" if peak_tf else "n/a"}

    def generate(self) -> dict:
        from campaign.tasks.hidden_params.datagen import generate
        from trainables.evaluate import evaluate_rows

        a = self.args
        rows = generate(a.gen_prompts, seed=GEN_ROWS_SEED)
        cfg = {"task": {"kind": "hidden_params"}, "model": self.model_cfg,
               "train": {"eval_batch_size": a.gen_batch, "hard_cases_k": 2}}
        t = time.perf_counter()
        scores, details = evaluate_rows(self.model, self.tok, rows, cfg, self.device, "valid")
        self.r["generate"] = {"prompts": len(rows), "batch": a.gen_batch, "max_new_tokens": a.max_new_tokens,
                              "wall_s": time.perf_counter() - t, "latency_p50_ms": scores["valid/latency_p50_ms"],
                              "latency_p95_ms": scores["valid/latency_p95_ms"],
                              "json_valid_rate": scores.get("valid/json_valid_rate"),
                              "sample_outputs": [o["output"][:80] for o in details["outputs"][:3]]}
        return {"p50/p95 ms": f"{scores['valid/latency_p50_ms']:.0f}/{scores['valid/latency_p95_ms']:.0f}"}

    def run(self, deadline: float) -> dict:
        t = time.perf_counter()
        try:
            for name in PHASES:
                self.phase(name, getattr(self, name), deadline)
            failures = []
            if not self.r["demo"]["loss_fell"]:
                failures.append("demo loss did not fall")
            if "memory_check" in self.r and not self.r["memory_check"]["pass"]:
                failures.append(f"training peak over {self.r['memory_check']['limit_gib']:g} GiB")
            self.r["ok"], self.r["failures"] = not failures, failures
        except Exception as err:  # one shape's failure is reported; the others still run
            self.r["error"] = f"{type(err).__name__}: {err}"
            self.r["traceback"] = traceback.format_exc()
            logging.getLogger(PROG).error("shape %s failed:\n%s", self.size, self.r["traceback"])
            _say(f"[{self.size}] FAILED: {self.r['error']}")
        finally:
            self.model = self.tok = None
            _free(self.device)
        self.r["elapsed_s"] = round(time.perf_counter() - t, 1)
        peaks = [ph["peak_gib"] for name, ph in self.r["phases"].items() if name != "build"]
        self.r["peak_gib"] = max(peaks) if peaks else None  # after the build, over load, training and generation
        self.r["planned_s"] = self.plan["planned_s"]
        over = " (over plan)" if self.r["elapsed_s"] > self.plan["planned_s"] and self.device.type == "cuda" else ""
        _say(f"[{self.size}] done in {self.r['elapsed_s']:.1f} s (planned {self.plan['planned_s']} s on an H200){over}")
        return self.r


_SHOWN = ("dtype", "batching", "loss", "tokens/s", "mfu", "p50/p95 ms", "built_s", "files_gib")


def torch_device_name(device) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def table(results: dict) -> str:
    """The short table printed last."""
    head = ("shape", "status", "dtype", "batching", "build s", "load s", "tok/s", "MFU", "train peak GiB",
            "gen p50/p95 ms", "loss before->after", "total s")
    lines = []
    for size, r in results["shapes"].items():
        ph, t, g, d = r.get("phases", {}), r.get("timing", {}), r.get("generate", {}), r.get("demo", {})
        status = "ok" if r.get("ok") else ("ERROR" if "error" in r else "FAIL")
        loss = "-" if not d else (f"{d['loss_before']:.2f}->{d['loss_after']:.2f}"
                                  + ("" if d.get("loss_fell") else " (no fall)"))
        gen = f"{g['latency_p50_ms']:.0f}/{g['latency_p95_ms']:.0f}" if g else "-"
        lines.append((size, status, r.get("compute_dtype", "-"), r.get("batching", "-"),
                      _fmt(ph.get("build", {}).get("s"), ".1f"), _fmt(ph.get("load", {}).get("s"), ".1f"),
                      _fmt(t.get("tokens_per_s"), ",.0f"), _fmt(t.get("mfu"), ".3f", "n/a" if t else "-"),
                      _fmt(t.get("train_peak_gib"), ".2f"), gen, loss, _fmt(r.get("elapsed_s"), ".0f")))
    widths = [max(len(str(row[i])) for row in [head, *lines]) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in [head, *lines]]
    for size, r in results["shapes"].items():
        if "memory_check" in r:
            m = r["memory_check"]
            out.append(f"{size}: {r['timing']['batch_size']} x {r['timing']['seq_len']} training peak "
                       f"{m['measured_gib']:.2f} GiB < {m['limit_gib']:g} GiB: {'PASS' if m['pass'] else 'FAIL'}")
        if "error" in r:
            out.append(f"{size}: ERROR {r['error']}")
        elif r.get("failures"):
            out.append(f"{size}: FAIL {'; '.join(r['failures'])}")
    verdict = "PASS" if results["ok"] else "FAIL"
    build = sum(r.get("phases", {}).get("build", {}).get("s", 0.0) for r in results["shapes"].values())
    out.append(f"gpu_check {verdict}: {sum(r.get('ok', False) for r in results['shapes'].values())}/"
               f"{len(results['shapes'])} shapes ok in {results['elapsed_s']:.0f} s ({build:.0f} s of it building "
               f"models) on {results['env'].get('device')}")
    return "\n".join(out)


def run_check(args) -> dict:
    """Every shape in turn; the results dict (also written to ``<out>/results.json`` after each phase)."""
    import torch

    from trainables.modeling import quiet_libraries

    out = Path(args.out)
    t0, start = time.monotonic(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    device = _device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import bitsandbytes  # noqa: F401  (NF4 needs it; scripts/gpu_check.sh installs the carried wheel)
    except ImportError as err:
        raise CheckError(f"bitsandbytes is not importable ({err}); run through scripts/gpu_check.sh, which installs "
                         ".whl/bitsandbytes-*.whl (docs/BENCHMARKS.md)") from None
    quiet_libraries()
    results = {"started": start, "args": {k: v for k, v in vars(args).items()}, "env": _env(device), "shapes": {},
               "ok": False, "elapsed_s": 0.0}
    path = out / "results.json"

    def save() -> None:
        results["elapsed_s"] = round(time.monotonic() - t0, 1)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=1, default=str))
        os.replace(tmp, path)

    env = results["env"]
    _say(f"{PROG}: {env['device']}; torch {env['torch']}, transformers {env['transformers']}, peft {env['peft']}, "
         f"bitsandbytes {env['bitsandbytes']}; shapes {','.join(args.shapes)}; results in {path}")
    memory = _Memory(device)
    deadline = t0 + args.budget_s
    for size in args.shapes:
        torch.manual_seed(0)
        shape = _Shape(size, args, device, memory, save)
        results["shapes"][size] = shape.r
        shape.run(deadline)
        save()
    results["ok"] = all(r.get("ok") for r in results["shapes"].values())
    save()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.smoke_test:
        for key, value in SMOKE.items():
            if key == "shapes" or parser.get_default(key) == getattr(args, key):
                setattr(args, key, _shapes(value) if key == "shapes" else value)
        if args.batching == "auto":
            args.batching = "padding_free"  # what auto picks on CUDA, exercised on the CPU
    if args.model_cache:
        os.environ["CAMPAIGN_CACHE"] = str(Path(args.model_cache).resolve())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "gpu_check.log", "a", encoding="utf-8") as log_file:
        stdout, root = sys.stdout, logging.getLogger()
        sys.stdout = _Tee(stdout, log_file)
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        levels = {name: logging.getLogger(name).level for name in ("trainables", "campaign", PROG)}
        root.addHandler(handler)
        logging.captureWarnings(True)
        for name in levels:
            logging.getLogger(name).setLevel(logging.INFO)
        try:
            return _main(args, out)
        finally:
            root.removeHandler(handler)
            logging.captureWarnings(False)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
            sys.stdout = stdout


def _main(args, out: Path) -> int:
    t = time.monotonic()
    try:
        results = run_check(args)
    except CheckError as err:
        message = f"{PROG}: error: {err}"
        sys.stdout.file.write(message + "\n")
        print(message, file=sys.stderr, flush=True)
        return 1
    _say(f"\n{PROG}: wrote {out / 'results.json'} and {out / 'gpu_check.log'} ({time.monotonic() - t:.0f} s)")
    _say(table(results))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
