"""The preflight run: one worker, a few optimizer steps at the largest memory setting (runs in a Ray task).

The model is loaded and wrapped as a trial's Train worker does it (``trainables.worker``), and
each step is a trial's step (``trainables.trainer.batch_loss`` and ``_optimizer``), so what
fails here would fail in the first trial. What it records is judged by the pure
``campaign.decide.preflight.judge``; torch and the model libraries are imported inside the
functions, as in ``trainables.baseline_task``.
"""
from __future__ import annotations

import math
import os
import resource
import sys
import time
from pathlib import Path

__all__ = ["preflight_run", "full_length", "cpu_memory_mb"]

OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")


def full_length(example: dict, length: int) -> dict:
    """``example`` repeated (its tokens and their labels) until it is exactly ``length`` tokens long.

    The preflight must see the worst case in memory: every sequence as long as
    ``model.max_seq_len`` allows. Padding would not do it: padding-free batching (CUDA)
    drops pad tokens, and padded positions carry no loss. Repeating the row's own tokens
    keeps the batch real text with the completion's tokens in the loss, so the loss
    still says whether the model learns.
    """
    ids, labels = example["input_ids"], example["labels"]
    times = -(-length // len(ids))
    return {"input_ids": (ids * times)[:length], "labels": (labels * times)[:length]}


def _cgroup_limit_bytes() -> int | None:
    """The memory limit of this process's cgroup (v2 ``memory.max`` or v1 ``memory.limit_in_bytes``), if any."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None


def cpu_memory_mb() -> tuple[float, float, str]:
    """(this process's peak resident set, the RAM it may use, what they are) in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    peak = rss / 2**20 if sys.platform == "darwin" else rss / 1024
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = _cgroup_limit_bytes()
    where = "the machine's RAM (os.sysconf)"
    if limit is not None and limit < total:
        total, where = limit, "the cgroup's memory limit (below the machine's RAM)"
    what = (f"CPU: peak resident set of the worker process (getrusage ru_maxrss; a lifetime peak, so it may "
            f"include an earlier Ray task of that process) against {where}")
    return peak, total / 2**20, what


def _batches(examples: list[dict], batch_size: int, pad_id: int, batching: str, seed: int):
    """Endless batches of ``batch_size`` examples in a seeded order (rows repeat when there are fewer)."""
    import random

    from trainables.sft import collate

    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    i = 0
    while True:
        chunk = [examples[order[(i + j) % len(order)]] for j in range(batch_size)]
        i += batch_size
        yield collate(chunk, pad_id, batching)


def _node_id() -> str | None:
    """The Ray node this runs on (its CPUs bound how many trial workers share its RAM), if in Ray."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - outside Ray (a direct call)
        return None


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError) or any(t in str(err).lower() for t in OOM_TEXT)


def preflight_run(cfg: dict, model_path: str, rows: list[dict], steps: int, model_files_ref=None) -> dict:
    """Load the model as a trial does, train ``steps`` optimizer steps on full-length batches, and measure.

    ``cfg`` is the worker config with the largest memory setting laid over it. Returns a plain
    dict: the losses per optimizer step, the first non-finite one, tokens/s, peak and device
    memory, the device's name, and ``error``/``oom`` when the run stopped on an exception.
    """
    import torch

    from campaign.tasks.base import task_from_config
    from trainables.modeling import (apply_lora, load_base_model, load_tokenizer, local_model_path, pick_device,
                                     quiet_libraries)
    from trainables.sft import encode_rows
    from trainables.trainer import _optimizer, batch_loss, choose_batching, total_steps_for

    quiet_libraries()
    tc, mc = cfg["train"], cfg["model"]
    torch.set_num_threads(max(1, int(cfg["resources"]["cpus_per_worker"])))
    torch.manual_seed(tc["seed"])
    device = pick_device(cfg["resources"]["gpus_per_worker"] > 0, in_train=False)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    out = {"node_id": _node_id(), "steps": steps, "batch_size": tc["batch_size"], "grad_accum": tc["grad_accum"], "seq_len": mc["max_seq_len"],
           "lora_r": cfg["lora"]["r"], "gradient_checkpointing": tc["gradient_checkpointing"],
           "quantization": mc["quantization"], "precision": mc["compute_dtype"], "device": device.type,
           "rows": len(rows), "losses": [], "nan_step": None, "tokens": 0, "train_s": 0.0, "error": None,
           "oom": None, "error_step": None}
    t = time.time()
    path = local_model_path(model_path, model_files_ref)
    tok = load_tokenizer(path, mc["trust_remote_code"])
    model = load_base_model(path, mc, device)
    model = apply_lora(model, cfg["lora"], mc["quantization"] != "none", tc["gradient_checkpointing"])
    out["load_s"] = time.time() - t
    examples, out["truncated"] = encode_rows(tok, rows, mc["prompt_template"], mc["max_seq_len"],
                                             task_from_config(cfg["task"]))
    examples = [full_length(e, mc["max_seq_len"]) for e in examples]
    batching, out["batching_why"] = choose_batching(tc["batching"], device.type, model.config._attn_implementation,
                                                    mc["trust_remote_code"])
    out["batching"] = batching
    # The LR schedule of the trial's own length (warmup included), so these are its first steps;
    # the preflight's steps when they are more (a smoke test's max_steps of 3).
    total = max(steps, total_steps_for(len(examples), tc))
    params, opt, sched = _optimizer(model, tc, total)
    model.train()
    opt.zero_grad(set_to_none=True)
    order = _batches(examples, tc["batch_size"], tok.pad_token_id, batching, tc["seed"])
    step = 0
    try:
        for step in range(1, steps + 1):
            t = time.time()
            loss_sum = 0.0
            for _ in range(tc["grad_accum"]):
                batch = {k: v.to(device) for k, v in next(order).items()}
                loss = batch_loss(model, batch)
                (loss / tc["grad_accum"]).backward()
                loss_sum += loss.item()
                out["tokens"] += int(batch["input_ids"].numel())  # full-length rows: no padding to leave out
            torch.nn.utils.clip_grad_norm_(params, tc["max_grad_norm"])
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize(device)
            out["train_s"] += time.time() - t
            value = loss_sum / tc["grad_accum"]
            out["losses"].append(value)
            if not math.isfinite(value):  # every later step would be NaN too
                out["nan_step"] = step
                break
    except (RuntimeError, MemoryError) as err:
        if not isinstance(err, MemoryError) and not _is_oom(err):
            raise
        out["oom"], out["error"], out["error_step"] = f"{type(err).__name__}: {str(err)[:300]}", str(err)[:300], step
    out["steps_run"] = len(out["losses"])
    out["tokens_per_s"] = out["tokens"] / out["train_s"] if out["train_s"] > 0 else None
    if cuda:
        props = torch.cuda.get_device_properties(device)
        out.update(peak_memory_mb=torch.cuda.max_memory_allocated(device) / 2**20,
                   peak_reserved_mb=torch.cuda.max_memory_reserved(device) / 2**20,
                   device_memory_mb=props.total_memory / 2**20, device_name=torch.cuda.get_device_name(device),
                   memory_measure="CUDA: torch.cuda.max_memory_allocated over the run against the device's "
                                  "total_memory (torch.cuda.get_device_properties)")
    else:
        from campaign.decide.precision import read_cpuinfo

        peak, total, what = cpu_memory_mb()
        out.update(peak_memory_mb=peak, device_memory_mb=total, memory_measure=what,
                   device_name=read_cpuinfo()[1] or "CPU")
    return out
