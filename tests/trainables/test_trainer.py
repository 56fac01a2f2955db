"""The trial's training core outside Ray: batching by device, full-state checkpoints, mid-trial resume."""
from __future__ import annotations

import json
import logging

import pytest

from campaign.tasks.hidden_params.datagen import generate
from trainables.trainer import StateCheckpointer, batch_loss, choose_batching, fit

torch = pytest.importorskip("torch")

MODEL = {"quantization": "nf4", "compute_dtype": "float32", "double_quant": True, "trust_remote_code": False}
LORA = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear", "modules_to_save": []}
TRAIN = {"lr": 3e-3, "epochs": 2, "batch_size": 4, "grad_accum": 2, "warmup_ratio": 0.1, "weight_decay": 0.0,
         "max_grad_norm": 1.0, "seed": 3, "max_steps": None}


@pytest.fixture(scope="module")
def setup(tiny_model_path):
    from trainables.modeling import load_tokenizer
    from trainables.sft import encode_rows

    tok = load_tokenizer(str(tiny_model_path))
    rows = generate(40, seed=5)
    examples, _ = encode_rows(tok, rows, "Request: {request}\nJSON:", 128)
    return tok, examples


def _model(path, seed: int = 0):
    from trainables.modeling import apply_lora, load_base_model

    torch.manual_seed(seed)
    return apply_lora(load_base_model(str(path), MODEL, torch.device("cpu")), LORA, True, False)


def _adapter(model) -> dict:
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


@pytest.mark.parametrize("requested, device, attn, expected", [
    ("auto", "cpu", "sdpa", "padded"), ("auto", "cuda", "sdpa", "padding_free"),
    ("auto", "cuda", "flash_attention_2", "padding_free"), ("auto", "cuda", "my_kernel", "length_grouped"),
    ("padded", "cuda", "sdpa", "padded"), ("padding_free", "cpu", "sdpa", "padding_free")])
def test_batching_is_chosen_by_device_and_attention(requested, device, attn, expected):
    choice, why = choose_batching(requested, device, attn)
    assert choice == expected and why.startswith(f"batching {expected}")


def test_every_batching_gives_the_loss_of_plain_padding_on_a_fixed_batch(setup, tiny_model_path):
    """fp32, one batch of rows of different lengths: padded, padding-free and unbatched agree."""
    from trainables.sft import collate

    tok, examples = setup
    chunk = examples[:6]
    assert len({len(e["input_ids"]) for e in chunk}) > 1  # real padding in the padded batch
    model = _model(tiny_model_path)
    model.eval()
    with torch.no_grad():
        padded = batch_loss(model, collate(chunk, tok.pad_token_id, "padded")).item()
        flat_batch = collate(chunk, tok.pad_token_id, "padding_free")
        assert flat_batch["input_ids"].shape[0] == 1 and "attention_mask" not in flat_batch
        flat = batch_loss(model, flat_batch).item()
        # the token-weighted mean of each row alone is what both must equal
        per_row = [(batch_loss(model, collate([e], tok.pad_token_id, "padded")).item(),
                    sum(1 for x in e["labels"][1:] if x != -100)) for e in chunk]
    alone = sum(loss * n for loss, n in per_row) / sum(n for _, n in per_row)
    assert padded == pytest.approx(alone, rel=1e-5)
    assert flat == pytest.approx(padded, rel=1e-5)


def test_length_grouping_covers_every_row_once_with_less_padding(setup):
    from trainables.sft import batch_order

    _, examples = setup
    lengths = [len(e["input_ids"]) for e in examples]
    grouped = batch_order(lengths, 4, seed=1, mode="length_grouped")
    shuffled = batch_order(lengths, 4, seed=1, mode="padded")
    assert sorted(i for b in grouped for i in b) == list(range(len(examples)))

    def pad(order):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in order)

    assert pad(grouped) < pad(shuffled)
    assert grouped == batch_order(lengths, 4, seed=1, mode="length_grouped")  # same seed, same order


class _Cut(Exception):
    """Stands in for a power cut right after a checkpoint."""


def _run(path, examples, pad_id, folder, *, cut_after_saves=None, every_steps=3):
    model = _model(path)
    ckpt = StateCheckpointer(folder, keep=2, every_s=1e9, every_steps=every_steps)
    if cut_after_saves is not None:
        save = ckpt.save

        def cutting_save():
            out = save()
            if sum(e["event"] == "checkpoint" for e in ckpt.events) >= cut_after_saves:
                raise _Cut
            return out

        ckpt.save = cutting_save
    reports = []
    progress = fit(model, examples, pad_id, TRAIN, torch.device("cpu"), batching="length_grouped",
                   on_epoch=lambda epoch, loss, p, last: reports.append((epoch, loss, p.steps)), checkpointer=ckpt)
    return model, progress, reports, ckpt.events


