"""The Task interface: everything the engine asks of a structured-output task, and the registry.

A task is a small set of hooks, as in lm-evaluation-harness (``doc_to_text``,
``doc_to_target``, answer-extraction filters, metrics): the engine calls only
these and knows no task. Decision logic (hard facets, gates, seeding) needs no
code of a task at all, only its :class:`TaskSpec`, a plain record.

A **facet** is what a cycle can focus on: a dimension of the flagship task, a
class of a classifier, a subject of a multiple-choice bank. Each task reports,
per split, one error metric per facet (larger is worse), a rate of outputs it
could parse, and one primary metric with a direction.

Tasks are looked up by ``task.kind`` through a lazy registry (module paths, so
the engine imports no task module until one is asked for). Pure: no Ray, no
torch.
"""
from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from campaign.core.errors import ConfigError

__all__ = ["TaskSpec", "Task", "register", "get_task", "task_from_config", "task_or_default", "resolve_prompt",
           "known_kinds", "task_options", "DEFAULT_KIND", "TASK_OPTION_KEYS"]

DEFAULT_KIND = "hidden_params"
# Keys of the config's ``task`` section that a task kind may read as options (see ``Task.options``).
TASK_OPTION_KEYS = ("labels", "label_case", "subjects", "scoring", "prompt_style")
# Passed only to the kinds that declare it; every kind has named prompts, validated by the config.
_SHARED_OPTIONS = ("prompt_style",)


@dataclass(frozen=True)
class TaskSpec:
    """What the engine's decisions need to know of a task: names and directions, no code."""

    kind: str  # The registry name, e.g. 'hidden_params'.
    facets: tuple[str, ...]  # The facet names a cycle may focus on.
    facet_kind: str  # What a facet is, in words: 'dimension', 'class', 'subject'.
    facet_error: str  # Metric name of a facet's error, with '{facet}'; larger is worse (e.g. 'mae_raw_{facet}').
    primary: str  # The primary metric (e.g. 'mae_raw').
    mode: str  # 'min' or 'max': the primary metric's direction.
    valid_rate: str  # Metric name of the share of outputs that parse (e.g. 'json_valid_rate').
    objective: str = "objective"  # What the search optimizes: the primary metric with invalid outputs folded in.
    objective_mode: str = field(default="")  # Direction of the objective; '' = the primary's mode.
    facet_support: str = ""  # Metric name of a facet's row count, with '{facet}' (e.g. 'support_{facet}'); '' = none.

    def __post_init__(self):
        if self.mode not in ("min", "max"):
            raise ValueError(f"TaskSpec.mode must be 'min' or 'max' (got {self.mode!r})")
        if "{facet}" not in self.facet_error:
            raise ValueError(f"TaskSpec.facet_error must contain '{{facet}}' (got {self.facet_error!r})")
        if not self.objective_mode:
            object.__setattr__(self, "objective_mode", self.mode)

    @property
    def facets_word(self) -> str:
        """The plural of ``facet_kind``: 'dimensions', 'classes', 'subjects'."""
        kind = self.facet_kind
        return kind + ("es" if kind.endswith(("s", "sh", "ch", "x")) else "s")

    def facet_key(self, facet: str, prefix: str = "") -> str:
        """The metric key of ``facet``'s error, e.g. ``valid/mae_raw_energy``."""
        name = self.facet_error.format(facet=facet)
        return f"{prefix}/{name}" if prefix else name

    def to_dict(self) -> dict:
        return {**asdict(self), "facets": list(self.facets)}

    @classmethod
    def from_dict(cls, record: dict) -> "TaskSpec":
        return cls(**{**record, "facets": tuple(record["facets"])})


