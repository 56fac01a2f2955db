"""The config sections: dataclasses with a one-line doc per field, checked in ``__post_init__``.

Every check raises :class:`ConfigError` naming the dotted key and the fix.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from campaign.config.search import SearchConfig, check_spec, contains
from campaign.core.errors import ConfigError
from campaign.tasks.base import DEFAULT_KIND, get_task, resolve_prompt, task_options

__all__ = ["QUANTIZATIONS", "DTYPES", "WANDB_MODES", "BATCHINGS", "TaskConfig", "DataConfig", "ModelConfig",
           "LoraSettings", "TrainConfig", "ResourcesConfig", "TrackingConfig", "CyclesConfig", "GateConfig",
           "PreflightConfig", "CampaignConfig"]

QUANTIZATIONS = ("nf4", "int8", "none")
DTYPES = ("auto", "bfloat16", "float16", "float32")
WANDB_MODES = ("auto", "disabled", "offline", "online")
BATCHINGS = ("auto", "padded", "length_grouped", "padding_free")  # see trainables.trainer.choose_batching


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


@dataclass
class DataConfig:
    """Where the teacher data comes from and how it is versioned and split."""

    root: str = "data"  # Folder holding dataset versions and frozen eval sets.
    name: str = "flagship"  # Dataset name; versions live in <root>/<name>/v<N>.
    source: str = "generate"  # 'generate', or a JSONL / Parquet / datasets-folder path.
    eval_source: str | None = None  # Frozen eval rows from this path; default: generated, or carved from `source`.
    base_size: int = 500  # Training rows of the base version (generated data).
    eval_size: int = 70  # Rows in the frozen eval set.
    valid_fraction: float = 0.1  # Share of the filtered rows held out as the validation split.
    seed: int = 0  # Generator seed of the base version.
    eval_seed: int = 7919  # Generator seed of the frozen eval set (distinct from `seed`).
    ja_share: float = 0.5  # Share of Japanese requests in generated data.
    min_chars: int = 4  # Quality filter: shortest request kept.
    max_chars: int = 200  # Quality filter: longest request kept.
    columns: dict[str, str] = field(default_factory=dict)  # Task field -> your column, e.g. {request: request_text}.

    def __post_init__(self):
        bad = [k for k, v in self.columns.items() if not isinstance(v, str) or not v]
        _require(not bad, f"data.columns.{bad[0] if bad else ''}", "must name a column of your file (a string)")
        _require(self.source == "generate" or Path(self.source).exists(), "data.source",
                 f"{self.source!r} does not exist; give 'generate' or a JSONL/Parquet/datasets path")
        _require(self.eval_source is None or Path(self.eval_source).exists(), "data.eval_source",
                 f"{self.eval_source!r} does not exist")
        _require(self.base_size >= 10, "data.base_size", f"must be >= 10 (got {self.base_size})")
        _require(self.eval_size >= 5, "data.eval_size", f"must be >= 5 (got {self.eval_size})")
        _require(0.0 < self.valid_fraction < 0.5, "data.valid_fraction", f"must be in (0, 0.5) (got {self.valid_fraction})")
        _require(0.0 <= self.ja_share <= 1.0, "data.ja_share", f"must be in [0, 1] (got {self.ja_share})")
        _require(self.seed != self.eval_seed, "data.eval_seed", "must differ from data.seed so eval rows are fresh")
        _require(0 < self.min_chars < self.max_chars, "data.min_chars", "need 0 < min_chars < max_chars")


@dataclass
class ModelConfig:
    """The base model and how it is loaded."""

    base_model: str = "tiny"  # 'tiny' (built locally, no Hub), an HF model id, or a local path.
    quantization: str = "nf4"  # 'nf4' (4-bit QLoRA), 'int8', or 'none'.
    compute_dtype: str = "auto"  # Compute dtype (whole model for 'none'); auto: bf16 where native, else fp32 CPU / fp16 GPU.
    double_quant: bool = True  # bitsandbytes nested quantization of the NF4 scales.
    prompt_template: str | None = None  # Your own prompt, naming the task's prompt fields ('{request}'); null = task.prompt_style.
    max_seq_len: int = 128  # Longest prompt + completion in tokens; longer rows are truncated (counted).
    max_new_tokens: int = 40  # Generation budget for one answer: ~20 tokens for the flagship JSON, a few for a label.
    trust_remote_code: bool = False  # Passed to from_pretrained for custom architectures.

    def __post_init__(self):
        _require(self.quantization in QUANTIZATIONS, "model.quantization", f"must be one of {QUANTIZATIONS} (got {self.quantization!r})")
        _require(self.compute_dtype in DTYPES, "model.compute_dtype", f"must be one of {DTYPES} (got {self.compute_dtype!r})")
        _require(self.max_seq_len >= 16, "model.max_seq_len", f"must be >= 16 (got {self.max_seq_len})")
        _require(self.max_new_tokens >= 1, "model.max_new_tokens", f"must be >= 1 (got {self.max_new_tokens})")


@dataclass
class LoraSettings:
    """The LoRA adapter (peft)."""

    r: int = 16  # Adapter rank.
    alpha: int = 32  # Scaling numerator (scale = alpha / r).
    dropout: float = 0.05  # Dropout on the adapter input.
    target_modules: str | list[str] = "all-linear"  # Module names, or peft's 'all-linear'.
    modules_to_save: list[str] = field(default_factory=list)  # Full modules trained and saved too (e.g. embed_tokens).

    def __post_init__(self):
        _require(self.r >= 1, "lora.r", f"must be >= 1 (got {self.r})")
        _require(self.alpha >= 1, "lora.alpha", f"must be >= 1 (got {self.alpha})")
        _require(0.0 <= self.dropout < 1.0, "lora.dropout", f"must be in [0, 1) (got {self.dropout})")
        _require(bool(self.target_modules), "lora.target_modules", "must name at least one module or be 'all-linear'")


@dataclass
class TrainConfig:
    """One trial's training and evaluation settings (the searched ones are overridden per trial)."""

    lr: float = 2e-3  # Peak learning rate (AdamW, linear warmup then linear decay).
    epochs: int = 3  # Passes over the trial's training set; a checkpoint is reported after each.
    batch_size: int = 16  # Sequences per optimizer micro-step per worker.
    grad_accum: int = 1  # Micro-steps per optimizer step.
    warmup_ratio: float = 0.05  # Share of steps spent warming up.
    weight_decay: float = 0.0  # AdamW weight decay.
    max_grad_norm: float = 1.0  # Gradient clipping norm.
    add_ratio: float = 0.0  # Cycle 1 only: unfocused generated rows added, as a share of the base size.
    focus_ratio: float = 0.0  # Cycles >= 2: rows generated for the focus facets, on top of the previous best's set.
    replay_ratio: float = 0.0  # Hard training rows replayed on top, as a share of the base size.
    seed: int = 0  # Seed of init, shuffling and dropout.
    max_steps: int | None = None  # Stop after this many optimizer steps (smoke tests); None = full epochs.
    eval_batch_size: int = 64  # Prompts per batched greedy generation call.
    hard_cases_k: int = 10  # Hard cases kept per evaluation.
    gradient_checkpointing: bool = False  # Trade compute for memory on large models.
    batching: str = "auto"  # 'auto' (padded on CPU, padding_free on CUDA), 'padded', 'length_grouped', 'padding_free'.
    checkpoint_every_min: float = 5.0  # Save the full training state this often (minutes); a cut-off trial resumes from it.
    checkpoint_every_steps: int | None = None  # Also save every this many optimizer steps; null = by time only.
    keep_checkpoints: int = 3  # Full-state checkpoints kept per trial (the newest); per-epoch adapters are kept apart.
    max_worker_restarts: int = 1  # Ray Train restarts of a failed worker group, each from the latest checkpoint.

    def __post_init__(self):
        _require(0 < self.lr < 1, "train.lr", f"must be in (0, 1) (got {self.lr})")
        _require(self.epochs >= 1, "train.epochs", f"must be >= 1 (got {self.epochs})")
        _require(self.batch_size >= 1, "train.batch_size", f"must be >= 1 (got {self.batch_size})")
        _require(self.grad_accum >= 1, "train.grad_accum", f"must be >= 1 (got {self.grad_accum})")
        _require(0 <= self.warmup_ratio < 1, "train.warmup_ratio", f"must be in [0, 1) (got {self.warmup_ratio})")
        _require(0 <= self.add_ratio <= 2, "train.add_ratio", f"must be in [0, 2] (got {self.add_ratio})")
        _require(0 <= self.focus_ratio <= 2, "train.focus_ratio", f"must be in [0, 2] (got {self.focus_ratio})")
        _require(0 <= self.replay_ratio <= 1, "train.replay_ratio", f"must be in [0, 1] (got {self.replay_ratio})")
        _require(self.max_steps is None or self.max_steps >= 1, "train.max_steps", "must be >= 1 or null")
        _require(self.eval_batch_size >= 1, "train.eval_batch_size", "must be >= 1")
        _require(self.batching in BATCHINGS, "train.batching", f"must be one of {BATCHINGS} (got {self.batching!r})")
        _require(self.checkpoint_every_min > 0, "train.checkpoint_every_min",
                 f"must be > 0 minutes (got {self.checkpoint_every_min}); use e.g. 0.5 for every 30 seconds")
        _require(self.checkpoint_every_steps is None or self.checkpoint_every_steps >= 1, "train.checkpoint_every_steps",
                 f"must be >= 1 or null (got {self.checkpoint_every_steps})")
        _require(self.keep_checkpoints >= 1, "train.keep_checkpoints",
                 f"must be >= 1 (got {self.keep_checkpoints}); the newest checkpoint is what a trial resumes from")
        _require(self.max_worker_restarts >= 0, "train.max_worker_restarts", f"must be >= 0 (got {self.max_worker_restarts})")