def test_a_cut_trial_resumes_mid_epoch_and_ends_as_an_uninterrupted_one(setup, tiny_model_path, tmp_path):
    tok, examples = setup
    whole, whole_progress, whole_reports, _ = _run(tiny_model_path, examples, tok.pad_token_id, tmp_path / "a")
    with pytest.raises(_Cut):  # 40 rows, batch 4 x accum 2: 5 steps per epoch; the 1st save is at step 3
        _run(tiny_model_path, examples, tok.pad_token_id, tmp_path / "b", cut_after_saves=1)
    resumed, progress, reports, events = _run(tiny_model_path, examples, tok.pad_token_id, tmp_path / "b")
    assert events[0] == {"event": "resumed", "path": "ckpt-e1-s3", "steps": 3, "epoch": 1, "batch": 6}
    assert progress.steps == whole_progress.steps == 10
    # the same seed, data order, RNG and optimizer state: the same losses and weights (fp32, one thread)
    assert [r[0] for r in reports] == [1, 2] and reports[-1][2] == 10
    assert reports[0][1] == pytest.approx(whole_reports[0][1], rel=1e-6)
    assert reports[1][1] == pytest.approx(whole_reports[1][1], rel=1e-6)
    a, b = _adapter(whole), _adapter(resumed)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_only_the_newest_checkpoints_are_kept(setup, tiny_model_path, tmp_path):
    tok, examples = setup
    _run(tiny_model_path, examples, tok.pad_token_id, tmp_path, every_steps=1)
    kept = sorted(p.name for p in tmp_path.glob("ckpt-*"))
    assert kept == ["ckpt-e2-s8", "ckpt-e2-s9"]  # keep=2; the final step needs no resume point
    assert json.loads((tmp_path / "ckpt-e2-s9" / "progress.json").read_text())["steps"] == 9


@pytest.mark.parametrize("damage", ["truncate", "partial"])
def test_a_damaged_latest_checkpoint_is_skipped_for_the_one_before(setup, tiny_model_path, tmp_path, damage, caplog):
    tok, examples = setup
    with pytest.raises(_Cut):
        _run(tiny_model_path, examples, tok.pad_token_id, tmp_path, cut_after_saves=2, every_steps=2)
    latest = tmp_path / "ckpt-e1-s4"
    if damage == "truncate":
        victim = max((p for p in latest.iterdir() if p.suffix in (".pkl", ".bin", ".safetensors")),
                     key=lambda p: p.stat().st_size)
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    else:
        (latest / "progress.json").unlink()  # the save was cut off before its last file
    with caplog.at_level(logging.WARNING, logger="trainables.trainer"):
        _, progress, _, events = _run(tiny_model_path, examples, tok.pad_token_id, tmp_path, every_steps=2)
    assert events[0]["event"] == "skipped_checkpoint" and events[0]["path"] == "ckpt-e1-s4"
    assert events[1] == {"event": "resumed", "path": "ckpt-e1-s2", "steps": 2, "epoch": 1, "batch": 4}
    assert "ckpt-e1-s4" in caplog.text and progress.steps == 10
    assert any(p.name.startswith("ckpt-e1-s4") for p in (tmp_path / "corrupt").iterdir())  # kept for a look, not lost


def test_validation_between_epochs_does_not_change_training(setup, tiny_model_path):
    """An eval-mode forward (the per-epoch validation) between two training steps leaves them as without it.

    On AVX512-BF16 CPUs bitsandbytes would repack the 4-bit weights for inference on that forward
    and lose the base layers' gradients afterwards; ``apply_lora`` keeps the packing off.
    """
    from trainables.modeling import keep_4bit_layers_trainable
    from trainables.sft import collate

    tok, examples = setup
    batch = collate(examples[:8], tok.pad_token_id, "padded")

    def losses(with_eval: bool) -> list[float]:
        model = _model(tiny_model_path)
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
        out = []
        for step in range(3):
            model.train()
            loss = batch_loss(model, batch)
            loss.backward()
            opt.step()
            opt.zero_grad()
            out.append(loss.item())
            if with_eval:
                model.eval()
                with torch.no_grad():
                    model(input_ids=batch["input_ids"][:2], attention_mask=batch["attention_mask"][:2])
        return out

    assert keep_4bit_layers_trainable(_model(tiny_model_path)) > 0
    assert losses(True) == pytest.approx(losses(False), rel=1e-6)
