"""A tiny causal LM and tokenizer built locally (no Hub), for the embedded default and the tests.

The tokenizer is byte-level BPE trained on the task's own text (``Task.tiny_corpus``),
with every digit its own token and the task's fixed completion pieces single tokens
(``Task.tiny_tokens``; for the flagship, each JSON key with its punctuation, so a
completion is six key tokens, one to three digit tokens per value and ``}``).
The model is a ~1M-parameter Llama with random weights: the campaign's LoRA
(plus trainable embeddings) teaches it the task. The folder is cached under a
fingerprint of this recipe and the task, so it is built once per machine and task
(about 2 s).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from campaign.tasks.base import Task, task_or_default

__all__ = ["TINY_RECIPE", "default_cache_dir", "ensure_tiny_model"]

TINY_RECIPE = {
    "builder": 1, "vocab_size": 1024, "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
    "num_attention_heads": 4, "max_position_embeddings": 256, "corpus_rows": 4000, "corpus_seed": 12345, "init_seed": 0,
}
SPECIALS = ["<pad>", "<s>", "</s>"]


def default_cache_dir() -> Path:
    """``$CAMPAIGN_CACHE`` or ``~/.cache/campaign-engine``."""
    return Path(os.environ.get("CAMPAIGN_CACHE", Path.home() / ".cache" / "campaign-engine"))


def _fingerprint(task: Task) -> str:
    recipe = {**TINY_RECIPE, "task": task.spec.kind, "pieces": task.tiny_tokens()}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]


def _train_tokenizer(corpus: list[str], pieces: list[str]):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TINY_RECIPE["vocab_size"], special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    tok.add_tokens([AddedToken(p, normalized=False) for p in pieces])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def _build(folder: Path, task: Task) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = _train_tokenizer(task.tiny_corpus(TINY_RECIPE["corpus_rows"], TINY_RECIPE["corpus_seed"]), task.tiny_tokens())
    r = TINY_RECIPE
    config = LlamaConfig(vocab_size=len(tok), hidden_size=r["hidden_size"], intermediate_size=r["intermediate_size"],
                         num_hidden_layers=r["num_hidden_layers"], num_attention_heads=r["num_attention_heads"],
                         num_key_value_heads=r["num_attention_heads"], max_position_embeddings=r["max_position_embeddings"],
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         tie_word_embeddings=False)
    torch.manual_seed(TINY_RECIPE["init_seed"])
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    tok.save_pretrained(folder)
    model.save_pretrained(folder)
    (folder / "tiny_recipe.json").write_text(json.dumps({**TINY_RECIPE, "task": task.spec.kind}, indent=1))


def ensure_tiny_model(cache_dir: str | Path | None = None, task: Task | None = None) -> Path:
    """Path of the tiny model folder for ``task`` (default: the default task), building it atomically on first use."""
    task = task_or_default(task)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    folder = cache / f"tiny-llama-{_fingerprint(task)}"
    if (folder / "tiny_recipe.json").exists():
        return folder
    tmp = cache / f".{folder.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _build(tmp, task)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished first; theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
