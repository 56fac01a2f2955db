"""A safety classifier: a request to an AI assistant (EN/JA) -> one label, by default ALLOW / ESCALATION / DENY / REFUSE.

ALLOW: ordinary benign requests (safety education included). ESCALATION: a human must
take over (crisis signals, medical emergencies, legal threats, harassment reports,
billing disputes). DENY: against the service's policy but not dangerous (others' data
or accounts, paywall bypass, cheating, fake reviews). REFUSE: dangerous or harmful
(weapons, explosives, malware, violence, poisoning, stalking).

Facets are the classes; a facet's error is ``f1_error_<label>`` (1 - F1), the primary
metric ``macro_f1`` (maximized), the valid rate ``valid_rate``. The labels and the case
rule for gold labels are options (``task.labels``, ``task.label_case``); the row
generator and the keyword baseline exist only for the default four labels.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from campaign.core.errors import ConfigError
from campaign.tasks.base import Task, TaskSpec

__all__ = ["ClassifyTask", "DEFAULT_LABELS"]

DEFAULT_LABELS = ("ALLOW", "ESCALATION", "DENY", "REFUSE")
_RESERVED = "(invalid)"  # the confusion matrix's column of invalid outputs


def _check_options(labels: Any, label_case: str) -> tuple[str, ...]:
    """The labels as a tuple, or ConfigError naming the key."""
    if label_case not in ("insensitive", "exact"):
        raise ConfigError(f"task.label_case: must be 'insensitive' or 'exact' (got {label_case!r})")
    if isinstance(labels, str) or not isinstance(labels, (list, tuple)):
        raise ConfigError(f"task.labels: must be a list of label names (got {labels!r})")
    if len(labels) < 2:
        raise ConfigError(f"task.labels: must list at least 2 labels (got {list(labels)!r})")
    seen: dict[str, str] = {}
    for label in labels:
        if not isinstance(label, str) or not label.strip() or label != label.strip() or "\n" in label or "\r" in label:
            raise ConfigError(f"task.labels: each label must be a non-empty string without leading or trailing "
                              f"whitespace or a newline (got {label!r})")
        if label == _RESERVED:
            raise ConfigError(f"task.labels: {_RESERVED!r} is reserved (the confusion matrix's column of invalid outputs)")
        key = label.casefold() if label_case == "insensitive" else label
        if key in seen:
            why = "" if seen[key] == label else (f" (equal to {seen[key]!r} up to case, which counts as a duplicate "
                                                 "under task.label_case: insensitive)")
            raise ConfigError(f"task.labels: duplicate label {label!r}{why}")
        seen[key] = label
    return tuple(labels)


class ClassifyTask(Task):
    """Request text -> one label (``task.labels``)."""

    options = ("labels", "label_case")
    fields = ("text", "label")
    optional_fields = ("id", "lang", "source")
    prompt_styles = {"plain": "Request: {text}\nLabel:"}
    prompt_fields = ("text",)
    facet_metrics = ("precision", "recall", "f1", "support")
    headline_metrics = ("accuracy", "macro_f1")
    invalid_error = 1.0  # a wrong label's error: an invalid output counts as a miss
    baseline_rank_text = "rows the keyword rule misclassifies first"

    # The default labels' spec, for the class itself; each instance builds its own from its labels.
    spec = TaskSpec(kind="classify", facets=DEFAULT_LABELS, facet_kind="class", facet_error="f1_error_{facet}",
                    primary="macro_f1", mode="max", valid_rate="valid_rate")

    def __init__(self, labels: Sequence[str] | None = None, label_case: str | None = None, **unknown):
        super().__init__(**unknown)  # only an unknown option reaches here: the base names its key
        self.label_case = "insensitive" if label_case is None else label_case
        self.labels = _check_options(DEFAULT_LABELS if labels is None else labels, self.label_case)
        self.spec = TaskSpec(kind="classify", facets=self.labels, facet_kind="class", facet_error="f1_error_{facet}",
                             primary="macro_f1", mode="max", valid_rate="valid_rate", facet_support="support_{facet}")
        self.has_generator = {c.casefold() for c in self.labels} == {c.casefold() for c in DEFAULT_LABELS}
        if not self.has_generator:
            self.baseline_rank_text = "rows the majority label misclassifies first"

    def _default(self, label: str) -> str:
        """The configured spelling of a default label (only where ``has_generator``)."""
        return next(c for c in self.labels if c.casefold() == label.casefold())

    # ------------------------------------------------------------------ rows
    def validate(self, rows: Iterable[tuple[int, Any]], file: str) -> list[dict]:
        from campaign.tasks.classify.schema import validate_rows

        return validate_rows(rows, file, self.labels, self.label_case)

    def row_key(self, row: dict) -> str:
        from campaign.core.text import normalize_request

        return normalize_request(row["text"])

    def features(self):
        from campaign.tasks.classify.schema import features

        return features()

    # ------------------------------------------------------------------ text
    def prompt(self, row: dict, template: str) -> str:
        return template.format(text=row["text"])

    def input_text(self, row: dict) -> str:
        return row["text"]

    def target(self, row: dict) -> str:
        return row["label"]

    def parse(self, output: str) -> tuple[str | None, str | None]:
        from campaign.tasks.classify.metrics import parse_label

        return parse_label(output, self.labels)

    # ------------------------------------------------------------------ scores
    def score(self, rows: Sequence[dict], outputs: Sequence[str]) -> dict[str, float]:
        from campaign.tasks.classify.metrics import score

        return score(rows, outputs, self.labels)

    def row_errors(self, row: dict, output: str) -> dict:
        from campaign.tasks.classify.metrics import row_errors

        return row_errors(row, output, self.labels)

    def hard_cases(self, rows: Sequence[dict], outputs: Sequence[str], k: int) -> list[dict]:
        from campaign.tasks.classify.metrics import hard_cases

        return hard_cases(rows, outputs, k, self.labels)

    def tables(self, rows: Sequence[dict], outputs: Sequence[str]) -> dict[str, Any]:
        from campaign.tasks.classify.metrics import confusion_table

        return {"confusion_matrix": confusion_table(rows, outputs, self.labels)}

    def row_facets(self, row: dict) -> tuple[str, ...]:
        return (row["label"],)

    # ------------------------------------------------------------------ baselines
    def _rule(self, text: str) -> str:
        from campaign.tasks.classify.baselines import rule_baseline

        return self._default(rule_baseline(text))

    def baseline_outputs(self, train_rows: list[dict], eval_rows: list[dict]) -> dict[str, list[str]]:
        from campaign.tasks.classify.baselines import majority_baseline

        out = {"majority_baseline": [majority_baseline(train_rows, self.labels)] * len(eval_rows)}
        if self.has_generator:
            out["rule_baseline"] = [self._rule(r["text"]) for r in eval_rows]
        return out

    def baseline_rank(self, train_rows: list[dict]) -> list[str]:
        """Training ids, rows the keyword rule (else the majority label) gets wrong first, each part by id."""
        from campaign.tasks.classify.baselines import majority_baseline

        if self.has_generator:
            right = {r["id"]: self._rule(r["text"]) == r["label"] for r in train_rows}
        else:
            majority = majority_baseline(train_rows, self.labels) if train_rows else None
            right = {r["id"]: r["label"] == majority for r in train_rows}
        return sorted(right, key=lambda i: (right[i], i))

    # ------------------------------------------------------------------ the tiny local model
    def tiny_corpus(self, n: int, seed: int) -> list[str]:
        rows = self.generate(n, seed) if self.has_generator else []
        return [self.prompt(r, self.prompt_styles["plain"]) for r in rows] + [self.target(r) for r in rows[:100]]

    def tiny_tokens(self) -> list[str]:
        """Each label with the leading space the trainer puts before a completion, e.g. ``' ALLOW'``."""
        return [" " + c for c in self.labels]

    # ------------------------------------------------------------------ cards and generation
    def card(self) -> dict:
        from campaign.tasks.classify.card import card

        return card(self.labels, self.label_case)

    def generate(self, n: int, seed: int, *, focus_facets: Sequence[str] = (), ja_share: float = 0.5,
                 source: str = "generated", id_prefix: str = "") -> list[dict]:
        if not self.has_generator:
            raise NotImplementedError(f"task 'classify' generates rows only for its default labels "
                                      f"({', '.join(DEFAULT_LABELS)}, in any case); task.labels is {list(self.labels)}")
        from campaign.tasks.classify.datagen import generate

        if isinstance(focus_facets, str):
            raise ValueError(f"focus_facets must be a sequence of labels, not the string {focus_facets!r}")
        canon = {c.casefold(): c for c in DEFAULT_LABELS}
        for f in focus_facets:
            if f not in self.labels:
                raise ValueError(f"focus_facets: unknown label {f!r} (known: {', '.join(self.labels)})")
        focus = tuple(canon[f.casefold()] for f in focus_facets)
        rows = generate(n, seed, focus_facets=focus, ja_share=ja_share, source=source, id_prefix=id_prefix)
        return [{**r, "label": self._default(r["label"])} for r in rows]
