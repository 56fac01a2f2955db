"""Benchmark the engine's trial trainer (``trainables.trainer.fit``) against a plain HF ``Trainer``.

Every variant trains the same NF4 + LoRA model, freshly loaded with the same seed, on the same
encoded demo rows for the same number of optimizer steps, with the same batch size, LR schedule,
compute dtype and thread count, each in its own subprocess (so each has its own peak memory):

- ``engine``: ``fit`` with the batching a trial picks on this device (``choose_batching("auto")``);
- ``engine_padded`` / ``engine_length_grouped`` / ``engine_padding_free``: ``fit`` with that batching forced;
- ``hf_trainer``: ``transformers.Trainer`` on the same peft model with right-padded batches
  (``DataCollatorForSeq2Seq``), the baseline most users write. Its sampler yields the engine's
  ``padded`` batch order, so its loss curve can be compared step by step with ``engine_padded``.

Reported per variant: non-pad tokens/s of training (and per CPU-second, which other load on the
machine disturbs less), its ratio to ``hf_trainer``, peak memory, the mean completion loss on 64
held-out rows after training, and the per-step training loss. The held-out loss is computed so that
bitsandbytes does not repack the NF4 weights for inference (``_no_cpu_weight_packing``). See
docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from campaign.bench.qlora import BenchError, ensure_bench_model
from campaign.config import CampaignConfig, ModelConfig, TrainConfig

__all__ = ["VARIANTS", "SIZES", "HELDOUT_ROWS", "HELDOUT_SEED", "lora_settings", "train_settings",
           "model_folder", "resolve_dtype", "encode_data", "packed_layers", "heldout_loss", "run_variant", "run_all",
           "table", "build_parser", "main"]

VARIANTS = ("engine", "engine_padded", "engine_length_grouped", "engine_padding_free", "hf_trainer")
SIZES = ("tiny", "0.5b")
HELDOUT_ROWS, HELDOUT_SEED = 64, 7919  # the held-out rows: the data config's eval seed, never trained on
BATCH_SIZE, LR, SEED = 8, 2e-3, 0  # the demo's (search_spaces/balanced_6run.yaml)
LAST_K = 5  # training loss reported as the mean of the last LAST_K optimizer steps' losses


def lora_settings(size: str) -> dict:
    """The demo's LoRA; the tiny model also trains its embeddings, as balanced_6run.yaml does."""
    save = ["embed_tokens", "lm_head"] if size == "tiny" else []
    return {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear", "modules_to_save": save}


def train_settings(steps: int, n_examples: int) -> dict:
    """The trainer config ``fit`` takes: the demo's lr and batch, TrainConfig's defaults otherwise."""
    d = TrainConfig()
    per_epoch = math.ceil(n_examples / BATCH_SIZE)
    return {"lr": LR, "epochs": math.ceil(steps / per_epoch), "batch_size": BATCH_SIZE, "grad_accum": 1,
            "warmup_ratio": d.warmup_ratio, "weight_decay": d.weight_decay, "max_grad_norm": d.max_grad_norm,
            "seed": SEED, "max_steps": steps}


def model_folder(size: str) -> Path:
    """The demo's tiny model, or the 0.5B Qwen2-shaped random-weight benchmark model (built once, cached)."""
    from trainables.tiny_model import ensure_tiny_model

    return ensure_tiny_model() if size == "tiny" else ensure_bench_model(size)


def resolve_dtype(requested: str, device_type: str) -> dict:
    """``model.compute_dtype`` resolved once, in the parent, for the device the variants run on."""
    from campaign.decide.precision import resolve_compute_dtype
    from trainables.probe import probe_device

    return resolve_compute_dtype(requested, probe_device(device_type == "cuda"))


def _model_cfg(dtype: str) -> dict:
    d = ModelConfig()
    return {"quantization": "nf4", "compute_dtype": dtype, "double_quant": d.double_quant,
            "trust_remote_code": False}


def encode_data(tok, rows: int) -> tuple[list[dict], list[dict]]:
    """The demo rows (``generate(rows, seed=0)``) and the held-out rows, encoded as a trial encodes them."""
    from campaign.tasks.hidden_params.datagen import generate
    from trainables.sft import encode_rows

    d, template = ModelConfig(), CampaignConfig().prompt()[0]  # the demo's prompt: the task's default style
    train, _ = encode_rows(tok, generate(rows, seed=0), template, d.max_seq_len)
    heldout, _ = encode_rows(tok, generate(HELDOUT_ROWS, seed=HELDOUT_SEED), template, d.max_seq_len)
    return train, heldout


@contextlib.contextmanager
def _no_cpu_weight_packing(model):
    """Keep bitsandbytes from repacking NF4 weights for its CPU inference kernel during an eval forward.

    On a CPU with AVX512-BF16, a ``Linear4bit`` forward in eval mode without grad converts its weight,
    for good, to a layout whose kernel (``gemv_4bit``) has no autograd: a model trained after that gets
    no gradient through its frozen layers. The held-out loss before training must not do that.
    """
    layers = [m for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu")]
    saved = [m.support_avx512bf16_for_cpu for m in layers]
    for m in layers:
        m.support_avx512bf16_for_cpu = False
    try:
        yield
    finally:
        for m, flag in zip(layers, saved):
            m.support_avx512bf16_for_cpu = flag


def packed_layers(model) -> int:
    """NF4 layers in bitsandbytes' CPU inference layout (they would train without input gradients)."""
    return sum(bool(getattr(getattr(getattr(m, "weight", None), "quant_state", None), "packing_format_for_cpu", False))
               for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu"))


def heldout_loss(model, examples: list[dict], pad_id: int, device) -> float:
    """Completion-token mean cross-entropy over ``examples`` (eval mode, no grad, padded batches of 8)."""
    import torch

    from trainables.sft import collate
    from trainables.trainer import batch_loss

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), _no_cpu_weight_packing(model):
        for i in range(0, len(examples), BATCH_SIZE):
            batch = collate(examples[i:i + BATCH_SIZE], pad_id, "padded")
            n = int((batch["labels"][:, 1:] != -100).sum())  # the targets the shifted loss averages over
            total += batch_loss(model, {k: v.to(device) for k, v in batch.items()}).item() * n
            count += n
    return total / count


def _load(folder: Path, size: str, dtype: str, device):
    """A fresh NF4 + LoRA model through the engine's own loader, LoRA init seeded the same every time."""
    import torch

    from trainables.modeling import apply_lora, load_base_model

    torch.manual_seed(SEED)
    model = load_base_model(str(folder), _model_cfg(dtype), device)
    return apply_lora(model, lora_settings(size), quantized=True, gradient_checkpointing=False)


def _engine(model, examples, pad_id, tc, device, batching) -> dict:
    """``fit`` as a trial runs it; its per-step losses recorded by wrapping ``batch_loss`` (no extra sync)."""
    import torch

    from trainables import trainer

    losses, inner = [], trainer.batch_loss

    def recording(m, batch):
        loss = inner(m, batch)
        losses.append(loss.detach())
        return loss

    trainer.batch_loss = recording
    try:
        torch.manual_seed(tc["seed"])  # the dropout stream starts where the HF Trainer's set_seed starts it
        cpu = time.process_time()
        progress = trainer.fit(model, examples, pad_id, tc, device, batching=batching,
                               on_epoch=lambda *a: None)
        cpu = time.process_time() - cpu
    finally:
        trainer.batch_loss = inner
    return {"steps": progress.steps, "tokens": progress.tokens, "train_s": progress.train_s, "cpu_s": cpu,
            "step_losses": [float(x) for x in losses]}


def _engine_orders(examples: list[dict], tc: dict) -> list[list[int]]:
    """The row order of each epoch of ``fit`` with batching ``padded`` (its seed rule: seed * 1000 + epoch)."""
    from trainables.sft import batch_order

    lengths = [len(e["input_ids"]) for e in examples]
    return [[i for chunk in batch_order(lengths, tc["batch_size"], tc["seed"] * 1000 + epoch, "padded") for i in chunk]
            for epoch in range(1, tc["epochs"] + 1)]


def _hf_trainer_class():
    """``Trainer`` plus what the benchmark needs: non-pad token and loss counting, a fixed row order."""
    import torch
    from transformers import Trainer, TrainerCallback

    class _KeepDropoutStream(TrainerCallback):
        """Undo the DataLoader's draw from the global RNG when each epoch's iterator starts (its base seed,
        unused with no workers), so LoRA dropout draws the same masks as in ``fit``, which draws nothing else."""

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.saved = torch.random.get_rng_state()

        def on_step_begin(self, args, state, control, **kwargs):
            if getattr(self, "saved", None) is not None:
                torch.random.set_rng_state(self.saved)
                self.saved = None

    class _EpochOrders(torch.utils.data.Sampler):
        def __init__(self, orders):
            self.orders, self.calls = orders, 0

        def __iter__(self):
            order = self.orders[min(self.calls, len(self.orders) - 1)]
            self.calls += 1
            return iter(order)

        def __len__(self):
            return len(self.orders[0])

    class BenchTrainer(Trainer):
        def __init__(self, *args, orders, **kwargs):
            super().__init__(*args, callbacks=[_KeepDropoutStream()], **kwargs)
            self.bench_sampler, self.bench_tokens, self.bench_losses = _EpochOrders(orders), 0, []

        def _get_train_sampler(self, train_dataset=None):
            return self.bench_sampler

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            self.bench_tokens = self.bench_tokens + inputs["attention_mask"].sum()  # a tensor: no sync here
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            self.bench_losses.append((out[0] if return_outputs else out).detach())
            return out

    return BenchTrainer


def _hf(model, tok, examples, tc, device, out_dir: str) -> dict:
    """A plain ``Trainer`` run: right padding, linear schedule with the engine's warmup steps, no eval or saves."""
    from transformers import DataCollatorForSeq2Seq, TrainingArguments

    args = TrainingArguments(
        output_dir=out_dir, per_device_train_batch_size=tc["batch_size"], gradient_accumulation_steps=1,
        max_steps=tc["max_steps"], learning_rate=tc["lr"], lr_scheduler_type="linear",
        # fit warms up int(ratio * steps) steps; a float warmup_steps would be ceil(ratio * steps)
        warmup_steps=int(tc["warmup_ratio"] * tc["max_steps"]), max_grad_norm=tc["max_grad_norm"],
        weight_decay=tc["weight_decay"], logging_steps=1, save_strategy="no", eval_strategy="no", report_to=[],
        seed=tc["seed"], use_cpu=device.type == "cpu", dataloader_num_workers=0, remove_unused_columns=False,
        disable_tqdm=True)
    trainer = _hf_trainer_class()(model=model, args=args, train_dataset=examples, orders=_engine_orders(examples, tc),
                                  data_collator=DataCollatorForSeq2Seq(tok, label_pad_token_id=-100, padding=True))
    t, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    train_s, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"steps": trainer.state.global_step, "tokens": int(trainer.bench_tokens), "train_s": train_s, "cpu_s": cpu,
            "step_losses": [float(x) for x in trainer.bench_losses]}


def _peak_mb(device) -> tuple[float, str]:
    import resource

    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 1024), "peak RSS of the variant's process"


