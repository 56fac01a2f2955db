"""The Ray Train worker: QLoRA SFT, batched-generation eval, one checkpoint per epoch.

torch, transformers, peft and bitsandbytes are imported inside the functions, so
importing this module in the Tune driver loads none of them.
"""
from __future__ import annotations

import json
import math
import os
import resource
import tempfile
import time

from trainables.evaluate import evaluate_rows
from trainables.modeling import (apply_lora, load_base_model, load_tokenizer, local_model_path, pick_device,
                                 quiet_libraries)
from trainables.sft import batches, encode_rows
from trainables.tune_fn import FINAL_MARKER
from trainables.weave_trace import trace_validation

__all__ = ["train_loop_per_worker"]


def _peak_mem_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _trial_rows(cfg: dict, data: dict) -> tuple[list[dict], dict]:
    from campaign.augment import trial_train_set

    t = cfg["train"]
    return trial_train_set(data["train"], version=data["version"], base_size=data["base_size"],
                           add_ratio=t["add_ratio"], replay_ratio=t["replay_ratio"], generated=data["generated"],
                           replay=data["replay"], focus_dims=data["focus_dims"])


def _save_checkpoint(model, folder: str, metrics: dict, details: dict, manifest: dict, final: bool) -> None:
    model.save_pretrained(os.path.join(folder, "adapter"))
    files = [("metrics.json", metrics), ("details.json", details), ("train_set.json", manifest)]
    if final:  # marks a finished Train run, so a resumed trial re-reports instead of retraining
        files.append((FINAL_MARKER, {"epoch": metrics["epoch"]}))
    for name, obj in files:
        with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
            json.dump(obj, fh, ensure_ascii=False, indent=1, default=float)


def _optimizer(model, cfg: dict, total_steps: int):
    import torch
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg["train"]["lr"], weight_decay=cfg["train"]["weight_decay"])
    warmup = int(cfg["train"]["warmup_ratio"] * total_steps)
    return params, opt, get_linear_schedule_with_warmup(opt, warmup, total_steps)


def train_loop_per_worker(loop_cfg: dict) -> None:
    """Entry point run by every Ray Train worker; ``loop_cfg`` carries the trial config and data ref."""
    import ray
    import ray.train
    import torch

    timing = {"time/worker_start_s": time.time() - loop_cfg["t0"]}
    quiet_libraries()
    cfg, ctx = loop_cfg["cfg"], ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(cfg["train"]["seed"])
    torch.set_num_threads(max(1, int(cfg["resources"]["cpus_per_worker"])))
    device = pick_device(cfg["resources"]["gpus_per_worker"] > 0)

    t = time.time()
    data = ray.get(loop_cfg["data_ref"])
    rows, manifest = _trial_rows(cfg, data)
    timing["time/data_s"] = time.time() - t

    t = time.time()
    path = local_model_path(loop_cfg["model_path"], loop_cfg.get("model_files_ref"))
    tok = load_tokenizer(path, cfg["model"]["trust_remote_code"])
    model = load_base_model(path, cfg["model"], device)
    model = apply_lora(model, cfg["lora"], cfg["model"]["quantization"] != "none", cfg["train"]["gradient_checkpointing"])
    timing["time/model_load_s"] = time.time() - t
    train_model = model
    if world > 1:
        train_model = ray.train.torch.prepare_model(model, move_to_device=False, parallel_strategy="ddp")

    examples, truncated = encode_rows(tok, rows[rank::world], cfg["model"]["prompt_template"], cfg["model"]["max_seq_len"])
    tc = cfg["train"]
    steps_per_epoch = math.ceil(len(examples) / (tc["batch_size"] * tc["grad_accum"]))
    total_steps = min(tc["epochs"] * steps_per_epoch, tc["max_steps"] or 10**9)
    params, opt, sched = _optimizer(model, cfg, total_steps)
    stats = {"steps": 0, "tokens": 0, "train_s": 0.0, "eval_s": 0.0}
    for epoch in range(1, tc["epochs"] + 1):
        loss = _train_epoch(train_model, examples, tok, cfg, epoch, device, params, opt, sched, stats, total_steps)
        last = epoch == tc["epochs"] or stats["steps"] >= total_steps
        report = {"epoch": epoch, "train/loss": loss, "train/steps": stats["steps"], "train/rows": len(rows),
                  "train/truncated": truncated, **timing, "time/train_s": stats["train_s"],
                  "train/tokens_per_s": stats["tokens"] / max(stats["train_s"], 1e-9)}
        trace = {**loop_cfg.get("trace", {}), "epoch": epoch, "data_version": data["version"]}
        _evaluate_and_report(model, tok, cfg, data, device, report, stats, manifest, rank, last, trace)
        if last:
            break


def _train_epoch(model, examples, tok, cfg, epoch, device, params, opt, sched, stats, total_steps) -> float:
    import torch

    tc = cfg["train"]
    model.train()
    opt.zero_grad(set_to_none=True)  # a partial accumulation window never leaks into the next epoch
    t, losses = time.time(), []
    for i, batch in enumerate(batches(examples, tc["batch_size"], tok.pad_token_id, tc["seed"] * 1000 + epoch)):
        batch = {k: v.to(device) for k, v in batch.items()}
        loss = model(**batch).loss
        (loss / tc["grad_accum"]).backward()
        losses.append(loss.item())
        stats["tokens"] += int(batch["attention_mask"].sum())
        if (i + 1) % tc["grad_accum"] == 0:
            torch.nn.utils.clip_grad_norm_(params, tc["max_grad_norm"])
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            stats["steps"] += 1
            if stats["steps"] >= total_steps:
                break
    stats["train_s"] += time.time() - t
    return sum(losses) / max(len(losses), 1)


def _evaluate_and_report(model, tok, cfg, data, device, report, stats, manifest, rank, last, trace) -> None:
    import ray.train

    t = time.time()
    details = {}
    if rank == 0:
        scores, details["valid"] = evaluate_rows(model, tok, data["valid"], cfg, device, "valid")
        report.update(scores)
        if cfg["tracking"]["weave"]:
            outputs = [o["output"] for o in details["valid"]["outputs"]]
            details["weave"] = trace_validation(data["valid"], outputs, trace, cfg["tracking"])
            report["weave/traced_samples"] = details["weave"]["traced"]
        if last:  # the frozen eval set is scored once, on the adapter that would be promoted
            scores, details["eval"] = evaluate_rows(model, tok, data["eval"], cfg, device, "eval")
            report.update(scores)
    stats["eval_s"] += time.time() - t
    report["time/eval_s"] = stats["eval_s"]
    report["train/peak_mem_mb"] = _peak_mem_mb(device)
    if rank != 0:
        ray.train.report(report)
        return
    with tempfile.TemporaryDirectory() as folder:
        _save_checkpoint(model, folder, report, details, manifest, last)
        ray.train.report(report, checkpoint=ray.train.Checkpoint.from_directory(folder))
