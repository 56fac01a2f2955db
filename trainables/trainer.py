"""The trial's training core, free of Ray: the step loop, batching by device, full-state checkpoints.

The loop itself is hand-written because it beats the HF ``Trainer`` on the engine's
benchmark (``python -m campaign.bench.trainer``, docs/BENCHMARKS.md); everything
around the step comes from the libraries: the LR schedule from transformers,
length grouping and padding-free flattening from transformers' samplers and
collators, and the full training state (adapter, optimizer, scheduler, RNG,
position in the data order) from accelerate's ``save_state`` / ``load_state``.

``fit`` is called by the Ray Train worker (``trainables/worker.py``) and by the
Ray-free GPU check (``scripts/gpu_check.sh``).
"""
from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from trainables.sft import batches

log = logging.getLogger(__name__)

__all__ = ["PACKED_MASK_ATTENTION", "choose_batching", "Progress", "StateCheckpointer", "batch_loss", "total_steps_for", "fit"]

# transformers builds a per-sequence mask from position_ids for these (PR #39194); flash kernels take them natively.
PACKED_MASK_ATTENTION = ("flash_attention_2", "flash_attention_3", "sdpa", "eager", "flex_attention")
COMPLETE = "progress.json"  # written last: a checkpoint folder without it was cut off while saving


def choose_batching(requested: str, device_type: str, attn_implementation: str | None,
                    remote_code: bool = False) -> tuple[str, str]:
    """The batching a trial uses on this device, with the reason (an explicit choice always wins)."""
    if requested != "auto":
        return requested, f"batching {requested}: set by train.batching"
    if device_type != "cuda":
        # Measured (docs/BENCHMARKS.md): padding-free is slower on CPU (sdpa builds the full mask), and
        # length grouping, ~10% more tokens/s, needs ~10% more steps for the same loss when length
        # tracks a row property (the demo's Japanese requests are shorter: groups become languages).
        return "padded", ("batching padded: on CPU, padding-free costs more than the padding it saves, and "
                          "length grouping bought its speed with a worse loss per step on the demo data")
    if attn_implementation in PACKED_MASK_ATTENTION and not remote_code:
        return "padding_free", f"batching padding_free: {attn_implementation} attention separates packed rows"
    return "length_grouped", (f"batching length_grouped: attention {attn_implementation!r} is not known to "
                              "separate packed rows")


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint so a resumed trial continues mid-epoch."""

    epoch: int = 1  # The epoch being trained (1-based).
    batch: int = 0  # Micro-batches of this epoch already trained (always a whole number of optimizer steps).
    steps: int = 0  # Optimizer steps taken over the whole run.
    tokens: int = 0  # Non-pad tokens trained on.
    train_s: float = 0.0  # Seconds spent in training steps, across restarts.
    loss_sum: float = 0.0  # Sum of this epoch's micro-batch losses so far.
    loss_n: int = 0  # Micro-batches in loss_sum.

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class _AdapterState:
    """The trainable weights only (LoRA and modules_to_save), as peft saves and loads them."""

    def __init__(self, model):
        self.model = model

    def state_dict(self) -> dict:
        from peft import get_peft_model_state_dict

        return {k: v.detach().cpu() for k, v in get_peft_model_state_dict(self.model).items()}

    def load_state_dict(self, state: dict) -> None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(self.model, state)


class StateCheckpointer:
    """Full-state checkpoints every ``every_s`` seconds (or ``every_steps`` steps), the newest ``keep`` kept.

    Each checkpoint is ``<folder>/ckpt-e<epoch>-s<steps>/`` written by accelerate's
    ``save_state``; ``progress.json`` is written last, so a folder without it is a save
    that was cut off. ``restore`` tries the newest first and moves any that fails to load
    to ``<folder>/corrupt/`` with a warning, then tries the one before it.
    """

    def __init__(self, folder: str | Path, keep: int, every_s: float, every_steps: int | None = None,
                 writer: bool = True, on_event=None):
        self.folder, self.keep, self.every_s, self.every_steps = Path(folder), keep, every_s, every_steps
        self.writer = writer  # under DDP only rank 0 writes; every rank restores the same files
        self.on_event = on_event  # e.g. the trial's attempts log, written as each event happens
        self.accelerator = None
        self._last_time, self._last_steps = time.monotonic(), 0
        self.events: list[dict] = []

    def _event(self, event: dict) -> None:
        self.events.append(event)
        if self.on_event is not None and self.writer:
            self.on_event(event)

    def attach(self, model, optimizer, scheduler, progress: Progress) -> None:
        from accelerate import Accelerator

        self.accelerator = Accelerator(cpu=True)  # holds no model: it only serializes the registered objects
        self.accelerator.register_for_checkpointing(_AdapterState(model), optimizer, scheduler, progress)
        self.progress = progress

    def checkpoints(self) -> list[Path]:
        """Complete and incomplete checkpoint folders, oldest first."""
        found = [p for p in self.folder.glob("ckpt-e*-s*") if p.is_dir()]
        return sorted(found, key=lambda p: (int(p.name.split("-s")[1]), p.stat().st_mtime))

    def due(self, steps: int) -> bool:
        by_time = time.monotonic() - self._last_time >= self.every_s
        by_steps = self.every_steps is not None and steps - self._last_steps >= self.every_steps
        return by_time or by_steps

    def save(self) -> Path | None:
        """Write one checkpoint of the whole training state, then drop the oldest beyond ``keep``."""
        import json

        p = self.progress
        self._last_time, self._last_steps = time.monotonic(), p.steps
        if not self.writer:
            return None
        target = self.folder / f"ckpt-e{p.epoch}-s{p.steps}"
        if (target / COMPLETE).exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        self.accelerator.save_state(str(target))
        (target / COMPLETE).write_text(json.dumps(p.state_dict()))
        for old in [c for c in self.checkpoints() if c != target][:-self.keep + 1 or None]:
            shutil.rmtree(old, ignore_errors=True)
        self._event({"event": "checkpoint", "path": target.name, "steps": p.steps, "epoch": p.epoch})
        return target

    def restore(self) -> Path | None:
        """Load the newest checkpoint that loads; return its folder, or None to start from scratch."""
        for ckpt in reversed(self.checkpoints()):
            try:
                if not (ckpt / COMPLETE).exists():
                    raise FileNotFoundError(f"{COMPLETE} missing: the save was cut off")
                self.accelerator.load_state(str(ckpt))
            except Exception as err:  # a truncated or partial save: fall back to the one before it
                log.warning("checkpoint %s could not be loaded (%s: %s); trying the one before it",
                            ckpt, type(err).__name__, err)
                self._event({"event": "skipped_checkpoint", "path": ckpt.name, "why": f"{type(err).__name__}: {err}"})
                if self.writer:
                    (self.folder / "corrupt").mkdir(exist_ok=True)
                    shutil.move(str(ckpt), str(self.folder / "corrupt" / f"{ckpt.name}-{int(time.time())}"))
                continue
            self._last_steps = self.progress.steps
            self._event({"event": "resumed", "path": ckpt.name, "steps": self.progress.steps,
                         "epoch": self.progress.epoch, "batch": self.progress.batch})
            return ckpt
        return None


def batch_loss(model, batch: dict):
    """The training forward: no KV cache, since transformers separates packed rows only without one."""
    return model(**batch, use_cache=False).loss


def _optimizer(model, tc: dict, total_steps: int):
    import torch
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    # the fused kernel (the HF Trainer's default too) cuts the CPU optimizer step from 1.8 to 0.3 ms
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    opt = torch.optim.AdamW(params, lr=tc["lr"], weight_decay=tc["weight_decay"], fused=fused)
    return params, opt, get_linear_schedule_with_warmup(opt, int(tc["warmup_ratio"] * total_steps), total_steps)


def _agree(flag: bool, world: int) -> bool:
    """Every DDP rank takes rank 0's decision, so all save (or not) at the same step."""
    if world <= 1:
        return flag
    import torch
    import torch.distributed as dist

    t = torch.tensor([int(flag)])
    dist.broadcast(t, src=0)
    return bool(t.item())


