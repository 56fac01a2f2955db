"""Batched greedy generation and scoring on a list of rows."""
from __future__ import annotations

import time

from campaign.core.numeric import percentile
from campaign.tasks.base import task_from_config

__all__ = ["generate", "evaluate_rows"]


def generate(model, tok, prompts: list[str], batch_size: int, max_new_tokens: int, device):
    """Greedy outputs for ``prompts`` (left-padded batches) and each sample's amortized latency in ms.

    Latency per sample is its batch's wall time divided by the batch size.
    """
    import torch

    outputs, latencies = [], []
    side = tok.padding_side
    tok.padding_side = "left"
    model.eval()
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start:start + batch_size]
            enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=True).to(device)
            t = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            elapsed_ms = (time.perf_counter() - t) * 1000.0
            new = out[:, enc["input_ids"].shape[1]:]
            outputs.extend(tok.batch_decode(new, skip_special_tokens=True))
            latencies.extend([elapsed_ms / len(chunk)] * len(chunk))
    finally:
        tok.padding_side = side
    return outputs, latencies


def evaluate_rows(model, tok, rows: list[dict], cfg: dict, device, prefix: str) -> tuple[dict, dict]:
    """Score ``rows`` with the config's task; return ``(flat metrics with prefix, details with outputs and hard cases)``."""
    task = task_from_config(cfg["task"])
    prompts = [task.prompt(r, cfg["model"]["prompt_template"]) for r in rows]
    outputs, latencies = generate(model, tok, prompts, cfg["train"]["eval_batch_size"],
                                  cfg["model"]["max_new_tokens"], device)
    scores = task.score(rows, outputs)
    scores["latency_p50_ms"] = percentile(latencies, 50)
    scores["latency_p95_ms"] = percentile(latencies, 95)
    details = {"outputs": [{"id": r["id"], "output": o, "latency_ms": ms} for r, o, ms in zip(rows, outputs, latencies)],
               "hard_cases": task.hard_cases(rows, outputs, cfg["train"]["hard_cases_k"]),
               "tables": task.tables(rows, outputs)}
    return {f"{prefix}/{k}": v for k, v in scores.items()}, details
