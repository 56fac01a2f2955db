"""prompt_baseline: the base model without fine-tuning, scored on the frozen eval set (runs in a Ray task)."""
from __future__ import annotations

__all__ = ["prompt_baseline", "evaluate_model", "model_outputs"]


def evaluate_model(cfg: dict, model_path: str, rows: list[dict], adapter: str | None = None,
                   model_files_ref=None) -> tuple[dict, dict]:
    """Load the base model (quantized as configured), optionally an adapter, and score ``rows``."""
    import torch

    from trainables.evaluate import evaluate_rows
    from trainables.modeling import load_base_model, load_tokenizer, local_model_path, pick_device, quiet_libraries

    quiet_libraries()
    torch.set_num_threads(max(1, int(cfg["resources"]["cpus_per_worker"])))
    device = pick_device(cfg["resources"]["gpus_per_worker"] > 0, in_train=False)
    model_path = local_model_path(model_path, model_files_ref)
    tok = load_tokenizer(model_path, cfg["model"]["trust_remote_code"])
    model = load_base_model(model_path, cfg["model"], device)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    return evaluate_rows(model, tok, rows, cfg, device, "eval")


def prompt_baseline(cfg: dict, model_path: str, rows: list[dict], model_files_ref=None) -> tuple[dict, dict]:
    return evaluate_model(cfg, model_path, rows, model_files_ref=model_files_ref)


def model_outputs(cfg: dict, model_path: str, rows: list[dict], adapter_files: dict, model_files_ref=None) -> dict:
    """Greedy outputs of base model + adapter for every row, keyed by row id (ranks the next cycle's replay pool).

    ``adapter_files`` maps relative paths to bytes, so this runs on any node of a cluster.
    """
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        for rel, data in adapter_files.items():
            (Path(folder) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(folder) / rel).write_bytes(data)
        _, details = evaluate_model(cfg, model_path, rows, folder, model_files_ref)
    return {o["id"]: o["output"] for o in details["outputs"]}
