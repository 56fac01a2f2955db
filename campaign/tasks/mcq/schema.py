"""The row schema of the multiple-choice task, answer normalisation, and row validation.

A canonical row is ``{"id", "question", "choices", "answer", "subject", "lang", "source",
"explanation"}``: ``choices`` a list of 4 strings, ``answer`` one letter ``A``-``D``.

Accepted shapes of a user row (every problem of a file is reported at once, each with
file, 1-based row and field):

- ``question``: required, a non-empty string.
- The choices, either as ``choices``, a list of exactly 4 non-empty strings, or as four
  keys ``a``, ``b``, ``c``, ``d`` (or ``A``-``D``) holding the strings, with no ``choices``
  key. Other column names map onto ``a``-``d`` (or ``choices``) through ``data.columns``,
  e.g. ``{a: option1, b: option2, c: option3, d: option4}``. Two choices equal after
  stripping surrounding whitespace are a duplicate; choices are stored as written.
- ``answer``, one of:

  * a letter ``A``-``D`` in either case (``"c"`` is stored as ``"C"``); no surrounding
    whitespace, no ``"(C)"``;
  * an integer index 0-3, **0-based** like MMLU's ``answer`` column (0 is ``A``); a
    boolean is rejected, and so is a string of digits (``"2"`` is read as a choice's text);
  * the text of one choice, matched **exactly against the whole string** (case and
    surrounding whitespace count; a near miss gets a did-you-mean hint).

  A one-letter answer is read as a letter; if it is also the text of a *different* choice
  (choices ``["B", "A", ...]``, answer ``"A"``) it is rejected as ambiguous.
- ``subject``: one of ``task.subjects``. When absent it defaults to ``"general"`` if
  ``"general"`` is among the subjects, else the row is rejected naming the allowed ones.
- ``id`` (default: a stable hash of the question and choices), ``lang`` (any non-empty
  string; default ``ja`` or ``en`` detected from the question), ``source`` (default
  ``user``) and ``explanation`` (default ``""``, the reasoning the ``cot`` prompt style
  learns) are optional strings. Any other key is an error.

Pure Python: no Ray, no torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

from campaign.tasks.rows import Problem, check_keys, detect_lang, row_id, validate_all

__all__ = ["LETTERS", "CANONICAL", "REQUIRED_KEYS", "OPTIONAL_KEYS", "CHOICE_KEYS", "features", "row_key",
           "normalize_answer", "validate_rows"]

LETTERS = ("A", "B", "C", "D")
CANONICAL = ("id", "question", "choices", "answer", "subject", "lang", "source", "explanation")
REQUIRED_KEYS = ("question", "answer")
CHOICE_KEYS = ("a", "b", "c", "d")
OPTIONAL_KEYS = ("choices", *CHOICE_KEYS, *LETTERS, "id", "subject", "lang", "source", "explanation")
DEFAULT_SUBJECT = "general"


def features():
    """The ``datasets.Features`` of a row (imported lazily: datasets is heavy)."""
    from datasets import Features, Value
    from datasets import Sequence as ListOf

    return Features({k: ListOf(Value("string")) if k == "choices" else Value("string") for k in CANONICAL})


def row_key(row: dict) -> str:
    """The question and its choices as a set: the same question with its choices reordered is the same row."""
    from campaign.core.text import normalize_request

    return " || ".join([normalize_request(row["question"]), *sorted(normalize_request(c) for c in row["choices"])])


def _bad(value: Any) -> str:
    shown = "null" if value is None else repr(value)
    return f"answer {shown} is not a letter A–D, an index 0–3 or the text of a choice"


def _text_answer(value: str, choices: Sequence[str]) -> tuple[str | None, str | None]:
    if value in choices:
        return LETTERS[list(choices).index(value)], None
    near = [i for i, c in enumerate(choices) if c.strip().casefold() == value.strip().casefold()]
    hint = f"; did you mean {choices[near[0]]!r} (choice {LETTERS[near[0]]})?" if near else ""
    return None, _bad(value) + hint


def normalize_answer(value: Any, choices: Sequence[str] | None) -> tuple[str | None, str | None]:
    """``(letter, None)`` for an accepted answer, else ``(None, reason)``; ``(None, None)`` when it cannot be
    checked because the choices are broken (their own problem is reported)."""
    if isinstance(value, bool):
        return None, f"answer {value!r} is a boolean; expected a letter A–D, an index 0–3 or the text of a choice"
    if isinstance(value, int):
        return (LETTERS[value], None) if 0 <= value < len(LETTERS) else (None, _bad(value))
    if not isinstance(value, str):
        return None, _bad(value)
    if len(value) == 1 and value.upper() in LETTERS:
        letter = value.upper()
        clash = [i for i, c in enumerate(choices or ()) if c == value and LETTERS[i] != letter]
        if clash:
            return None, (f"answer {value!r} is ambiguous: the letter {letter} names choice {letter}, but {value!r} is "
                          f"also the text of choice {LETTERS[clash[0]]}; give the index (0-based) instead")
        return letter, None
    if choices is None:
        return None, None
    return _text_answer(value, choices)


def _list_choices(raw: dict, file: str, row: int, problems: list[Problem]) -> list[tuple[str, Any]] | None:
    value = raw["choices"]
    if not isinstance(value, list):
        got = "null" if value is None else type(value).__name__
        problems.append(Problem(file, row, "choices", f"must be a list of 4 strings, got {got}"))
        return None
    if len(value) != len(LETTERS):
        problems.append(Problem(file, row, "choices", f"expected 4 choices, got {len(value)}"))
        return None
    return [(f"choices[{i}]", v) for i, v in enumerate(value)]


def _keyed_choices(raw: dict, file: str, row: int, problems: list[Problem]) -> list[tuple[str, Any]] | None:
    found, missing = [], []
    for low, up in zip(CHOICE_KEYS, LETTERS):
        keys = [k for k in (low, up) if k in raw]
        if len(keys) == 2:
            problems.append(Problem(file, row, up, f"choice {up} given both as {low!r} and as {up!r}"))
            return None
        (found if keys else missing).append(keys[0] if keys else low)
    if not found:
        problems.append(Problem(file, row, "choices", "missing required key: give 'choices' (a list of 4 strings) "
                                                      "or the four keys a, b, c, d"))
        return None
    if missing:
        problems.append(Problem(file, row, missing[0], f"missing: choices given as keys need all of a, b, c, d "
                                                       f"(expected 4 choices, got {len(found)})"))
        return None
    return [(k, raw[k]) for k in found]


def _choices(raw: dict, file: str, row: int, problems: list[Problem]) -> list[str] | None:
    """The row's 4 choices, or None after appending each problem (wrong count, empty, duplicate, both shapes)."""
    keyed = [k for k in (*CHOICE_KEYS, *LETTERS) if k in raw]
    if "choices" in raw and keyed:
        problems.append(Problem(file, row, "choices", f"give the choices either as 'choices' or as the keys a–d, "
                                                      f"not both (found {', '.join(keyed)})"))
        return None
    named = _list_choices(raw, file, row, problems) if "choices" in raw else _keyed_choices(raw, file, row, problems)
    if named is None:
        return None
    start = len(problems)
    for name, value in named:
        if not isinstance(value, str):
            got = "null" if value is None else type(value).__name__
            problems.append(Problem(file, row, name, f"must be a non-empty string, got {got}"))
        elif not value.strip():
            problems.append(Problem(file, row, name, "empty choice"))
    first: dict[str, str] = {}
    for name, value in named:
        if isinstance(value, str) and value.strip():
            if value.strip() in first:
                problems.append(Problem(file, row, "choices", f"duplicate choice {value.strip()!r} "
                                                              f"({first[value.strip()]} and {name})"))
            first.setdefault(value.strip(), name)
    return None if len(problems) > start else [v for _, v in named]