@dataclass
class ResourcesConfig:
    """What one trial asks Ray for, by hardware profile (see docs/PROFILES.md)."""

    profile: str = "cpu"  # 'cpu', 'gpu', 'gpu_ddp', 'mig_slice', 'rtx3080' or 'custom'.
    num_workers: int = 1  # Ray Train workers per trial (DDP when > 1; never for mig_slice).
    cpus_per_worker: float = 1  # CPUs per worker; also its torch thread count.
    gpus_per_worker: float | None = None  # GPUs per worker; null = the profile's (0 for cpu, else 1).
    custom_resource: str | None = None  # Custom Ray resource per worker (profile 'custom'; mig_20gb, rtx3080 by default).
    memory_preset: str | None = None  # Fill batch/accum/seq len/checkpointing/quantization you did not set (docs/PROFILES.md).
    max_concurrent: int | None = None  # Trials at once; None = as many as the cluster's resources fit.

    def __post_init__(self):
        from campaign.config.profiles import MEMORY_PRESETS

        _require(self.gpus_per_worker is None or self.gpus_per_worker >= 0, "resources.gpus_per_worker",
                 "must be >= 0 or null")
        plan = self.plan()  # raises ConfigError naming the key for any inconsistent combination
        self.gpus_per_worker = plan["resources_per_worker"].get("GPU", 0)  # null resolved, recorded as run
        _require(self.memory_preset is None or self.memory_preset in MEMORY_PRESETS, "resources.memory_preset",
                 f"must be one of {sorted(MEMORY_PRESETS)} or null (got {self.memory_preset!r})")
        _require(self.max_concurrent is None or self.max_concurrent >= 1, "resources.max_concurrent", "must be >= 1 or null")

    def plan(self) -> dict:
        """The profile's scaling plan: workers, per-worker and per-trial resources, DDP."""
        from campaign.config.profiles import scaling_plan

        return scaling_plan(self.profile, num_workers=self.num_workers, cpus_per_worker=self.cpus_per_worker,
                            gpus_per_worker=self.gpus_per_worker, custom_resource=self.custom_resource)