def total_steps_for(n_examples: int, tc: dict) -> int:
    """Optimizer steps of the whole run: full epochs, capped by ``train.max_steps``."""
    per_epoch = math.ceil(n_examples / (tc["batch_size"] * tc["grad_accum"]))
    return min(tc["epochs"] * per_epoch, tc["max_steps"] or 10**9)


def fit(model, examples: list[dict], pad_id: int, tc: dict, device, *, batching: str, on_epoch,
        checkpointer: StateCheckpointer | None = None, train_model=None, world: int = 1) -> Progress:
    """Train ``model`` on ``examples``; ``on_epoch(epoch, loss, progress, last)`` evaluates and reports.

    ``train_model`` is the DDP wrapper when there is one. With a ``checkpointer``, training
    resumes from its newest loadable checkpoint and saves one at each epoch end and on its
    interval, always at an optimizer-step boundary.
    """
    total = total_steps_for(len(examples), tc)
    params, opt, sched = _optimizer(model, tc, total)
    progress = Progress()
    if checkpointer is not None:
        checkpointer.attach(model, opt, sched, progress)
        checkpointer.restore()
    while progress.epoch <= tc["epochs"] and progress.steps < total:
        loss = _train_epoch(train_model or model, examples, pad_id, tc, device, batching, params, opt, sched,
                            progress, total, checkpointer, world)
        last = progress.epoch == tc["epochs"] or progress.steps >= total
        on_epoch(progress.epoch, loss, progress, last)
        if last:
            break
        progress.epoch, progress.batch, progress.loss_sum, progress.loss_n = progress.epoch + 1, 0, 0.0, 0
        if checkpointer is not None:
            checkpointer.save()
    return progress


def _train_epoch(model, examples, pad_id, tc, device, batching, params, opt, sched, progress, total,
                 checkpointer, world) -> float:
    import torch

    model.train()
    opt.zero_grad(set_to_none=True)  # a partial accumulation window never leaks into the next epoch
    t = time.time()
    order = batches(examples, tc["batch_size"], pad_id, tc["seed"] * 1000 + progress.epoch, batching)
    for i, batch in enumerate(order):
        if i < progress.batch:  # trained before the checkpoint this run resumed from
            continue
        batch = {k: v.to(device) for k, v in batch.items()}
        loss = batch_loss(model, batch)
        (loss / tc["grad_accum"]).backward()
        progress.loss_sum, progress.loss_n = progress.loss_sum + loss.item(), progress.loss_n + 1
        # non-pad tokens: a padding-free row has no padding at all
        progress.tokens += int(batch["input_ids"].numel() if "position_ids" in batch else batch["attention_mask"].sum())
        if (i + 1) % tc["grad_accum"] == 0:
            torch.nn.utils.clip_grad_norm_(params, tc["max_grad_norm"])
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            progress.steps, progress.batch = progress.steps + 1, i + 1
            if progress.steps >= total:
                break
            if checkpointer is not None and _agree(checkpointer.due(progress.steps), world):
                progress.train_s += time.time() - t
                checkpointer.save()
                t = time.time()
    progress.train_s += time.time() - t
    return progress.loss_sum / max(progress.loss_n, 1)
