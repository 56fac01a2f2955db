"""Publish a dataset version or the promoted adapter to the Hugging Face Hub (no Ray, no torch).

Publishing is planned first: a plan lists every file that would be uploaded, with
its size and sha256, and the card (README.md) written for it. Files are checked
against their records before they are planned (a dataset version against its
manifest, the promoted adapter against ``campaign.json``), so what leaves the
machine is what the campaign measured. :func:`describe_plan` prints a plan (the
dry run); only :func:`submit_plan` talks to the Hub, and it turns every failure
into a :class:`PublishError` that says nothing was uploaded and never shows the token.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml

from campaign.data.io import sha256_file
from campaign.tasks.base import DEFAULT_KIND, Task, get_task, resolve_prompt

__all__ = ["PublishError", "HUB", "plan_dataset_upload", "plan_adapter_upload", "describe_plan", "submit_plan"]

HUB = "the Hugging Face Hub (huggingface.co)"
# The same rules as huggingface_hub's validator, used only if it is unavailable.
_REPO_NAME = re.compile(r"^(?!-)(?!\.)[\w.\-]{1,96}(?<!-)(?<!\.)$", re.ASCII)
# Dataset files in the order a card lists them, with the key of their count in the manifest.
_SPLIT_COUNTS = {"train.parquet": "train", "valid.parquet": "valid", "generated.parquet": "generated_pool",
                 "replay.parquet": "replay_pool"}
# Promoted files published next to the adapter; details.json (per-row outputs on the frozen eval set) stays home.
_PROMOTED_EXTRAS = ("metrics.json", "lineage.json", "train_set.json")
_METHOD = {"nf4": "QLoRA (LoRA on a 4-bit NF4 base)", "int8": "LoRA (on an 8-bit base)", "none": "LoRA"}
_POOLS_NOTE = """`generated` and `replay` (config `augmentation_pools`) are pools, not splits to train on whole: each
trial draws `add_ratio` and `replay_ratio` × the base size from them. Generated rows stress the focus
dimensions; replayed rows are the training rows the previous cycle's best adapter got most wrong."""


class PublishError(RuntimeError):
    """A publish was refused or failed; the message says why and what (nothing) was uploaded."""


# ---------------------------------------------------------------- checks shared by both plans


def _check_repo_id(repo_id: str) -> None:
    """Hub rules, and a namespace: without one the Hub would pick the token's user silently."""
    rules = "expected 'namespace/name' (letters, digits, '-', '_' or '.'; at most 96 characters; no '--' or '..')"
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PublishError(f"--repo-id {repo_id!r} is not a Hub repo id: {rules}")
    try:
        from huggingface_hub.utils import validate_repo_id
    except ImportError:  # an older or trimmed huggingface_hub: the same rules, locally
        validate_repo_id = _validate_locally
    try:
        validate_repo_id(repo_id)
    except Exception as err:  # HFValidationError (a ValueError)
        raise PublishError(f"--repo-id {repo_id!r} is not a Hub repo id ({err}); {rules}") from None


def _validate_locally(repo_id: str) -> None:
    if not all(_REPO_NAME.match(p) for p in repo_id.split("/")) or "--" in repo_id or ".." in repo_id \
            or repo_id.endswith(".git"):
        raise ValueError("invalid characters or length")


def _read_json(path: Path, what: str):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishError(f"{path} is missing: {what}") from None
    except json.JSONDecodeError as err:
        raise PublishError(f"{path} is not valid JSON ({err}); it was damaged after it was written") from None


def _entry(local: Path, path_in_repo: str, sha256: str | None = None) -> dict:
    local = Path(local).resolve()
    return {"path_in_repo": path_in_repo, "local_path": str(local), "bytes": local.stat().st_size,
            "sha256": sha256 or sha256_file(local)}


def _verified(folder: Path, manifest: dict, prefix: str) -> list[dict]:
    """One entry per file the manifest lists, refusing any file whose sha256 differs from the record."""
    entries = []
    for name, recorded in manifest.get("files", {}).items():
        path = Path(folder) / name
        if not path.is_file():
            raise PublishError(f"refusing to publish: {path} is listed in {folder / 'manifest.json'} but missing; "
                               "nothing was planned")
        actual = sha256_file(path)
        if actual != recorded:
            raise PublishError(f"refusing to publish: {path} does not match the sha256 recorded in "
                               f"{folder / 'manifest.json'} (recorded {recorded[:12]}…, found {actual[:12]}…); "
                               "it was altered after the version was written. Restore it or build a new version.")
        entries.append(_entry(path, prefix + name, actual))
    return entries


