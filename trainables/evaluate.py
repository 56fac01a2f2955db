"""Batched greedy generation, or loglikelihood choice, and scoring on a list of rows."""
from __future__ import annotations

import time

from campaign.core.numeric import percentile
from campaign.tasks.base import task_from_config

__all__ = ["generate", "loglikelihood_choices", "evaluate_rows"]


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


def _continuation_logprobs(model, tok, pairs: list[tuple[list[int], list[int]]], device) -> list[float]:
    """Sum of log p(continuation tokens | prompt) for each (prompt ids, continuation ids), one right-padded batch."""
    import torch

    width = max(len(p) + len(c) for p, c in pairs)
    ids = torch.full((len(pairs), width), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    for i, (p, c) in enumerate(pairs):
        ids[i, :len(p) + len(c)] = torch.tensor(p + c)
        mask[i, :len(p) + len(c)] = 1
    with torch.inference_mode():
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    logp = torch.log_softmax(logits, dim=-1).cpu()
    # the token at position t is predicted by the logits at t - 1
    return [float(sum(logp[i, len(p) + j - 1, tok_id] for j, tok_id in enumerate(c))) for i, (p, c) in enumerate(pairs)]


def loglikelihood_choices(model, tok, prompts: list[str], choices: list[list[str]], batch_size: int, device):
    """The likeliest continuation of each prompt (lm-evaluation-harness's ``multiple_choice``), no generation.

    Returns ``(outputs, latencies)``: each output is the chosen continuation's text, so the task's
    parser reads it like a generated answer (it can never be invalid). Latency is amortized per row.
    """
    model.eval()
    outputs, latencies = [], []
    per = max(1, batch_size // max((len(c) for c in choices), default=1))  # batch_size sequences per forward pass
    for start in range(0, len(prompts), per):
        chunk, conts = prompts[start:start + per], choices[start:start + per]
        pairs = [(tok(p, add_special_tokens=True)["input_ids"], tok(c, add_special_tokens=False)["input_ids"])
                 for p, cs in zip(chunk, conts) for c in cs]
        t = time.perf_counter()
        scores = _continuation_logprobs(model, tok, pairs, device)
        elapsed_ms = (time.perf_counter() - t) * 1000.0
        at = 0
        for cs in conts:
            best = max(range(len(cs)), key=lambda k: scores[at + k])
            outputs.append(cs[best])
            at += len(cs)
        latencies.extend([elapsed_ms / len(chunk)] * len(chunk))
    return outputs, latencies


def evaluate_rows(model, tok, rows: list[dict], cfg: dict, device, prefix: str) -> tuple[dict, dict]:
    """Score ``rows`` with the config's task; return ``(flat metrics with prefix, details with outputs and hard cases)``."""
    task = task_from_config(cfg["task"])
    if task.scoring == "loglikelihood":
        template = task.prompt_styles.get(task.loglikelihood_prompt or "", cfg["model"]["prompt_template"])
        outputs, latencies = loglikelihood_choices(model, tok, [task.prompt(r, template) for r in rows],
                                                   [task.continuations(r) for r in rows],
                                                   cfg["train"]["eval_batch_size"], device)
    else:
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