@dataclass
class TrackingConfig:
    """Optional external trackers; training never depends on them unless asked."""

    wandb: str = "auto"  # 'auto' (online with WANDB_API_KEY, else offline), 'disabled', 'offline', 'online'.
    wandb_project: str = "campaign-engine"  # W&B project name.
    weave: bool = False  # Trace every validation sample (request, target, prediction, error) to Weave; needs WANDB_API_KEY.
    weave_project: str | None = None  # Weave project, 'project' or 'entity/project'; null = tracking.wandb_project.
    weave_timeout_s: float = 30.0  # Longest wait for Weave to log in, connect or flush; past it, Weave is reported unreachable.

    def __post_init__(self):
        _require(self.wandb in WANDB_MODES, "tracking.wandb", f"must be one of {WANDB_MODES} (got {self.wandb!r})")
        parts = (self.weave_project or "x").split("/")
        _require(len(parts) <= 2 and all(p.strip() for p in parts), "tracking.weave_project",
                 f"must be 'project' or 'entity/project' (got {self.weave_project!r})")
        _require(self.weave_timeout_s > 0, "tracking.weave_timeout_s", f"must be > 0 seconds (got {self.weave_timeout_s})")


@dataclass
class CyclesConfig:
    """How a campaign closes its data loop: cycle n's best trials decide cycle n+1's data and search."""

    count: int = 1  # Cycles to run; `campaign run --cycles N` sets it.
    k_best: int = 3  # Best finished trials whose per-facet validation errors choose the hard facets.
    n_facets: int = 2  # Hard facets (dimensions, classes, subjects) chosen per cycle.
    min_support: int = 5  # A facet with fewer validation rows than this is never chosen (where the task counts them).
    hard_by: str = "error"  # 'error': largest facet error; 'relative': error / the task's model-free baseline's.
    force_facets: list[str] = field(default_factory=list)  # Focus on these facets instead of choosing (recorded).
    seed_top_k: int = 2  # Best configs of cycle n evaluated first in cycle n+1; their span sets the narrowed ranges.
    narrow_margin: float = 0.15  # Narrowed range = best trials' span padded by this share of the old width per side.
    control: bool | None = None  # Re-run cycle n's best config on its own training set, new seed, in cycle n+1; null = on.
    space: dict[str, dict] | None = None  # Data ratios searched in cycles >= 2 (rows on top), never narrowed; null = default.

    def __post_init__(self):
        _require(not (self.control is True and self.count < 2), "cycles.control",
                 "a control re-runs cycle n's best config in cycle n+1, but cycles.count is 1, so there is no "
                 "previous cycle to control; set cycles.count >= 2 or cycles.control: false")
        if self.space is not None:
            _require(isinstance(self.space, dict), "cycles.space", f"must be a mapping of key -> spec (got {self.space!r})")
            for key, spec in self.space.items():
                _require(key in CYCLE_DATA_KEYS, f"cycles.space.{key}",
                         f"only the data ratios of cycles >= 2 are searched here: {list(CYCLE_DATA_KEYS)}; "
                         "other keys belong in search.space (they are narrowed from cycle to cycle)")
                check_spec(key, spec, "cycles.space")
        _require(self.count >= 1, "cycles.count", f"must be >= 1 (got {self.count})")
        _require(self.k_best >= 1, "cycles.k_best", f"must be >= 1 (got {self.k_best})")
        _require(self.n_facets >= 1, "cycles.n_facets", f"must be >= 1 (got {self.n_facets})")
        _require(self.min_support >= 0, "cycles.min_support", f"must be >= 0 (got {self.min_support})")
        _require(self.hard_by in ("error", "relative"), "cycles.hard_by",
                 f"must be 'error' or 'relative' (got {self.hard_by!r})")
        _require(len(set(self.force_facets)) == len(self.force_facets), "cycles.force_facets", "lists a facet twice")
        _require(self.seed_top_k >= 1, "cycles.seed_top_k", f"must be >= 1 (got {self.seed_top_k})")
        _require(0 < self.narrow_margin <= 1, "cycles.narrow_margin", f"must be in (0, 1] (got {self.narrow_margin})")


    def control_on(self) -> bool:
        """Whether cycles >= 2 run the control trial (on unless cycles.control is false)."""
        return self.control is not False

    def data_space(self, has_generator: bool) -> dict[str, dict]:
        """The data ratios cycles >= 2 search: cycles.space, or the default printed with the plan."""
        if self.space is not None:
            return {k: dict(v) for k, v in self.space.items()}
        default = {"train.focus_ratio": {"type": "uniform", "low": 0.0, "high": 0.3},
                   "train.replay_ratio": {"type": "uniform", "low": 0.0, "high": 0.1}}
        return default if has_generator else {"train.replay_ratio": default["train.replay_ratio"]}


