"""The GPU check (scripts/gpu_check.sh) and the embedding dtypes apply_lora leaves.

The smoke run goes through the shell script in a subprocess whose imports of ray, datasets,
optuna, wandb and weave fail as if they were not installed: the GPU machine has none of them.
The real check runs only where CUDA is available (``pytest -m cuda``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
ABSENT_ON_THE_GPU_MACHINE = ("ray", "datasets", "optuna", "wandb", "weave")
# A sitecustomize that hides packages: PathFinder finds no spec for them, so `import ray` raises
# ModuleNotFoundError and importlib.util.find_spec("ray") is None, as where they are not installed.
BLOCKER = f'''
import importlib.machinery as _machinery
_HIDDEN = {set(ABSENT_ON_THE_GPU_MACHINE)!r}
_find_spec = _machinery.PathFinder.find_spec.__func__
def _hidden_find_spec(cls, name, path=None, target=None):
    if name.partition(".")[0] in _HIDDEN:
        return None
    return _find_spec(cls, name, path, target)
_machinery.PathFinder.find_spec = classmethod(_hidden_find_spec)
'''
LORA = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Toy models run fastest, and steadiest on a shared machine, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _env(tmp_path: Path) -> dict:
    block = tmp_path / "hide"
    block.mkdir(exist_ok=True)
    (block / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if k not in ("OUT", "RAY_ADDRESS")}
    return {**env, "PYTHON": sys.executable, "PYTHONPATH": str(block), "HF_HUB_OFFLINE": "1"}


def _check(tmp_path: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=timeout)


def test_the_blocker_hides_ray_and_co(tmp_path):
    code = ("import importlib.util, sys\n"
            f"for name in {ABSENT_ON_THE_GPU_MACHINE!r}:\n"
            "    assert importlib.util.find_spec(name) is None, name\n"
            "    try:\n        __import__(name)\n    except ModuleNotFoundError:\n        continue\n"
            "    sys.exit(name + ' imported')\n"
            "import torch, transformers, peft, bitsandbytes\n")
    proc = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def smoke(tiny_model_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu_check")
    proc = _check(tmp, "--device", "cpu", "--smoke-test", "--out", str(tmp / "out"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads((tmp / "out" / "results.json").read_text()), proc.stdout, tmp / "out"


def test_smoke_run_reports_every_figure(smoke):
    results, stdout, out = smoke
    assert results["ok"] and list(results["shapes"]) == ["tiny"]
    r = results["shapes"]["tiny"]
    assert r["ok"] and not r["failures"] and "error" not in r
    assert list(r["phases"]) == ["build", "load", "demo", "timing", "generate"]
    assert r["batching"] == "padding_free" and r["batching_auto_on_cuda"] == "padding_free"
    assert r["compute_dtype"] in ("bfloat16", "float32")  # auto on this CPU
    t = r["timing"]
    assert t["tokens_per_s"] > 0 and t["tokens"] == 2 * 2 * 64 and t["train_peak_gib"] > 0 and r["peak_gib"] > 0
    assert t["mfu"] is None and t["flops_per_token"] == 4 * r["params_total"]  # no tensor-core peak on a CPU
    d = r["demo"]
    assert math.isfinite(d["loss_before"]) and math.isfinite(d["loss_after"]) and d["loss_fell"]
    g = r["generate"]
    assert g["prompts"] == 8 and g["latency_p95_ms"] >= g["latency_p50_ms"] > 0
    assert results["env"]["device"] == "cpu" and results["env"]["bitsandbytes"]
    # apply_lora left the frozen (tied) embedding in the compute dtype, norms and LoRA in fp32
    after = r["param_bytes_after_lora"]
    assert list(after["embed_tokens"]) == [r["compute_dtype"]] and "lm_head" not in after  # tied: one tensor
    assert list(after["norms"]) == ["float32"] and list(after["lora"]) == ["float32"]
    # the table comes last, the log holds the same lines
    assert stdout.rstrip().splitlines()[-1].startswith("gpu_check PASS: 1/1 shapes ok")
    assert "tiny   ok" in stdout and "gpu_check PASS" in (out / "gpu_check.log").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here; the error path needs a machine without")
def test_device_cuda_without_cuda_fails_in_one_line(tmp_path):
    proc = _check(tmp_path, "--device", "cuda", "--out", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gpu_check: error: --device cuda: CUDA is not available"), proc.stderr
    assert not list(tmp_path.glob("out/*.json"))


def test_bad_shape_is_an_argparse_error(capsys):
    from campaign.bench import gpu_check

    with pytest.raises(SystemExit) as exc:
        gpu_check.build_parser().parse_args(["--shapes", "0.5b,7b"])
    assert exc.value.code == 2 and "unknown shape(s) ['7b']" in capsys.readouterr().err


def test_eight_b_shape_is_qwen3_8b():
    from campaign.bench import qlora as bench_qlora

    class Tok:
        bos_token_id, eos_token_id, pad_token_id = 1, 2, 0

        def __len__(self):
            return 1030

    config = bench_qlora.model_config("8b", Tok())
    assert type(config).__name__ == "Qwen3Config" and config.head_dim == 128 and not config.tie_word_embeddings
    assert bench_qlora.param_count(config) == 8_190_735_360  # Qwen3-8B: 8.2B, 6.95B without the two embeddings


def test_an_untied_qwen3_shape_runs_the_check_and_cpu_memory_never_passes(tiny_model_path, tmp_path, monkeypatch,
                                                                          capsys):
    """The 8b path (Qwen3, untied lm_head, gradient checkpointing, memory check) at toy size, in process."""
    from campaign.bench import gpu_check
    from campaign.bench import qlora as bench_qlora

    shape = {**bench_qlora.SHAPES["8b"], "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128, "vocab_size": 1536}
    monkeypatch.setitem(bench_qlora.SHAPES, "toy3", shape)
    monkeypatch.setitem(gpu_check.PLAN, "toy3", {**gpu_check.PLAN["8b"], "planned_s": 30})
    code = gpu_check.main(["--device", "cpu", "--threads", "1", "--shapes", "toy3", "--compute-dtype", "bfloat16",
                           "--out", str(tmp_path / "out"), "--steps", "1", "--warmup-steps", "0", "--seq-len", "32",
                           "--demo-steps", "6", "--gen-prompts", "2", "--gen-batch", "2", "--max-new-tokens", "4"])
    r = json.loads((tmp_path / "out" / "results.json").read_text())["shapes"]["toy3"]
    assert code == 1 and "error" not in r and r["failures"] == ["training peak over 20 GiB"]  # not a GPU figure
    assert r["arch"] == "qwen3" and r["gradient_checkpointing"] and r["demo"]["loss_fell"]
    after = r["param_bytes_after_lora"]
    assert after["embed_tokens"] == after["lm_head"] == {"bfloat16": 1536 * 64 * 2}  # untied, both back in bf16
    assert "FAIL" in capsys.readouterr().out.splitlines()[-1]


def _dtypes(model) -> dict[str, str]:
    return {n.replace("base_model.model.", ""): str(p.dtype).replace("torch.", "") for n, p in model.named_parameters()
            if "embed_tokens" in n or "lm_head" in n or n.endswith("model.norm.weight")}


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("modules_to_save", [["embed_tokens", "lm_head"], []])
def test_apply_lora_keeps_frozen_embeddings_in_the_compute_dtype(tiny_model_path, dtype, modules_to_save):
    from trainables.modeling import apply_lora, load_base_model

    model_cfg = {"quantization": "nf4", "compute_dtype": dtype, "double_quant": True, "trust_remote_code": False}
    loaded = load_base_model(str(tiny_model_path), model_cfg, torch.device("cpu"))
    embed_before = loaded.get_input_embeddings().weight.detach().clone()
    model = apply_lora(loaded, {**LORA, "modules_to_save": modules_to_save}, True, gradient_checkpointing=True)
    got = _dtypes(model)
    if modules_to_save:  # the frozen originals follow the compute dtype; the trainable copies stay fp32
        assert got == {"model.embed_tokens.original_module.weight": dtype,
                       "model.embed_tokens.modules_to_save.default.weight": "float32",
                       "model.norm.weight": "float32", "lm_head.original_module.weight": dtype,
                       "lm_head.modules_to_save.default.weight": "float32"}
    else:
        assert got == {"model.embed_tokens.weight": dtype, "model.norm.weight": "float32", "lm_head.weight": dtype}
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)  # LoRA (+ the copies)
    frozen_embed = [p for n, p in model.named_parameters() if "embed_tokens" in n and not p.requires_grad][0]
    assert torch.equal(frozen_embed.float(), embed_before.float())  # bf16 -> fp32 -> bf16 is exact
    ids = torch.randint(3, 1000, (2, 12), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(model(input_ids=ids).logits).all()
    with model.disable_adapter():  # the frozen originals run too (lm_head's fp32 input cast by its pre-hook)
        assert torch.isfinite(model(input_ids=ids).logits).all()


def test_training_with_bf16_embeddings_matches_peft_fp32_ones(tiny_model_path, monkeypatch):
    """Same seed, same batches: the loss curve with the restored bf16 embedding / lm_head is peft's fp32 one."""
    from campaign.config import TrainConfig
    from campaign.tasks.hidden_params.datagen import generate
    from trainables import modeling
    from trainables.sft import encode_rows
    from trainables.trainer import fit

    tok = modeling.load_tokenizer(str(tiny_model_path))
    examples, _ = encode_rows(tok, generate(8, seed=3), "Request: {request}\nJSON:", 96)
    tc = {**dataclasses.asdict(TrainConfig()), "lr": 1e-2, "epochs": 3, "batch_size": 4, "warmup_ratio": 0.0}
    model_cfg = {"quantization": "nf4", "compute_dtype": "bfloat16", "double_quant": True, "trust_remote_code": False}
    curves = {}
    for label in ("restored", "peft"):
        if label == "peft":
            monkeypatch.setattr(modeling, "restore_frozen_embeddings", lambda model, dtype: {})
        torch.manual_seed(0)
        model = modeling.apply_lora(modeling.load_base_model(str(tiny_model_path), model_cfg, torch.device("cpu")),
                                    {**LORA, "modules_to_save": []}, True, gradient_checkpointing=False)
        assert model.get_base_model().lm_head.weight.dtype == (torch.bfloat16 if label == "restored" else torch.float32)
        curves[label] = []
        fit(model, examples, tok.pad_token_id, tc, torch.device("cpu"), batching="padded",
            on_epoch=lambda epoch, loss, progress, last: curves[label].append(loss))
    assert curves["restored"][-1] < curves["restored"][0] - 0.2, curves
    assert curves["restored"] == pytest.approx(curves["peft"], rel=0.01), curves


