"""The locally built base model: tokenizer design, NF4/int8/none loading, LoRA training and batched generation."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaign.tasks import get_task
from campaign.tasks.hidden_params.schema import DIMS, target_json

torch = pytest.importorskip("torch")

CFG = {"task": {"kind": "hidden_params"},
       "model": {"quantization": "nf4", "compute_dtype": "bfloat16", "double_quant": True, "trust_remote_code": False,
                 "prompt_template": "Request: {request}\nJSON:", "max_new_tokens": 24, "max_seq_len": 96},
       "train": {"eval_batch_size": 4, "hard_cases_k": 2},
       "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear", "modules_to_save": ["embed_tokens", "lm_head"]}}


def test_tokenizer_has_single_digit_tokens_and_json_skeleton(tiny_model_path):
    from trainables.modeling import load_tokenizer

    tok = load_tokenizer(str(tiny_model_path))
    completion = " " + target_json({d: 7 + i * 13 for i, d in enumerate(DIMS)})
    pieces = tok.tokenize(completion)
    tokens = get_task("hidden_params").tiny_tokens()
    skeleton = set(tokens)
    assert [p for p in pieces if p in skeleton] == tokens
    assert all(p in skeleton or (len(p) == 1 and p.isdigit()) for p in pieces), pieces
    ids = tok(completion, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == completion
    assert tok(" x")["input_ids"][0] == tok.bos_token_id and tok.pad_token_id != tok.eos_token_id


def test_model_is_cached_and_loads_offline(tiny_model_path):
    from trainables.tiny_model import ensure_tiny_model

    assert ensure_tiny_model(tiny_model_path.parent) == tiny_model_path
    assert (tiny_model_path / "config.json").exists() and (tiny_model_path / "tiny_recipe.json").exists()


@pytest.mark.parametrize("quantization", ["nf4", "int8", "none"])
def test_quantized_lora_trains_and_generates(tiny_model_path, quantization):
    from trainables.evaluate import evaluate_rows
    from trainables.modeling import apply_lora, load_base_model, load_tokenizer
    from trainables.sft import IGNORE, batches, encode_rows

    torch.manual_seed(0)
    cfg = json.loads(json.dumps(CFG))
    cfg["model"]["quantization"] = quantization
    tok = load_tokenizer(str(tiny_model_path))
    base = load_base_model(str(tiny_model_path), cfg["model"], torch.device("cpu"))
    linear = type(base.model.layers[0].self_attn.q_proj).__name__
    assert linear == {"nf4": "Linear4bit", "int8": "Linear8bitLt", "none": "Linear"}[quantization]
    model = apply_lora(base, cfg["lora"], quantization != "none", False)
    rows = [{"id": str(i), "request": f"a calm piano song {i}", "hidden_params": {d: 40 + i for d in DIMS}} for i in range(4)]
    examples, truncated = encode_rows(tok, rows, cfg["model"]["prompt_template"], 96)
    assert truncated == 0
    batch = next(batches(examples, 4, tok.pad_token_id, seed=0))
    n_prompt = len(tok(cfg["model"]["prompt_template"].format(request=rows[0]["request"]))["input_ids"])
    assert (batch["labels"][:, :n_prompt] == IGNORE).all()  # loss on the completion only
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(8):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.85
    scores, details = evaluate_rows(model, tok, rows, cfg, torch.device("cpu"), "valid")
    assert scores["valid/n"] == 4 and 0.0 <= scores["valid/json_valid_rate"] <= 1.0
    assert len(details["outputs"]) == 4 and len(details["hard_cases"]) == 2
    assert scores["valid/latency_p95_ms"] >= scores["valid/latency_p50_ms"] > 0


def test_prompt_longer_than_budget_is_cut_from_the_left(tiny_model_path):
    from trainables.modeling import load_tokenizer
    from trainables.sft import encode_rows

    tok = load_tokenizer(str(tiny_model_path))
    row = {"request": "very " * 200 + "calm", "hidden_params": {d: 50 for d in DIMS}}
    (example,), truncated = encode_rows(tok, [row], "Request: {request}\nJSON:", 64)
    assert truncated == 1 and len(example["input_ids"]) == 64
    assert example["input_ids"][-1] == tok.eos_token_id
    with pytest.raises(ValueError, match="max_seq_len"):
        encode_rows(tok, [row], "Request: {request}\nJSON:", 10)


def test_model_files_shipped_through_the_object_store(tiny_model_path, tmp_path, monkeypatch):
    """A worker on a node without the driver's cache writes the shipped files once and loads them."""
    import ray

    from trainables.modeling import load_tokenizer, local_model_path

    files = {p.name: p.read_bytes() for p in tiny_model_path.iterdir() if p.is_file()}
    monkeypatch.setenv("CAMPAIGN_CACHE", str(tmp_path / "node-cache"))
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        ref = ray.put(files)
        missing = str(tmp_path / "elsewhere" / tiny_model_path.name)
        path = local_model_path(missing, ref)
        assert path == str(tmp_path / "node-cache" / tiny_model_path.name)
        assert {p.name: p.read_bytes() for p in Path(path).iterdir()} == files
        assert load_tokenizer(path).eos_token == "</s>"
        assert local_model_path(str(tiny_model_path), ref) == str(tiny_model_path)  # present: used as is
    finally:
        ray.shutdown()


@pytest.mark.parametrize("device, visible, expected", [("cpu", 0, None), ("cuda:0", 1, {"": 0}),
                                                     ("cuda:1", 2, {"": 1}), ("cuda:3", 4, {"": 3})])
def test_load_base_model_places_each_rank_whole_on_its_own_device(monkeypatch, device, visible, expected):
    # Above the CUDA calls, checked on CPU: what from_pretrained is asked for on each device.
    import transformers

    from trainables.modeling import load_base_model

    seen = {}
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda path, **kwargs: seen.update(kwargs, path=path) or "model")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    assert load_base_model("some/model", CFG["model"], torch.device(device)) == "model"
    assert seen.get("device_map") == expected and seen["path"] == "some/model"
    quant = seen["quantization_config"]
    assert quant.load_in_4bit and quant.bnb_4bit_quant_type == "nf4" and quant.bnb_4bit_compute_dtype == torch.bfloat16
