"""Multiple-choice QA: a question with four lettered choices (EN/JA) -> the right choice's letter A-D.

Facets are the subjects (``task.subjects``; by default the question bank's ``food``,
``animals``, ``colors``, ``places``); a facet's error is ``error_<subject>`` (1 - that
subject's accuracy), the primary metric ``accuracy`` (maximized), the valid rate
``valid_rate``. Two prompt styles (``task.prompt_style``): ``direct`` learns the letter
alone, ``cot`` a short explanation ending in ``Answer: <letter>``. Two ways to score
(``task.scoring``): ``generate`` parses the greedy output with the extraction rule
(:func:`campaign.tasks.mcq.metrics.extract_answer`); ``loglikelihood``, as
lm-evaluation-harness's ``multiple_choice`` output type, compares the four
:meth:`MCQTask.continuations` (``" A"`` .. ``" D"``) after the **direct** prompt whatever
the prompt style, and the likeliest becomes the output text (``" C"``), so a
loglikelihood output is never invalid. The row generator exists only when the subjects
are among the bank's. Schema, metrics, baselines and bank are the modules beside this one.
"""
from __future__ import annotations

import random
from typing import Any, Iterable, Sequence

from campaign.core.errors import ConfigError
from campaign.tasks.base import Task, TaskSpec

__all__ = ["MCQTask", "DEFAULT_SUBJECTS", "SCORINGS", "COT_FALLBACK"]

DEFAULT_SUBJECTS = ("food", "animals", "colors", "places")  # the bank's (campaign.tasks.mcq.datagen.SUBJECTS)
SCORINGS = ("generate", "loglikelihood")
COT_FALLBACK = "The answer is the choice that fits."  # the cot target's reasoning where a row has no explanation
_LETTERS = ("A", "B", "C", "D")


def _spec(subjects: Sequence[str]) -> TaskSpec:
    return TaskSpec(kind="mcq", facets=tuple(subjects), facet_kind="subject", facet_error="error_{facet}",
                    primary="accuracy", mode="max", valid_rate="valid_rate", facet_support="support_{facet}")


def _check_subjects(subjects: Any) -> tuple[str, ...]:
    """The subjects as a tuple, or ConfigError naming ``task.subjects``."""
    if isinstance(subjects, str) or not isinstance(subjects, (list, tuple)):
        raise ConfigError(f"task.subjects: must be a list of subject names (got {subjects!r})")
    if not subjects:
        raise ConfigError(f"task.subjects: must list at least 1 subject (got {list(subjects)!r})")
    for s in subjects:
        if not isinstance(s, str) or not s.strip() or s != s.strip() or "\n" in s or "\r" in s:
            raise ConfigError(f"task.subjects: each subject must be a non-empty string without leading or trailing "
                              f"whitespace or a newline (got {s!r})")
    dupes = [s for i, s in enumerate(subjects) if s in subjects[:i]]
    if dupes:
        raise ConfigError(f"task.subjects: duplicate subject {dupes[0]!r}")
    return tuple(subjects)