# The keys whose meaning is "rows on top of the previous cycle's best set" (cycles >= 2); cycle 1's
# train.add_ratio (unfocused rows) is not carried into them.
CYCLE_DATA_KEYS = ("train.focus_ratio", "train.replay_ratio")
CYCLE1_DATA_KEYS = ("train.add_ratio", "train.replay_ratio")


@dataclass
class GateConfig:
    """Promotion gate thresholds, checked on the frozen eval set."""

    min_valid_rate: float = 0.98  # The candidate's share of outputs that parse (json_valid_rate, ...) must reach this.
    focus_min_improvement: float = 0.0  # Each focus facet's error must beat the previous cycle's best by more.
    primary_tolerance: float = 0.0  # The primary metric may be worse than the promoted model's and the best baseline's by at most this.
    statistics: str = "paired"  # 'paired': decide on paired intervals over the eval rows; 'none': on the metric values.
    confidence: float = 0.95  # Confidence level of the paired bootstrap intervals.
    resamples: int = 2000  # Bootstrap resamples per interval (seeded, so a rerun gives the same verdict).

    def __post_init__(self):
        _require(self.statistics in ("paired", "none"), "gate.statistics",
                 f"must be 'paired' or 'none' (got {self.statistics!r})")
        _require(0 < self.confidence < 1, "gate.confidence", f"must be in (0, 1), e.g. 0.95 (got {self.confidence})")
        _require(self.resamples >= 100, "gate.resamples", f"must be >= 100 (got {self.resamples})")
        _require(0 <= self.min_valid_rate <= 1, "gate.min_valid_rate", f"must be in [0, 1] (got {self.min_valid_rate})")
        _require(self.focus_min_improvement >= 0, "gate.focus_min_improvement", "must be >= 0")
        _require(self.primary_tolerance >= 0, "gate.primary_tolerance", "must be >= 0")


