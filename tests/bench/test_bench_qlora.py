"""The QLoRA benchmark: a real smoke run in a subprocess, its figures checked independently."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from campaign.bench import qlora as bench_qlora

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "campaign.bench.qlora", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.fixture(scope="module")
def smoke(tiny_model_path, tmp_path_factory):
    """One ``--smoke-test`` run (the tiny tokenizer comes from the session's private cache)."""
    tmp = tmp_path_factory.mktemp("bench")
    out = _bench("--smoke-test", "--model-dir", str(tmp / "model"), "--json", str(tmp / "bench.json"))
    assert out.returncode == 0, out.stderr
    return json.loads((tmp / "bench.json").read_text()), tmp / "model", out.stdout


def test_smoke_run_reports_real_figures(smoke):
    result, model_dir, stdout = smoke
    assert result["size"] == "tiny" and result["device"] == "cpu" and result["quantization"] == "nf4"
    assert result["steps"] == 2 and result["warmup_steps"] == 1 and result["batch_size"] * result["seq_len"] == 64
    assert result["tokens_per_s"] > 0 and result["step_time_mean_s"] > 0 and result["peak_memory_gib"] > 0
    assert result["tokens_per_s"] == pytest.approx(64 / result["step_time_mean_s"])
    assert result["mfu"] is None and "CPU" in result["mfu_note"]  # no peak for a CPU
    assert result["flops_per_token"] == 4 * result["params_total"]
    assert result["estimate_vram_gib"]["total"] > 0
    assert "tokens/s" in stdout and (model_dir / "bench_recipe.json").exists()


def test_n_is_the_config_built_models_parameter_count(smoke):
    from transformers import AutoConfig, AutoModelForCausalLM

    result, model_dir, _ = smoke
    config = AutoConfig.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_config(config)  # real weights this time, not the meta device
    assert result["params_total"] == sum(p.numel() for p in model.parameters())
    h, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    kv = config.num_key_value_heads * h // config.num_attention_heads
    # q and o, k and v, the q/k/v biases, the MLP, two norms
    per_layer = 2 * h * h + 2 * h * kv + (h + 2 * kv) + 3 * h * config.intermediate_size + 2 * h
    assert result["params_total"] == vocab * h + layers * per_layer + h  # tied embedding counted once


def test_nf4_layers_are_bitsandbytes_linear4bit_and_only_lora_trains(smoke):
    import bitsandbytes as bnb
    from peft.tuners.lora import LoraLayer

    result, model_dir, _ = smoke
    model = bench_qlora.load_for_training(model_dir, "nf4", torch.device("cpu"), gradient_checkpointing=False)
    lora = [m for m in model.modules() if isinstance(m, LoraLayer)]
    layers = bench_qlora.SHAPES["tiny"]["num_hidden_layers"]
    assert len(lora) == 7 * layers  # all-linear: q k v o gate up down
    for m in lora:
        assert isinstance(m.base_layer, bnb.nn.Linear4bit) and m.base_layer.weight.quant_state.quant_type == "nf4"
        assert not m.base_layer.weight.requires_grad
    r = 16
    expected = sum(r * (m.base_layer.in_features + m.base_layer.out_features) for m in lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert result["params_trainable"] == trainable == expected
    assert 0 < trainable < result["params_total"] / 5


def test_saved_folder_is_reused_and_a_foreign_one_refused(smoke, tmp_path):
    _, model_dir, _ = smoke
    stamp = (model_dir / "model.safetensors").stat().st_mtime_ns
    assert bench_qlora.ensure_bench_model("tiny", model_dir) == model_dir
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt
    with pytest.raises(bench_qlora.BenchError, match="another benchmark model"):
        bench_qlora.ensure_bench_model("0.5b", model_dir)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(bench_qlora.BenchError, match="not a benchmark model folder"):
        bench_qlora.ensure_bench_model("tiny", tmp_path)


def test_mfu_arithmetic_by_hand():
    # 4 * 5e8 params * 2e4 tokens/s = 4e13 FLOP/s of a 100 TFLOPS peak
    assert bench_qlora.mfu(500_000_000, 20_000, 100) == pytest.approx(0.4)
    # Qwen2-0.5B shape (N = 494,032,768) at 100k tokens/s on an H100 SXM: 1.976e14 / 9.89e14
    assert bench_qlora.mfu(494_032_768, 100_000, 989) == pytest.approx(0.19981, abs=1e-5)
    assert bench_qlora.peak_tflops_for("NVIDIA H100 80GB HBM3") == 989
    assert bench_qlora.peak_tflops_for("NVIDIA H100 PCIe") == 756
    assert bench_qlora.peak_tflops_for("NVIDIA H200") == 989
    assert bench_qlora.peak_tflops_for("NVIDIA A100-SXM4-80GB") == 312
    assert bench_qlora.peak_tflops_for("NVIDIA A100 80GB PCIe") == 312
    assert bench_qlora.peak_tflops_for("NVIDIA GeForce RTX 3080") == 59.5  # bf16, fp32 accumulate, dense
    for other in ("Tesla T4", "NVIDIA RTX A1000", "NVIDIA GH200 480GB", "NVIDIA H100 NVL",
                  "NVIDIA GeForce RTX 3080 Ti"):
        assert bench_qlora.peak_tflops_for(other) is None, other


class _Tok:
    """What model_config reads of a tokenizer."""

    bos_token_id, eos_token_id, pad_token_id = 1, 2, 0

    def __len__(self):
        return 1030


def test_param_count_of_the_named_shapes_matches_the_published_models():
    tok = _Tok()
    # Qwen2-0.5B and Qwen2-1.5B as their model cards count them (tied embeddings)
    assert bench_qlora.param_count(bench_qlora.model_config("0.5b", tok)) == 494_032_768
    assert bench_qlora.param_count(bench_qlora.model_config("1.5b", tok)) == 1_543_714_304


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here; the error path needs a machine without")
def test_device_cuda_without_cuda_fails_clearly():
    out = _bench("--size", "tiny", "--device", "cuda", timeout=120)
    assert out.returncode == 1
    assert "CUDA is not available" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args, message", [(["--size", "7b"], "invalid choice"), (["--steps", "0"], "must be >= 1"),
                                           (["--quantization", "fp8"], "invalid choice"),
                                           (["--batch-size", "x"], "invalid int value")])
def test_bad_arguments_are_argparse_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bench_qlora.build_parser().parse_args(args)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_a_vocabulary_smaller_than_the_tokenizer_is_refused(monkeypatch):
    monkeypatch.setitem(bench_qlora.SHAPES, "tiny", {**bench_qlora.SHAPES["tiny"], "vocab_size": 1000})
    with pytest.raises(bench_qlora.BenchError, match="vocab_size 1000 < tokenizer size 1030"):
        bench_qlora.model_config("tiny", _Tok())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
def test_half_billion_model_on_cuda(tiny_model_path, tmp_path):
    name = torch.cuda.get_device_name(0)
    if bench_qlora.peak_tflops_for(name) is None:
        pytest.skip(f"no bf16 peak known for {name!r}: MFU needs --peak-tflops")
    out = _bench("--size", "0.5b", "--device", "cuda", "--steps", "3", "--warmup-steps", "1", "--batch-size", "4",
                 "--seq-len", "512", "--json", str(tmp_path / "bench.json"), timeout=1200)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "bench.json").read_text())
    assert result["device"] != "cpu" and result["peak_memory_kind"] == "cuda max_memory_allocated"
    assert result["peak_memory_gib"] > 0 and result["params_total"] == 494_032_768
    assert isinstance(result["mfu"], float) and 0 < result["mfu"] < 1
