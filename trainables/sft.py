"""Completion-only SFT examples: prompt tokens are masked out of the loss."""
from __future__ import annotations

import random

from campaign.schema import target_json

__all__ = ["prompt_text", "encode_rows", "batches"]

IGNORE = -100


def prompt_text(template: str, request: str) -> str:
    return template.format(request=request)


def encode_rows(tok, rows: list[dict], template: str, max_len: int) -> tuple[list[dict], int]:
    """Tokenize prompt and completion separately (exact boundary) and mask the prompt.

    Returns ``(examples, truncated)``. A prompt that does not fit is cut from the
    left so the completion, which carries the loss, is always whole.
    """
    examples, truncated = [], 0
    for row in rows:
        prompt = tok(prompt_text(template, row["request"]), add_special_tokens=True)["input_ids"]
        completion = tok(" " + target_json(row["hidden_params"]), add_special_tokens=False)["input_ids"]
        completion = completion + [tok.eos_token_id]
        room = max_len - len(completion)
        if room < 1:
            raise ValueError(f"model.max_seq_len={max_len} cannot hold one JSON completion "
                             f"({len(completion)} tokens); raise model.max_seq_len")
        if len(prompt) > room:
            prompt, truncated = prompt[-room:], truncated + 1
        examples.append({"input_ids": prompt + completion, "labels": [IGNORE] * len(prompt) + completion})
    return examples, truncated


def batches(examples: list[dict], batch_size: int, pad_id: int, seed: int):
    """Shuffled, right-padded batches as dicts of torch tensors."""
    import torch

    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    for start in range(0, len(order), batch_size):
        chunk = [examples[i] for i in order[start:start + batch_size]]
        width = max(len(e["input_ids"]) for e in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, e in enumerate(chunk):
            n = len(e["input_ids"])
            ids[i, :n] = torch.tensor(e["input_ids"])
            labels[i, :n] = torch.tensor(e["labels"])
            mask[i, :n] = 1
        yield {"input_ids": ids, "attention_mask": mask, "labels": labels}