def _front_matter(meta: dict, body: str) -> str:
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body.strip() + "\n"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]  # a '|' in a cell would split it
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


# ---------------------------------------------------------------- dataset versions


def plan_dataset_upload(version_dir: Path, repo_id: str, *, include_eval: bool = False, private: bool = True) -> dict:
    """Plan the upload of dataset version ``version_dir`` (e.g. ``data/flagship/v2``) as dataset ``repo_id``.

    The frozen eval set (``../eval``) is left out unless ``include_eval``: it is the benchmark every
    cycle, gate and baseline is scored on, and publishing it beside training data invites training on it.
    """
    _check_repo_id(repo_id)
    version_dir = Path(version_dir)
    manifest = _read_json(version_dir / "manifest.json", "not a dataset version folder (expected data/<name>/v<N>)")
    if manifest.get("kind") == "frozen_eval" or "version" not in manifest:
        raise PublishError(f"{version_dir} is not a dataset version (expected data/<name>/v<N>); "
                           "the frozen eval set is published only with a version, via include_eval")
    files = _verified(version_dir, manifest, "data/")
    files.append(_entry(version_dir / "manifest.json", "manifest.json"))
    eval_manifest = None
    if include_eval:
        eval_dir = version_dir.parent / "eval"
        eval_manifest = _read_json(eval_dir / "manifest.json", "no frozen eval set next to this version")
        files += _verified(eval_dir, eval_manifest, "eval/")
        files.append(_entry(eval_dir / "manifest.json", "eval/manifest.json"))
    card = _dataset_card(repo_id, version_dir.parent.name, manifest, files, eval_manifest)
    return {"repo_id": repo_id, "repo_type": "dataset", "files": files, "card": card, "private": bool(private)}


def _dataset_configs(files: list[dict]) -> list[dict]:
    """``configs`` for the card: train/validation(/test) as the default config, the pools as a second one."""
    paths = {f["path_in_repo"] for f in files}
    default = [{"split": "train", "path": "data/train.parquet"}, {"split": "validation", "path": "data/valid.parquet"}]
    if "eval/eval.parquet" in paths:
        default.append({"split": "test", "path": "eval/eval.parquet"})
    configs = [{"config_name": "default", "data_files": default}]
    pools = [{"split": s, "path": f"data/{s}.parquet"} for s in ("generated", "replay") if f"data/{s}.parquet" in paths]
    if pools:
        configs.append({"config_name": "augmentation_pools", "data_files": pools})
    return configs


def _size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return label
    return "n>1M"


def _task_of(kind: str | None) -> Task:
    """The task a manifest or campaign was written for (those from before tasks were plug-ins: the default)."""
    return get_task(kind or DEFAULT_KIND)


def _dataset_card(repo_id: str, data_name: str, manifest: dict, files: list[dict], eval_manifest: dict | None) -> str:
    task = _task_of(manifest.get("task"))
    words = task.card()
    counts = manifest.get("counts", {})
    version, parent = manifest["version"], manifest.get("parent")
    meta = {"license": "other", "pretty_name": f"{data_name} ({version})", "language": words["languages"],
            "task_categories": ["text-generation"], "size_categories": [_size_category(sum(counts.values()))],
            "tags": [*words["tags"], "structured-output", "qlora", "campaign-engine"],
            "configs": _dataset_configs(files)}
    focus = ", ".join(manifest.get("focus_facets", manifest.get("focus_dims")) or []) or "none"
    about = [["version", f"`{version}`"], ["parent", f"`{parent}`" if parent else "none (a base version)"],
             [f"focus {task.spec.facets_word}", focus], ["created", manifest.get("created", "unknown")]]
    if manifest.get("campaign"):
        about.insert(2, ["campaign / cycle", f"`{manifest['campaign']}` / {manifest.get('cycle')}"])
    notes = "\n\n".join(str(manifest[k]) for k in ("summary", "focus_reason") if manifest.get(k))
    body = f"""
# {repo_id.split('/')[1]}: dataset version {version}

Teacher data for {words["what"]},
built by the campaign engine. Versions are immutable: every file below matches the sha256 recorded
in `manifest.json` when the version was written.

{_table(["field", "value"], about)}

{notes}

## Splits and counts

{_split_table(files, counts, eval_manifest)}

{_POOLS_NOTE if "generated.parquet" in manifest.get("files", {}) else ""}

{_eval_note(eval_manifest)}

{words["schema"]}

## License

`other` is a placeholder: set the real license before making this repository public.
"""
    return _front_matter(meta, re.sub(r"\n{3,}", "\n\n", body))


