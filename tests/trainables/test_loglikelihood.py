"""Loglikelihood scoring (lm-eval's multiple_choice): the batched, padded pass picks what one-by-one passes pick."""
from __future__ import annotations

import pytest


def test_batched_choice_matches_unpadded_single_passes(tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainables.evaluate import _continuation_logprobs, loglikelihood_choices

    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path).eval()
    torch.manual_seed(0)
    prompts = ["Request: calm piano\nJSON:", "Request: a long and energetic rock song for the gym\nJSON:", "x"]
    choices = [[" 1", " 2", " 37"], [" {", " 5"], [" 9", " 10", " 11", " 12"]]

    def single(prompt: str, cont: str) -> float:
        p = tok(prompt, add_special_tokens=True)["input_ids"]
        c = tok(cont, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=torch.tensor([p + c])).logits.float(), dim=-1)[0]
        return float(sum(logp[len(p) + j - 1, t] for j, t in enumerate(c)))

    expected = [max(cs, key=lambda c: single(p, c)) for p, cs in zip(prompts, choices)]
    outputs, latencies = loglikelihood_choices(model, tok, prompts, choices, batch_size=4, device=torch.device("cpu"))
    assert outputs == expected and len(latencies) == 3 and all(ms > 0 for ms in latencies)
    pairs = [(tok(p, add_special_tokens=True)["input_ids"], tok(c, add_special_tokens=False)["input_ids"])
             for p, cs in zip(prompts, choices) for c in cs]
    batched = _continuation_logprobs(model, tok, pairs, torch.device("cpu"))
    assert batched == pytest.approx([single(p, c) for p, cs in zip(prompts, choices) for c in cs], abs=1e-4)