def run_variant(variant: str, args) -> dict:
    """One variant, in this process: load, train ``args.steps`` steps, score the held-out rows."""
    import torch

    from trainables.modeling import load_tokenizer, quiet_libraries
    from trainables.trainer import choose_batching

    quiet_libraries()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda", 0) if args.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    folder = model_folder(args.size)
    tok = load_tokenizer(str(folder))
    examples, heldout = encode_data(tok, args.rows)
    model = _load(folder, args.size, args.compute_dtype, device)
    before = heldout_loss(model, heldout, tok.pad_token_id, device)
    tc = train_settings(args.steps, len(examples))
    if variant == "hf_trainer":
        batching = "padded"
        with tempfile.TemporaryDirectory() as out_dir:
            run = _hf(model, tok, examples, tc, device, out_dir)
    else:
        requested = {"engine": "auto", "engine_padded": "padded", "engine_length_grouped": "length_grouped",
                     "engine_padding_free": "padding_free"}[variant]
        batching, _ = choose_batching(requested, device.type, model.config._attn_implementation)
        run = _engine(model, examples, tok.pad_token_id, tc, device, batching)
    peak, peak_kind = _peak_mb(device)
    last, packed = run["step_losses"][-LAST_K:], packed_layers(model)
    return {"variant": variant, "batching": batching, **run, "tokens_per_s": run["tokens"] / run["train_s"],
            "tokens_per_cpu_s": run["tokens"] / run["cpu_s"],
            "peak_mb": peak, "peak_kind": peak_kind, "heldout_loss_before": before,
            "heldout_loss": heldout_loss(model, heldout, tok.pad_token_id, device),
            "train_loss_last": sum(last) / len(last), "packed_layers_after_training": packed,
            "attn_implementation": model.config._attn_implementation}