def test_gradients_reach_the_first_layer_through_a_bf16_lm_head(tiny_model_path):
    from trainables.modeling import apply_lora, load_base_model

    torch.manual_seed(0)
    model_cfg = {"quantization": "nf4", "compute_dtype": "bfloat16", "double_quant": True, "trust_remote_code": False}
    model = apply_lora(load_base_model(str(tiny_model_path), model_cfg, torch.device("cpu")),
                       {**LORA, "modules_to_save": []}, True, gradient_checkpointing=True)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    model.train()
    ids = torch.randint(3, 1000, (2, 16), generator=torch.Generator().manual_seed(1))
    out = model(input_ids=ids, labels=ids, use_cache=False)
    assert out.logits.dtype == torch.bfloat16  # lm_head computes in bf16; the loss is taken in fp32
    out.loss.backward()
    grad = model.get_base_model().model.layers[0].self_attn.q_proj.lora_A["default"].weight.grad
    assert grad is not None and grad.abs().sum() > 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (torch.cuda.is_available() is False)")
def test_the_real_check_on_cuda(tiny_model_path, tmp_path):
    """The whole check (default: 0.5b, 1.5b, 8b; GPU_CHECK_SHAPES narrows it), Ray & co. hidden."""
    shapes = os.environ.get("GPU_CHECK_SHAPES", "0.5b,1.5b,8b")
    proc = _check(tmp_path, "--device", "cuda", "--shapes", shapes, "--out", str(tmp_path / "out"), timeout=1200)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert proc.returncode == 0 and results["ok"], proc.stdout[-6000:] + proc.stderr[-3000:]
    for size, r in results["shapes"].items():
        assert r["batching"] == "padding_free" and r["compute_dtype"] in ("bfloat16", "float16"), size
        assert r["timing"]["tokens_per_s"] > 0 and r["demo"]["loss_fell"], size
        if r["timing"]["mfu"] is not None:
            assert 0 < r["timing"]["mfu"] < 1, size
    if "8b" in results["shapes"]:
        assert results["shapes"]["8b"]["memory_check"]["pass"]