class MCQTask(Task):
    """A question and four choices -> the right letter (``task.subjects``, ``task.scoring``, ``task.prompt_style``)."""

    options = ("subjects", "scoring", "prompt_style")
    fields = ("question", "choices", "answer")
    optional_fields = ("id", "subject", "lang", "source", "explanation", "a", "b", "c", "d")
    prompt_styles = {
        "direct": "Question: {question}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:",
        "cot": "Question: {question}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\n"
               "Think step by step, then end with 'Answer: <letter>'.\nReasoning:",
    }
    prompt_fields = ("question",)
    facet_metrics = ("accuracy", "support")
    headline_metrics = ("accuracy",)
    invalid_error = 1.0  # a wrong letter's error: an invalid output counts as a miss
    baseline_rank_text = "rows whose answer is not the majority training letter first"

    # The default subjects' spec, for the class itself; each instance builds its own from its subjects.
    spec = _spec(DEFAULT_SUBJECTS)

    def __init__(self, subjects: Sequence[str] | None = None, scoring: str | None = None,
                 prompt_style: str | None = None, **unknown):
        super().__init__(**unknown)  # only an unknown option reaches here: the base names its key
        self.scoring = "generate" if scoring is None else scoring
        if self.scoring not in SCORINGS:
            raise ConfigError(f"task.scoring: must be 'generate' or 'loglikelihood' (got {self.scoring!r})")
        self.prompt_style = next(iter(self.prompt_styles)) if prompt_style is None else prompt_style
        if self.prompt_style not in self.prompt_styles:
            raise ConfigError(f"task.prompt_style: task 'mcq' has the prompt styles {list(self.prompt_styles)} "
                              f"(got {self.prompt_style!r})")
        self.subjects = _check_subjects(DEFAULT_SUBJECTS if subjects is None else subjects)
        self.spec = _spec(self.subjects)
        self.has_generator = set(self.subjects) <= set(DEFAULT_SUBJECTS)

    # ------------------------------------------------------------------ rows
    def validate(self, rows: Iterable[tuple[int, Any]], file: str) -> list[dict]:
        from campaign.tasks.mcq.schema import validate_rows

        return validate_rows(rows, file, self.subjects)

    def row_key(self, row: dict) -> str:
        """The question and its choices as a set (reordered choices are the same question)."""
        from campaign.tasks.mcq.schema import row_key

        return row_key(row)

    def quality_problem(self, row: dict, *, min_chars: int, max_chars: int) -> str | None:
        """The question's length decides (``data.min_chars`` / ``data.max_chars``), not the row key's: with the
        choices in it, a 200-character limit would drop most MMLU-style rows."""
        from campaign.core.text import normalize_request

        size = len(normalize_request(row["question"]))
        return "too_short" if size < min_chars else "too_long" if size > max_chars else None

    def features(self):
        from campaign.tasks.mcq.schema import features

        return features()

    # ------------------------------------------------------------------ text
    def prompt(self, row: dict, template: str) -> str:
        a, b, c, d = row["choices"]
        return template.format(question=row["question"], a=a, b=b, c=c, d=d, subject=row.get("subject", ""))

    def input_text(self, row: dict) -> str:
        return "\n".join([row["question"], *(f"{x}. {c}" for x, c in zip(_LETTERS, row["choices"]))])

    def target(self, row: dict) -> str:
        """``direct``: the letter (the trainer puts a space before it); ``cot``: the explanation, then ``Answer: X``."""
        if self.prompt_style == "direct":
            return row["answer"]
        return f"{row.get('explanation') or COT_FALLBACK} Answer: {row['answer']}"

    def parse(self, output: str) -> tuple[str | None, str | None]:
        from campaign.tasks.mcq.metrics import extract_answer

        return extract_answer(output)

    def continuations(self, row: dict) -> list[str]:
        """The four answer letters as completions of the **direct** prompt (lm-eval ``multiple_choice``)."""
        return [" " + x for x in _LETTERS[:len(row["choices"])]]

    # ------------------------------------------------------------------ scores
    def score(self, rows: Sequence[dict], outputs: Sequence[str]) -> dict[str, float]:
        from campaign.tasks.mcq.metrics import score

        return score(rows, outputs, self.subjects)

    def row_errors(self, row: dict, output: str) -> dict:
        from campaign.tasks.mcq.metrics import row_errors

        return row_errors(row, output, self.subjects)

    def hard_cases(self, rows: Sequence[dict], outputs: Sequence[str], k: int) -> list[dict]:
        from campaign.tasks.mcq.metrics import hard_cases

        return hard_cases(rows, outputs, k, self.subjects)

    def tables(self, rows: Sequence[dict], outputs: Sequence[str]) -> dict[str, Any]:
        from campaign.tasks.mcq.metrics import letter_table

        return {"letters": letter_table(rows, outputs)}

    def row_facets(self, row: dict) -> tuple[str, ...]:
        return (row["subject"],)

    def replay_variant(self, row: dict, seed: int) -> dict:
        """The same question with its choices shuffled by ``random.Random(seed)``; the answer letter always moves."""
        order = list(range(len(row["choices"])))
        random.Random(seed).shuffle(order)
        old = _LETTERS.index(row["answer"])
        if order.index(old) == old:  # the shuffle left the answer in place: rotate once more
            order = order[1:] + order[:1]
        return {**row, "id": f"{row['id']}-s{seed}", "choices": [row["choices"][i] for i in order],
                "answer": _LETTERS[order.index(old)], "source": "replay_shuffled"}

    # ------------------------------------------------------------------ baselines
    def baseline_outputs(self, train_rows: list[dict], eval_rows: list[dict]) -> dict[str, list[str]]:
        from campaign.tasks.mcq.baselines import majority_letter, random_baseline

        return {"random_baseline": random_baseline(eval_rows),
                "majority_letter_baseline": [majority_letter(train_rows)] * len(eval_rows)}

    def baselines(self, train_rows: list[dict], eval_rows: list[dict]) -> dict[str, dict]:
        """The base's scores, plus the random baseline's exact ``expected_accuracy`` (0.25 with 4 choices)."""
        from campaign.tasks.mcq.baselines import expected_random_accuracy

        out = super().baselines(train_rows, eval_rows)
        out["random_baseline"]["expected_accuracy"] = expected_random_accuracy(eval_rows)
        return out

    def baseline_rank(self, train_rows: list[dict]) -> list[str]:
        """Training ids, rows whose answer is not the majority letter first, each part by id."""
        from campaign.tasks.mcq.baselines import majority_letter

        majority = majority_letter(train_rows) if train_rows else None
        right = {r["id"]: r["answer"] == majority for r in train_rows}
        return sorted(right, key=lambda i: (right[i], i))

    # ------------------------------------------------------------------ the tiny local model
    def tiny_corpus(self, n: int, seed: int) -> list[str]:
        """Direct prompts of ``n`` bank rows over all the bank's subjects, and cot targets of the first 100.

        It does not depend on ``task.subjects`` or the prompt style: the tiny model's cache key holds neither.
        """
        from campaign.tasks.mcq.datagen import generate

        rows = generate(n, seed)
        direct = self.prompt_styles["direct"]
        return [self.prompt(r, direct) for r in rows] + [f"{r['explanation']} Answer: {r['answer']}" for r in rows[:100]]

    def tiny_tokens(self) -> list[str]:
        """Pieces made one token each: the completions ``" A"``.. and the prompt's ``"\\nA."``.., ``"\\nAnswer:"``.

        Added tokens are matched in the raw text before BPE, so each piece is one that occurs verbatim:
        ``"\\nA."`` without its trailing space leaves ``" apple"`` to BPE as it was trained; the direct
        prompt ends in ``"\\nAnswer:"``, a cot target holds ``" Answer:"``.
        """
        return [" A", " B", " C", " D", "\nA.", "\nB.", "\nC.", "\nD.", "\nAnswer:", " Answer:"]

    # ------------------------------------------------------------------ cards and generation
    def card(self) -> dict:
        from campaign.tasks.mcq.card import card

        return card(self.subjects, self.prompt_style, self.scoring)

    def generate(self, n: int, seed: int, *, focus_facets: Sequence[str] = (), ja_share: float = 0.5,
                 source: str = "generated", id_prefix: str = "") -> list[dict]:
        if not self.has_generator:
            raise NotImplementedError(f"task 'mcq' generates questions only for the bank's subjects "
                                      f"({', '.join(DEFAULT_SUBJECTS)}); task.subjects is {list(self.subjects)}")
        from campaign.tasks.mcq.datagen import generate

        return generate(n, seed, subjects=self.subjects, focus_facets=focus_facets, ja_share=ja_share, source=source,
                        id_prefix=id_prefix)