def _child(variant: str, args, dtype: str, folder: str) -> dict:
    """Run one variant in a fresh interpreter; its figures come back through a JSON file."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "campaign.bench.trainer", "--variant", variant, "--size", args.size,
               "--rows", str(args.rows), "--steps", str(args.steps), "--threads", str(args.threads),
               "--device", args.device, "--compute-dtype", dtype, "--result", str(result)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
               "TOKENIZERS_PARALLELISM": "false"}
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
        if out.returncode != 0 or not result.exists():
            raise BenchError(f"variant {variant} failed (exit {out.returncode}) on {folder}:\n{out.stderr[-3000:]}")
        return {**json.loads(result.read_text()), "wall_s": time.perf_counter() - t}


def _check_device(name: str) -> None:
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"--device cuda: CUDA is not available (torch {torch.__version__}, "
                         "torch.cuda.is_available() is False); use --device cpu")


def _merge(runs: list[dict]) -> dict:
    """One variant's repeats: the median speeds, the largest peak; the losses are the same in every repeat."""
    speed = {k: statistics.median(r[k] for r in runs) for k in ("tokens_per_s", "tokens_per_cpu_s")}
    return {**runs[0], **speed, "peak_mb": max(r["peak_mb"] for r in runs),
            "repeats_tokens_per_s": [r["tokens_per_s"] for r in runs],
            "repeats_tokens_per_cpu_s": [r["tokens_per_cpu_s"] for r in runs]}