class Task:
    """One structured-output task. Subclasses set the class attributes and implement the hooks.

    Rows are plain dicts in the task's canonical shape (``fields`` plus ``id``); user files
    reach that shape through ``data.columns`` (see :mod:`campaign.tasks.columns`).
    """

    spec: TaskSpec
    fields: tuple[str, ...] = ()  # Canonical fields a user row must carry.
    optional_fields: tuple[str, ...] = ()  # Canonical fields a user row may carry.
    prompt_styles: dict[str, str] = {}  # Named prompt templates; the first is the default.
    prompt_fields: tuple[str, ...] = ()  # Row fields every prompt template must name, e.g. ('request',).
    options: tuple[str, ...] = ()  # The ``task.<key>`` options this kind reads (``TASK_OPTION_KEYS``), e.g. ('labels',).
    facet_metrics: tuple[str, ...] = ()  # Per-facet metrics reported as '<name>_<facet>' (e.g. 'f1' -> 'f1_ALLOW').
    scoring: str = "generate"  # 'generate' (greedy outputs, parsed) or 'loglikelihood' (the likeliest of ``continuations``).
    loglikelihood_prompt: str | None = None  # The named prompt style loglikelihood scoring uses; None = the campaign's.
    headline_metrics: tuple[str, ...] = ()  # Scalar metrics an A/B comparison leads with (the primary when empty).

    def __init__(self, **options):
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ConfigError(f"task.{unknown[0]}: task {self.spec.kind!r} takes no option {unknown[0]!r}"
                              + (f" (its options: {', '.join(self.options)})" if self.options else ""))

    # ------------------------------------------------------------------ rows
    def validate(self, rows: Iterable[tuple[int, Any]], file: str) -> list[dict]:
        """``(row_number, raw_row)`` pairs -> canonical rows; raise DataValidationError naming file, row, field."""
        raise NotImplementedError

    def row_key(self, row: dict) -> str:
        """A stable key of the row's input, used for dedupe, the split and the eval-leak check."""
        raise NotImplementedError

    def quality_problem(self, row: dict, *, min_chars: int, max_chars: int) -> str | None:
        """Why a generated or user row is dropped by the quality filter (None keeps it): its row key's length."""
        key = self.row_key(row)
        if len(key) < min_chars:
            return "too_short"
        return "too_long" if len(key) > max_chars else None

    def features(self):
        """The ``datasets.Features`` of a canonical row (for Parquet versions)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ text
    def prompt(self, row: dict, template: str) -> str:
        """The prompt for ``row`` under ``template`` (one of ``prompt_styles`` or the user's)."""
        raise NotImplementedError

    def input_text(self, row: dict) -> str:
        """The row's input in words, as traces and reports show it (e.g. the request)."""
        raise NotImplementedError

    def target(self, row: dict) -> str:
        """The SFT completion the model learns for ``row``."""
        raise NotImplementedError

    def parse(self, output: str) -> tuple[Any | None, str | None]:
        """``(prediction, None)`` for a usable output, ``(None, reason)`` for an invalid one."""
        raise NotImplementedError

    # ------------------------------------------------------------------ scores
    def score(self, rows: Sequence[dict], outputs: Sequence[str]) -> dict[str, float]:
        """Every scalar metric of ``outputs`` on ``rows``: spec.valid_rate, spec.primary, spec.objective and
        one spec.facet_error per facet. Invalid outputs are counted, never dropped."""
        raise NotImplementedError

    invalid_error: float = 1.0  # A row's error when its output is invalid: counted in paired tests, never dropped.

    def row_errors(self, row: dict, output: str) -> dict:
        """One row's errors: ``{"error", "facets": {facet: error}, "invalid_reason"}`` (None where invalid)."""
        raise NotImplementedError

    def hard_cases(self, rows: Sequence[dict], outputs: Sequence[str], k: int) -> list[dict]:
        """The ``k`` worst rows with their outputs, invalid ones first."""
        raise NotImplementedError

    def tables(self, rows: Sequence[dict], outputs: Sequence[str]) -> dict[str, Any]:
        """Non-scalar results of ``outputs`` on ``rows``, each saved as ``<name>.json`` (e.g. a confusion matrix)."""
        return {}

    def continuations(self, row: dict) -> list[str]:
        """``scoring: loglikelihood``: the candidate completions of ``row``'s prompt; the likeliest is its output."""
        raise NotImplementedError(f"task {self.spec.kind!r} has no loglikelihood scoring")

    def replay_variant(self, row: dict, seed: int) -> dict | None:
        """A replayed row's variant added beside it (a question with its choices shuffled), or None."""
        return None

    def row_facets(self, row: dict) -> tuple[str, ...] | None:
        """The facets ``row`` belongs to (a classifier row: its gold class); None = every facet."""
        return None

    def baseline_outputs(self, train_rows: list[dict], eval_rows: list[dict]) -> dict[str, list[str]]:
        """Model-free baselines' outputs for ``eval_rows``, in row order: ``{name: outputs}``."""
        return {}

    def baselines(self, train_rows: list[dict], eval_rows: list[dict]) -> dict[str, dict]:
        """Model-free baselines scored on ``eval_rows`` through the model's own metrics: ``{name: metrics}``."""
        return {name: self.score(eval_rows, outputs)
                for name, outputs in self.baseline_outputs(train_rows, eval_rows).items()}

    @property
    def has_model_free_baseline(self) -> bool:
        """Whether the task overrides ``baseline_outputs`` (``cycles.hard_by: relative`` needs one)."""
        return type(self).baseline_outputs is not Task.baseline_outputs

    baseline_rank_text: str = "the training split's own order"  # How baseline_rank ranks, in words.

    def baseline_rank(self, train_rows: list[dict]) -> list[str]:
        """Training-row ids, hardest first, before any model exists (cycle 1's replay order)."""
        return [r["id"] for r in train_rows]

    # ------------------------------------------------------------------ the tiny local model
    def tiny_corpus(self, n: int, seed: int) -> list[str]:
        """Text the tiny local model's tokenizer is trained on (generated rows' prompts and targets)."""
        rows = self.generate(n, seed) if self.has_generator else []
        return [self.input_text(r) for r in rows] + [self.target(r) for r in rows[:100]]

    def tiny_tokens(self) -> list[str]:
        """Fixed pieces of every completion, each made one token of the tiny model (e.g. JSON keys)."""
        return []

    # ------------------------------------------------------------------ Hub cards
    def card(self) -> dict:
        """Words for the Hub cards: ``languages``, ``tags``, ``what`` (the data), ``adapter``, ``metric_note``, ``schema``."""
        return {"languages": [], "tags": [], "what": f"the {self.spec.kind} task", "adapter": f"does the "
                f"{self.spec.kind} task", "metric_note": "", "schema": "## Schema\n\nRows carry "
                + ", ".join(f"`{f}`" for f in self.fields) + "."}

    # ------------------------------------------------------------------ generation
    has_generator: bool = False

    def generate(self, n: int, seed: int, *, focus_facets: Sequence[str] = (), **options) -> list[dict]:
        """``n`` canonical rows that stress ``focus_facets`` (only where ``has_generator``)."""
        raise NotImplementedError(f"task {self.spec.kind!r} has no row generator")


# ---------------------------------------------------------------------- registry

_REGISTRY: dict[str, str | type[Task]] = {
    "hidden_params": "campaign.tasks.hidden_params:HiddenParamsTask",
    "classify": "campaign.tasks.classify:ClassifyTask",
    "mcq": "campaign.tasks.mcq:MCQTask",
}
_INSTANCES: dict[tuple, Task] = {}


def register(kind: str, task: str | type[Task]) -> None:
    """Register a task class, or its ``'module:Class'`` path (imported on first use)."""
    _REGISTRY[kind] = task
    for key in [k for k in _INSTANCES if k[0] == kind]:
        del _INSTANCES[key]


def known_kinds() -> list[str]:
    return sorted(_REGISTRY)


def resolve_prompt(task: Task, style: str | None, template: str | None) -> tuple[str, str]:
    """The prompt template trials use, and where it came from: your template, else the named style, else the first."""
    if template is not None:
        return template, "model.prompt_template"
    style = style or next(iter(task.prompt_styles))
    return task.prompt_styles[style], f"task.prompt_style {style!r} of task {task.spec.kind!r}"


def task_or_default(task: Task | None) -> Task:
    """``task``, or the default kind's task where a caller passes none (``task.kind``'s default)."""
    return task if task is not None else get_task(DEFAULT_KIND)


def _frozen(value):
    return tuple(value) if isinstance(value, list) else value


def get_task(kind: str, **options) -> Task:
    """The task registered as ``kind`` with ``options`` (None = the kind's default); one instance per both.

    An unknown kind names ``task.kind`` and the known ones; an option the kind does not take names its key.
    """
    if kind not in _REGISTRY:
        raise ConfigError(f"task.kind: unknown task {kind!r}; known kinds: {', '.join(known_kinds())}")
    options = {k: _frozen(v) for k, v in options.items() if v is not None}
    key = (kind, tuple(sorted(options.items())))
    if key not in _INSTANCES:
        entry = _REGISTRY[kind]
        if isinstance(entry, str):
            module, _, name = entry.partition(":")
            entry = getattr(importlib.import_module(module), name)
        _INSTANCES[key] = entry(**{k: v for k, v in options.items() if k not in _SHARED_OPTIONS or k in entry.options})
    return _INSTANCES[key]


def task_options(section: dict | None) -> dict:
    """The option keys (``TASK_OPTION_KEYS``) set in a config's ``task`` section, as a plain dict."""
    return {k: v for k, v in (section or {}).items() if k in TASK_OPTION_KEYS and v is not None}


def task_from_config(section: dict | None) -> Task:
    """The task a config's ``task`` section (a plain dict, as saved in state and worker configs) names."""
    section = section or {}
    return get_task(section.get("kind") or DEFAULT_KIND, **task_options(section))