@dataclass
class PreflightConfig:
    """A short run of one worker at the search space's largest memory setting, before cycle 1's trials."""

    enabled: bool = True  # Run it before cycle 1 (`campaign run --no-preflight` turns it off; `--preflight` runs only it).
    steps: int = 50  # Optimizer steps of the preflight run.
    memory_fraction: float = 0.9  # Its peak memory must stay under this share of the device's memory (CPU: the RAM).

    def __post_init__(self):
        _require(self.steps >= 1, "preflight.steps", f"must be >= 1 (got {self.steps})")
        _require(0 < self.memory_fraction <= 1, "preflight.memory_fraction",
                 f"must be in (0, 1], e.g. 0.9 for 90% of the device's memory (got {self.memory_fraction})")


@dataclass
class TaskConfig:
    """Which structured-output task the campaign fine-tunes (see campaign.tasks)."""

    kind: str = DEFAULT_KIND  # A registered task: 'hidden_params' (request -> six-param JSON), 'classify' (text -> label).
    prompt_style: str | None = None  # One of the task's named prompts; null = its first, unless model.prompt_template is set.
    labels: list[str] | None = None  # classify: the class labels, each a facet; null = ALLOW, ESCALATION, DENY, REFUSE.
    label_case: str | None = None  # classify: 'insensitive' (data 'allow' reads as ALLOW) or 'exact'; null = insensitive.
    subjects: list[str] | None = None  # mcq: the subjects (facets) rows may name; null = the question bank's.
    scoring: str | None = None  # mcq: 'generate' (parse the answer letter) or 'loglikelihood' (likeliest choice); null = generate.

    def __post_init__(self):
        self.instance()  # an unknown kind, or an option it does not take or accept, raises naming the key

    def instance(self):
        """The task this section names, with its options."""
        return get_task(self.kind, **task_options(dataclasses.asdict(self)))