def _compare(results: dict) -> None:
    """Ratios to hf_trainer, and how far each step-loss curve is from hf_trainer's."""
    hf = results["hf_trainer"]
    for r in results.values():
        r["ratio_vs_hf_trainer"] = r["tokens_per_s"] / hf["tokens_per_s"]
        r["cpu_ratio_vs_hf_trainer"] = r["tokens_per_cpu_s"] / hf["tokens_per_cpu_s"]
        pairs = list(zip(r["step_losses"], hf["step_losses"]))
        r["curve_max_abs_diff_vs_hf"] = max(abs(a - b) for a, b in pairs) if pairs else None
        r["heldout_diff_vs_hf"] = r["heldout_loss"] - hf["heldout_loss"]


def run_all(args) -> dict:
    """Every variant, one subprocess each, on one machine state; the figures and the setup."""
    import torch

    from trainables.probe import cpu_probe

    _check_device(args.device)
    folder = model_folder(args.size)  # built here once, so the children only read it
    dtype = resolve_dtype(args.compute_dtype, args.device)
    runs = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):  # interleaved, so a burst of load elsewhere hits every variant alike
        for v in VARIANTS:
            runs[v].append(_child(v, args, dtype["dtype"], str(folder)))
    results = {v: _merge(r) for v, r in runs.items()}
    _compare(results)
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    return {"size": args.size, "model_dir": str(folder), "rows": args.rows, "steps": args.steps,
            "threads": args.threads, "repeats": args.repeats, "device": device_name, "batch_size": BATCH_SIZE,
            "lr": LR, "seed": SEED,
            "lora": lora_settings(args.size), "quantization": "nf4", "compute_dtype": dtype["dtype"],
            "compute_dtype_reason": dtype["reason"], "cpu": cpu_probe(), "torch": torch.__version__,
            "heldout_rows": HELDOUT_ROWS, "variants": results}


def table(result: dict) -> str:
    """The markdown table of the variants (speeds: medians over the repeats)."""
    n = result["steps"]
    lines = [f"| variant | batching | non-pad tokens/s | × hf_trainer | tokens per CPU-s | × hf_trainer (CPU) "
             f"| peak MB | held-out loss after {n} steps | train loss (last {LAST_K} steps) | non-pad tokens |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["variants"].items():
        lines.append(f"| `{name}` | {r['batching']} | {r['tokens_per_s']:,.0f} | {r['ratio_vs_hf_trainer']:.2f} "
                     f"| {r['tokens_per_cpu_s']:,.0f} | {r['cpu_ratio_vs_hf_trainer']:.2f} | {r['peak_mb']:,.0f} "
                     f"| {r['heldout_loss']:.4f} | {r['train_loss_last']:.4f} | {r['tokens']:,} |")
    return "\n".join(lines)


def _number(low: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low} (got {text})")
        return value
    parse.__name__ = "int"  # argparse names it in "invalid int value"
    return parse


def build_parser() -> argparse.ArgumentParser:
    from campaign.decide.precision import DTYPES

    p = argparse.ArgumentParser(prog="python -m campaign.bench.trainer", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=SIZES, default="tiny", help="tiny: the demo's model; 0.5b: Qwen2-0.5B shape")
    p.add_argument("--rows", type=_number(BATCH_SIZE), default=500, help="demo rows trained on (generate(rows, 0))")
    p.add_argument("--steps", type=_number(1), default=60, help="optimizer steps per variant")
    p.add_argument("--threads", type=_number(1), default=1, help="torch threads of every variant")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--repeats", type=_number(1), default=1, help="runs of each variant, interleaved; medians reported")
    p.add_argument("--compute-dtype", choices=DTYPES, default="auto", help="NF4 compute dtype, resolved once")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--smoke-test", action="store_true",
                   help="tiny model, 48 rows, 4 steps, 1 thread, on CPU (overrides those flags)")
    p.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # internal: one child's variant
    p.add_argument("--result", help=argparse.SUPPRESS)  # internal: where the child writes its figures
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.smoke_test:
        vars(args).update(size="tiny", rows=48, steps=4, threads=1, device="cpu", repeats=1)
    try:
        if args.variant:
            Path(args.result).write_text(json.dumps(run_variant(args.variant, args)))
            return 0
        result = run_all(args)
    except BenchError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1
    print(f"{result['size']} model, {result['rows']} rows, {result['steps']} steps, batch {BATCH_SIZE}, "
          f"{result['threads']} thread(s), {result['device']} ({result['cpu']['cpu_capability']}), "
          f"{result['compute_dtype_reason']}")
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