def _split_table(files: list[dict], counts: dict, eval_manifest: dict | None) -> str:
    rows = []
    for f in files:
        name = f["path_in_repo"].rsplit("/", 1)[-1]
        if f["path_in_repo"] == "eval/eval.parquet":
            n = (eval_manifest or {}).get("rows", "?")
        elif name in _SPLIT_COUNTS:
            n = counts.get(_SPLIT_COUNTS[name], "?")
        else:
            continue
        rows.append([f"`{f['path_in_repo']}`", n, f"`{f['sha256'][:12]}`"])
    return _table(["file", "rows", "sha256"], rows)


def _eval_note(eval_manifest: dict | None) -> str:
    if eval_manifest is None:
        return ("## Frozen eval set: not included\n\nThe frozen eval set is the benchmark every cycle, gate and "
                "baseline is scored on. It is not uploaded, so that nobody trains on it by accident and its scores "
                "keep their meaning; it is published only when asked for explicitly (include_eval).")
    return (f"## Frozen eval set\n\n`eval/eval.parquet` ({eval_manifest.get('rows', '?')} rows) is the `test` split: "
            "the frozen benchmark every cycle, gate and baseline is scored on. Never train on it.")


# ---------------------------------------------------------------- the promoted adapter


def plan_adapter_upload(campaign_dir: Path, repo_id: str, *, private: bool = True) -> dict:
    """Plan the upload of ``campaign_dir``'s promoted adapter (``results/<campaign>/promoted``) as model ``repo_id``."""
    _check_repo_id(repo_id)
    campaign_dir = Path(campaign_dir)
    state = _read_json(campaign_dir / "campaign.json", "not a campaign folder (expected results/<campaign>)")
    record = state.get("promoted")
    if not record:
        raise PublishError(f"nothing is promoted in {campaign_dir}; run the campaign until a cycle passes its gate")
    files = _adapter_files(campaign_dir / "promoted", record)
    baselines = _optional_json(campaign_dir / "baselines.json") or []
    gate = _optional_json(campaign_dir / f"cycle_{record['cycle']}" / "gate.json")
    card = _model_card(repo_id, state, record, baselines, gate, files)
    return {"repo_id": repo_id, "repo_type": "model", "files": files, "card": card, "private": bool(private)}


def _optional_json(path: Path):
    return _read_json(path, "") if Path(path).exists() else None


def _adapter_files(promoted: Path, record: dict) -> list[dict]:
    """The adapter at the repo root (so peft loads it by repo id) plus the lineage, checked against campaign.json."""
    lineage = _read_json(promoted / "lineage.json", "the promoted folder is incomplete; promote again")
    keys = ("cycle", "trial", "trial_id", "data_version", "config", "metrics")
    differ = [k for k in keys if lineage.get(k) != record.get(k)]
    metrics = _read_json(promoted / "metrics.json", "the promoted folder is incomplete; promote again")
    if metrics != record.get("metrics"):
        differ.append("metrics.json")
    if differ:
        raise PublishError(f"refusing to publish: {promoted} does not match the promoted record in campaign.json "
                           f"(differs: {', '.join(differ)}); it was changed after promotion")
    adapter = promoted / "adapter"
    weights = [n for n in ("adapter_model.safetensors", "adapter_model.bin") if (adapter / n).is_file()]
    if not (adapter / "adapter_config.json").is_file() or not weights:
        raise PublishError(f"refusing to publish: {adapter} lacks adapter_config.json or adapter weights")
    # peft's own README.md is a blank template; the card written here replaces it.
    files = [_entry(p, p.name) for p in sorted(adapter.iterdir()) if p.is_file() and p.name != "README.md"]
    return files + [_entry(promoted / n, n) for n in _PROMOTED_EXTRAS if (promoted / n).is_file()]


