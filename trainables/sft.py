"""Completion-only SFT examples: prompt tokens are masked out of the loss."""
from __future__ import annotations

import random

from campaign.tasks.base import Task, task_or_default

__all__ = ["encode_rows", "batch_order", "collate", "batches"]

IGNORE = -100


def encode_rows(tok, rows: list[dict], template: str, max_len: int, task: Task | None = None) -> tuple[list[dict], int]:
    """Tokenize prompt and completion separately (exact boundary) and mask the prompt.

    Returns ``(examples, truncated)``. A prompt that does not fit is cut from the
    left so the completion, which carries the loss, is always whole.
    """
    task = task_or_default(task)
    examples, truncated = [], 0
    for row in rows:
        prompt = tok(task.prompt(row, template), add_special_tokens=True)["input_ids"]
        completion = tok(" " + task.target(row), add_special_tokens=False)["input_ids"]
        completion = completion + [tok.eos_token_id]
        room = max_len - len(completion)
        if room < 1:
            raise ValueError(f"model.max_seq_len={max_len} cannot hold one completion "
                             f"({len(completion)} tokens); raise model.max_seq_len")
        if len(prompt) > room:
            prompt, truncated = prompt[-room:], truncated + 1
        examples.append({"input_ids": prompt + completion, "labels": [IGNORE] * len(prompt) + completion})
    return examples, truncated


def batch_order(lengths: list[int], batch_size: int, seed: int, mode: str) -> list[list[int]]:
    """Indices of each batch: shuffled, or grouped by length (transformers' own grouping) for less padding."""
    import torch

    if mode == "length_grouped":
        from transformers.trainer_pt_utils import get_length_grouped_indices

        order = get_length_grouped_indices(lengths, batch_size, generator=torch.Generator().manual_seed(seed))
        chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        # the grouping yields batches longest-first within each mega-batch; shuffle their order so the
        # epoch does not walk from long to short rows
        random.Random(seed).shuffle(chunks)
        return chunks
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(chunk: list[dict], pad_id: int, mode: str) -> dict:
    """One batch of tensors: right-padded with an attention mask, or one flattened row with position_ids."""
    import torch

    if mode == "padding_free":
        from transformers import DataCollatorWithFlattening

        # labels already mask each prompt, so the first token of every row is -100 as the collator wants
        return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE)(chunk)
    width = max(len(e["input_ids"]) for e in chunk)
    ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
    labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(chunk), width), dtype=torch.long)
    for i, e in enumerate(chunk):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"])
        labels[i, :n] = torch.tensor(e["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def batches(examples: list[dict], batch_size: int, pad_id: int, seed: int, mode: str = "padded"):
    """The epoch's batches as dicts of torch tensors, in a fixed order for ``seed``.

    ``mode``: 'padded' (shuffled, right-padded), 'length_grouped' (similar lengths
    together, right-padded) or 'padding_free' (shuffled, flattened with position_ids).
    """
    if mode not in ("padded", "length_grouped", "padding_free"):
        raise ValueError(f"unknown batching {mode!r}")
    group = "length_grouped" if mode == "length_grouped" else "padded"
    for idx in batch_order([len(e["input_ids"]) for e in examples], batch_size, seed, group):
        yield collate([examples[i] for i in idx], pad_id, mode)