def _subject(raw: dict, file: str, row: int, problems: list[Problem], subjects: Sequence[str]) -> str | None:
    allowed = ", ".join(subjects)
    value = raw.get("subject")
    if value is None:
        if DEFAULT_SUBJECT in subjects:
            return DEFAULT_SUBJECT
        problems.append(Problem(file, row, "subject", f"missing: a row must name its subject, one of {allowed} "
                                                      f"(rows without one need {DEFAULT_SUBJECT!r} among task.subjects)"))
    elif not isinstance(value, str):
        problems.append(Problem(file, row, "subject", f"must be a string naming one of {allowed}, "
                                                      f"got {type(value).__name__}"))
    elif value not in subjects:
        problems.append(Problem(file, row, "subject", f"{value!r} is not a subject; allowed: {allowed}"))
    else:
        return value
    return None


def _check_strings(raw: dict, file: str, row: int, problems: list[Problem]) -> None:
    question = raw.get("question")
    if "question" in raw and (not isinstance(question, str) or not question.strip()):
        got = "" if isinstance(question, str) else f", got {'null' if question is None else type(question).__name__}"
        problems.append(Problem(file, row, "question", f"must be a non-empty string{got}"))
    for key in ("id", "lang", "source", "explanation"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            problems.append(Problem(file, row, key, f"must be a string, got {type(raw[key]).__name__}"))
    if isinstance(raw.get("lang"), str) and not raw["lang"].strip():
        problems.append(Problem(file, row, "lang", "must be a non-empty string (e.g. en, ja)"))


def _validate_row(raw: Any, file: str, row: int, problems: list[Problem], subjects: Sequence[str]) -> dict | None:
    start = len(problems)
    if not check_keys(raw, file, row, problems, REQUIRED_KEYS, OPTIONAL_KEYS):
        return None
    _check_strings(raw, file, row, problems)
    choices = _choices(raw, file, row, problems)
    answer = None
    if "answer" in raw:
        answer, reason = normalize_answer(raw["answer"], choices)
        if reason:
            problems.append(Problem(file, row, "answer", reason))
    subject = _subject(raw, file, row, problems, subjects)
    if len(problems) > start:
        return None
    question = raw["question"]
    return {"id": raw.get("id") or row_id(question + "\n" + "\n".join(choices)), "question": question,
            "choices": list(choices), "answer": answer, "subject": subject,
            "lang": raw.get("lang") or detect_lang(question), "source": raw.get("source") or "user",
            "explanation": raw.get("explanation") or ""}


def validate_rows(rows: Iterable[tuple[int, Any]], file: str | Path, subjects: Sequence[str]) -> list[dict]:
    """Validate ``(row_number, raw_row)`` pairs; return canonical rows or raise with every problem."""
    file = str(file)
    return validate_all(rows, file, lambda raw, f, row, problems: _validate_row(raw, f, row, problems, subjects))
