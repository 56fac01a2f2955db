"""The Ray Train worker: QLoRA SFT through ``trainables.trainer.fit``, batched-generation eval each epoch.

Each epoch is reported to Tune with a checkpoint of the adapter and its metrics; the
full training state (for mid-trial resume) is saved apart, in ``<train>/<trial>/state/``.

torch, transformers, peft and bitsandbytes are imported inside the functions, so
importing this module in the Tune driver loads none of them.
"""
from __future__ import annotations

import json
import os
import resource
import tempfile
import time

from campaign.tasks.base import task_from_config
from trainables.evaluate import evaluate_rows
from trainables.markers import FINAL_MARKER
from trainables.modeling import (apply_lora, load_base_model, load_tokenizer, local_model_path, pick_device,
                                 quiet_libraries)
from trainables.sft import encode_rows
from trainables.weave_trace import trace_validation

__all__ = ["train_loop_per_worker"]


def _peak_mem_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _trial_rows(cfg: dict, data: dict) -> tuple[list[dict], dict]:
    from campaign.data.augment import trial_train_set

    t = cfg["train"]  # cycle 1 draws the generated pool by add_ratio, later cycles by focus_ratio
    return trial_train_set(data["train"], version=data["version"], base_size=data["base_size"],
                           add_ratio=t[data.get("generated_key", "add_ratio")], replay_ratio=t["replay_ratio"], generated=data["generated"],
                           replay=data["replay"], focus_facets=data["focus_facets"])


def _save_checkpoint(model, folder: str, metrics: dict, details: dict, manifest: dict, final: bool) -> None:
    model.save_pretrained(os.path.join(folder, "adapter"))
    files = [("metrics.json", metrics), ("details.json", details), ("train_set.json", manifest)]
    for split, prefix in (("eval", ""), ("valid", "valid_")):  # e.g. confusion_matrix.json of the frozen eval set
        files += [(f"{prefix}{name}.json", table) for name, table in ((details.get(split) or {}).get("tables") or {}).items()]
    if final:  # marks a finished Train run, so a resumed trial re-reports instead of retraining
        files.append((FINAL_MARKER, {"epoch": metrics["epoch"]}))
    for name, obj in files:
        with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
            json.dump(obj, fh, ensure_ascii=False, indent=1, default=float)


def _checkpointer(cfg: dict, loop_cfg: dict, rank: int):
    """Full-state checkpoints in this trial's Train folder (shared storage), or None outside a campaign."""
    from trainables.trainer import StateCheckpointer

    folder = loop_cfg.get("state_dir")
    if not folder:
        return None
    tc = cfg["train"]
    return StateCheckpointer(folder, keep=tc["keep_checkpoints"], every_s=tc["checkpoint_every_min"] * 60,
                             every_steps=tc["checkpoint_every_steps"], writer=rank == 0,
                             on_event=lambda event: _log_event(loop_cfg.get("attempts_log"), event))


def _log_event(path: str | None, event: dict) -> None:
    """Checkpoint saves, skips and resumes go to the trial's attempts log, next to its starts."""
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**event, "time": time.time(), "pid": os.getpid()}) + "\n")


def train_loop_per_worker(loop_cfg: dict) -> None:
    """Entry point run by every Ray Train worker; ``loop_cfg`` carries the trial config and data ref."""
    import ray
    import ray.train
    import torch

    from trainables.trainer import choose_batching, fit

    timing = {"time/worker_start_s": time.time() - loop_cfg["t0"]}
    quiet_libraries()
    cfg, ctx = loop_cfg["cfg"], ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(max(1, int(cfg["resources"]["cpus_per_worker"])))
    device = pick_device(cfg["resources"]["gpus_per_worker"] > 0)

    t = time.time()
    data = ray.get(loop_cfg["data_ref"])
    # each cycle trains with its own seed, so cycle n+1's control is a re-run of cycle n's best, not a copy
    cfg = {**cfg, "train": {**cfg["train"], "seed": data.get("seed", cfg["train"]["seed"])}}
    torch.manual_seed(cfg["train"]["seed"])
    rows, manifest = _trial_rows(cfg, data)
    manifest["seed"] = cfg["train"]["seed"]
    timing["time/data_s"] = time.time() - t

    t = time.time()
    path = local_model_path(loop_cfg["model_path"], loop_cfg.get("model_files_ref"))
    tok = load_tokenizer(path, cfg["model"]["trust_remote_code"])
    model = load_base_model(path, cfg["model"], device)
    model = apply_lora(model, cfg["lora"], cfg["model"]["quantization"] != "none", cfg["train"]["gradient_checkpointing"])
    timing["time/model_load_s"] = time.time() - t
    train_model = None
    if world > 1:
        train_model = ray.train.torch.prepare_model(model, move_to_device=False, parallel_strategy="ddp")

    examples, truncated = encode_rows(tok, rows[rank::world], cfg["model"]["prompt_template"], cfg["model"]["max_seq_len"],
                                      task_from_config(cfg["task"]))
    batching, why = choose_batching(cfg["train"]["batching"], device.type, model.config._attn_implementation,
                                    cfg["model"]["trust_remote_code"])
    setup = {"precision": cfg["model"]["compute_dtype"], "batching": batching, "batching_why": why}
    checkpointer = _checkpointer(cfg, loop_cfg, rank)
    stats = {"eval_s": 0.0}

    def on_epoch(epoch: int, loss: float, progress, last: bool) -> None:
        report = {"epoch": epoch, "train/loss": loss, "train/steps": progress.steps, "train/rows": len(rows),
                  "train/truncated": truncated, **timing, "time/train_s": progress.train_s,
                  "train/tokens_per_s": progress.tokens / max(progress.train_s, 1e-9)}
        trace = {**loop_cfg.get("trace", {}), "epoch": epoch, "data_version": data["version"]}
        _evaluate_and_report(model, tok, cfg, data, device, report, stats, manifest, setup, rank, last, trace)

    fit(model, examples, tok.pad_token_id, cfg["train"], device, batching=batching, on_epoch=on_epoch,
        checkpointer=checkpointer, train_model=train_model, world=world)


def _evaluate_and_report(model, tok, cfg, data, device, report, stats, manifest, setup, rank, last, trace) -> None:
    import ray.train

    t = time.time()
    details = dict(setup)  # this trial's precision and batching
    if rank == 0:
        scores, details["valid"] = evaluate_rows(model, tok, data["valid"], cfg, device, "valid")
        report.update(scores)
        if cfg["tracking"]["weave"]:
            outputs = [o["output"] for o in details["valid"]["outputs"]]
            details["weave"] = trace_validation(task_from_config(cfg["task"]), data["valid"], outputs, trace,
                                                cfg["tracking"])
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