@dataclass
class CampaignConfig:
    """A whole campaign: data, model, adapter, training, search, resources and tracking."""

    name: str = "default"  # Campaign name; results go to <results_dir>/<name>/cycle_<n>/.
    results_dir: str = "results"  # Root of all campaign results.
    task: TaskConfig = field(default_factory=TaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainConfig = field(default_factory=TrainConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    cycles: CyclesConfig = field(default_factory=CyclesConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    preflight: PreflightConfig = field(default_factory=PreflightConfig)

    def __post_init__(self):
        _require(bool(self.name) and "/" not in self.name, "name", f"must be a non-empty folder name (got {self.name!r})")
        self._check_against_task()
        self.search.check_against(self)

    def _check_against_task(self) -> None:
        """Keys whose valid values depend on the task: facets, mapped columns, prompt fields."""
        task = self.task.instance()
        facets, kind = list(task.spec.facets), task.spec.facet_kind
        _require(self.cycles.n_facets <= len(facets), "cycles.n_facets",
                 f"must be in 1..{len(facets)}: task {self.task.kind!r} has {len(facets)} {task.spec.facets_word} "
                 f"(got {self.cycles.n_facets})")
        unknown = [f for f in self.cycles.force_facets if f not in facets]
        _require(not unknown, "cycles.force_facets", f"unknown {kind}(s) {unknown}; task {self.task.kind!r} has {facets}")
        fields = list(task.fields) + list(task.optional_fields)
        for key in self.data.columns:
            _require(key in fields, f"data.columns.{key}",
                     f"task {self.task.kind!r} has no field {key!r}; map onto one of {fields}")
        styles = list(task.prompt_styles)
        _require(self.task.prompt_style is None or self.task.prompt_style in styles, "task.prompt_style",
                 f"task {self.task.kind!r} has the prompt styles {styles} (got {self.task.prompt_style!r})")
        _require(self.task.prompt_style is None or self.model.prompt_template is None, "model.prompt_template",
                 "set either task.prompt_style (a named prompt of the task) or model.prompt_template, not both")
        self._check_generator(task)
        self._check_cycles(task)
        template = self.model.prompt_template
        missing = [f for f in task.prompt_fields if template is not None and "{" + f + "}" not in template]
        _require(not missing, "model.prompt_template",
                 f"must contain {', '.join('{' + f + '}' for f in missing)} (task {self.task.kind!r})")

    def _check_generator(self, task) -> None:
        """Generated rows need the task's generator: the base data (source 'generate') and the add pool."""
        if task.has_generator:
            return
        kind = self.task.kind
        _require(self.data.source != "generate", "data.source",
                 f"task {kind!r} has no row generator; give a JSONL/Parquet/datasets path")
        top = _top(self.search.space.get("train.add_ratio"), self.train.add_ratio)
        _require(top == 0, "train.add_ratio", f"task {kind!r} has no row generator, so no rows can be added: set "
                 "train.add_ratio to 0 and leave it out of search.space")

    def _check_cycles(self, task) -> None:
        """The control and the data ratios of cycles >= 2 (see campaign.decide.seeding)."""
        _require("train.focus_ratio" not in self.search.space, "search.space.train.focus_ratio",
                 "focus_ratio means rows for the focus facets on top of the previous cycle's best set; cycle 1 has "
                 "no focus yet. Search it in cycles.space (cycle 1's own generated rows are train.add_ratio)")
        if self.cycles.count < 2:
            return
        _require(self.cycles.hard_by != "relative" or task.has_model_free_baseline, "cycles.hard_by",
                 f"'relative' divides by a model-free baseline's error, and task {self.task.kind!r} has none; "
                 "use 'error'")
        space = self.cycles.data_space(task.has_generator)
        if not task.has_generator:
            top = _top(space.get("train.focus_ratio"), self.train.focus_ratio)
            _require(top == 0, "cycles.space.train.focus_ratio", f"task {self.task.kind!r} has no row generator, so "
                     "no focused rows can be added: leave train.focus_ratio out of cycles.space and at 0")
        for key, spec in space.items():
            _require(contains(spec, self.train_value(key)), f"cycles.space.{key}",
                     f"the config's own {key} = {self.train_value(key)!r} is outside the range; cycle n+1 runs cycle "
                     "n's best config with it, so widen the range or change the value")
            _require(not self.cycles.control_on() or contains(spec, 0), f"cycles.space.{key}",
                     "the control trial adds nothing on top (0), so the range must include 0; or set "
                     "cycles.control: false")
        _require(not self.cycles.control_on() or space, "cycles.control",
                 "the control sets the data ratios of cycles.space to 0, but cycles.space is empty; search "
                 "train.focus_ratio or train.replay_ratio there, or set cycles.control: false")
        _require(not self.cycles.control_on() or self.search.num_samples >= 2, "cycles.control",
                 f"the control takes one of the cycle's trials, so search.num_samples must be >= 2 (got "
                 f"{self.search.num_samples}); or set cycles.control: false")

    def train_value(self, key: str):
        """The config's own value of a dotted key such as ``train.focus_ratio``."""
        section, name = key.split(".", 1)
        return getattr(getattr(self, section), name)

    def prompt(self) -> tuple[str, str]:
        """The prompt template trials use, and where it came from (printed by the driver)."""
        return resolve_prompt(self.task.instance(), self.task.prompt_style, self.model.prompt_template)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def results_path(self) -> Path:
        return Path(self.results_dir) / self.name


def _top(spec: dict | None, value: float) -> float:
    """The largest value a key can take: its searched range's top, else the config value."""
    if spec is None:
        return value
    return max(spec["values"]) if spec["type"] == "choice" else spec["high"]