def _fmt(value, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _metrics_table(metrics: dict, baselines: list[dict], task: Task) -> str:
    spec = task.spec
    names = [spec.valid_rate, spec.primary] + [spec.facet_key(f) for f in spec.facets]
    header = ["metric (frozen eval set)", "this adapter"] + [f"`{b['mode']}`" for b in baselines]
    rows = []
    for name in names:
        digits = 3 if name == spec.valid_rate else 2
        cells = [_fmt(m.get(f"eval/{name}"), digits) for m in [metrics] + [b.get("metrics", {}) for b in baselines]]
        rows.append([f"`{name}`"] + cells)
    return _table(header, rows)


def _is_hub_model(base: str) -> bool:
    """Only a Hub id may go in ``base_model`` (the Hub rejects cards whose base_model is not a model id)."""
    if base in ("tiny", "unknown") or base.startswith((".", "/", "~")) or Path(base).exists():
        return False
    try:
        _check_repo_id(base if "/" in base else f"_/{base}")
    except PublishError:
        return False
    return True


def _base_model_note(base: str, repo_id: str) -> str:
    if base == "tiny":
        return ("It was trained on `tiny`, a locally built test model: a ~1M-parameter Llama with random weights "
                "that the campaign engine builds for tests and demos (`trainables/tiny_model.py`). It is not on the "
                "Hub, so no `base_model` is declared and this adapter cannot be loaded on top of any public model.")
    if not _is_hub_model(base):
        return (f"It was trained on a local base model (`{base}`), which is not on the Hub, so no `base_model` is "
                "declared: load the adapter on top of that same model.")
    return (f"Base model: [`{base}`](https://huggingface.co/{base}).\n\n```python\n"
            "from peft import AutoPeftModelForCausalLM\n\n"
            f"model = AutoPeftModelForCausalLM.from_pretrained(\"{repo_id}\")\n```")


def _gate_section(record: dict, gate: dict | None) -> str:
    text = f"Gate: {record.get('gate') or 'no summary recorded'}."
    if gate and gate.get("checks"):
        rows = [[c.get("check"), c.get("status"), c.get("reason", "")] for c in gate["checks"]]
        text += "\n\n" + _table(["check", "status", "reason"], rows)
    return text


def _model_card(repo_id: str, state: dict, record: dict, baselines: list, gate: dict | None, files: list) -> str:
    model_cfg = state.get("config", {}).get("model", {})
    base = model_cfg.get("base_model", "unknown")
    meta = {"library_name": "peft"} | ({"base_model": base} if _is_hub_model(base) else {})
    meta |= {"pipeline_tag": "text-generation", "tags": ["lora", "qlora", "peft"]}
    metrics = record.get("metrics", {})
    searched = [[f"`{k}`", v] for k, v in (record.get("config") or {}).items()]
    lineage = [["campaign", f"`{state.get('campaign')}`"], ["cycle", record.get("cycle")],
               ["trial", record.get("trial")], ["trial_id", f"`{record.get('trial_id')}`"],
               ["data version", f"`{record.get('data_version')}`"], ["promoted", record.get("promoted", "")]]
    task_cfg = state.get("config", {}).get("task") or {}
    task = _task_of(task_cfg.get("kind"))
    template = resolve_prompt(task, task_cfg.get("prompt_style"), model_cfg.get("prompt_template"))[0]
    body = f"""
# {repo_id.split('/')[1]}

A {_METHOD.get(model_cfg.get("quantization"), "LoRA")} adapter that {task.card()["adapter"]}.
Campaign `{state.get('campaign')}` promoted it after cycle {record.get('cycle')}.

{_base_model_note(base, repo_id)}

Prompt template: `{json.dumps(template, ensure_ascii=False)}`

## Evaluation

On the frozen eval set ({metrics.get('eval/n', '?')} rows, never trained on). {task.card()["metric_note"]}

{_metrics_table(metrics, baselines, task)}

{_gate_section(record, gate)}

## Lineage

{_table(["field", "value"], lineage)}

Searched config of the promoted trial:

{_table(["key", "value"], searched) if searched else "(nothing was searched)"}

## Files

{_table(["file", "bytes", "sha256"], [[f"`{f['path_in_repo']}`", f["bytes"], f"`{f['sha256'][:12]}`"] for f in files])}
"""
    return _front_matter(meta, body)


# ---------------------------------------------------------------- dry run and submit


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def describe_plan(plan: dict) -> str:
    """The dry run: every file that would be uploaded, with its size and sha256 prefix, then the card."""
    kind = plan["repo_type"]
    url = f"https://huggingface.co/{'datasets/' if kind == 'dataset' else ''}{plan['repo_id']}"
    card = plan["card"].encode("utf-8")
    total = sum(f["bytes"] for f in plan["files"]) + len(card)
    width = max(len(f["path_in_repo"]) for f in plan["files"] + [{"path_in_repo": "README.md"}])
    lines = [f"Would upload to {HUB}: {kind} repo {plan['repo_id']} "
             f"({'private' if plan['private'] else 'public'}), {url}",
             f"{len(plan['files']) + 1} files, {_human(total)} in all:"]
    for f in plan["files"]:
        lines.append(f"  {f['path_in_repo']:<{width}}  {_human(f['bytes']):>10}  sha256 {f['sha256'][:12]}  "
                     f"from {f['local_path']}")
    lines.append(f"  {'README.md':<{width}}  {_human(len(card)):>10}  (the card below)")
    lines += ["", "----- README.md -----", plan["card"].rstrip(), "----- end of README.md -----", ""]
    lines.append("This was a dry run: nothing was uploaded. Pass --submit to upload (it needs HF_TOKEN).")
    return "\n".join(lines)


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _recheck(plan: dict) -> None:
    """Files may change between the dry run and the upload; upload only what was planned."""
    for f in plan["files"]:
        path = Path(f["local_path"])
        if not path.is_file() or sha256_file(path) != f["sha256"]:
            raise PublishError(f"refusing to upload: {path} changed since it was planned; nothing was uploaded. "
                               "Plan again.")


def submit_plan(plan: dict, *, token: str | None = None) -> str:
    """Upload ``plan`` in one commit (card as README.md); return the commit's URL."""
    token = token or os.environ.get("HF_TOKEN") or None
    if not token:
        raise PublishError(f"no Hub token: set HF_TOKEN to a write token for {plan['repo_id']} "
                           "(https://huggingface.co/settings/tokens); nothing was uploaded")
    _recheck(plan)
    from huggingface_hub import CommitOperationAdd, HfApi, constants

    if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE") or constants.is_offline_mode():
        raise PublishError(f"HF_HUB_OFFLINE is set, so {HUB} cannot be reached; nothing was uploaded. "
                           "Unset HF_HUB_OFFLINE (and TRANSFORMERS_OFFLINE) to upload.")
    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT  # read now: the constant froze at import
    api = HfApi(endpoint=endpoint, token=token)
    ops = [CommitOperationAdd(f["path_in_repo"], f["local_path"]) for f in plan["files"]]
    ops.append(CommitOperationAdd("README.md", plan["card"].encode("utf-8")))
    step = "creating the repo"
    try:
        api.create_repo(plan["repo_id"], repo_type=plan["repo_type"], private=plan["private"], exist_ok=True)
        step = "committing the files"
        info = api.create_commit(plan["repo_id"], ops, repo_type=plan["repo_type"],
                                 commit_message=f"Publish {len(ops)} files with the campaign engine")
    except Exception as err:  # noqa: BLE001 - every failure becomes one clear, token-free message
        raise _hub_failure(err, step, endpoint, plan["repo_id"], token) from None  # no chained repr of the request
    return str(getattr(info, "commit_url", None) or info)


def _is_connection_error(err: Exception) -> bool:
    names = {c.__name__ for c in type(err).__mro__}
    return isinstance(err, OSError) or bool(names & {"OfflineModeIsEnabled", "TransportError", "RequestError",
                                                     "ConnectionError", "TimeoutException", "Timeout"})


def _hub_failure(err: Exception, step: str, endpoint: str, repo_id: str, token: str) -> PublishError:
    from huggingface_hub.errors import HfHubHTTPError

    detail = f"{type(err).__name__}: {err}".replace(token, "***")  # errors may echo headers; hide the token
    if isinstance(err, HfHubHTTPError):  # the Hub answered: a bad token, no access, a name taken...
        msg = (f"{HUB} refused the upload while {step} ({detail}); nothing was uploaded to {repo_id}. "
               "Check that HF_TOKEN is a write token with access to that namespace.")
    elif _is_connection_error(err):
        msg = (f"could not reach {HUB} at {endpoint} while {step} ({detail}); nothing was uploaded to {repo_id}. "
               "Check the network, HF_ENDPOINT and HF_HUB_OFFLINE, then run again.")
    else:
        msg = f"uploading to {HUB} failed while {step} ({detail}); nothing was uploaded to {repo_id}."
    return PublishError(msg)
