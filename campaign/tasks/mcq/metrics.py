"""Read an answer letter out of a model's output and score multiple-choice outputs, as pure functions.

The extraction rule :func:`extract_answer`, in the spirit of lm-evaluation-harness's
regex filters (a strict ``Answer: X`` match, then a flexible fallback). The output is
first NFKC-normalised (full-width ``Ｂ`` and ``：`` read as ``B`` and ``:``), then:

1. **The whole output is one letter**, in either case, optionally in parentheses and/or
   followed by ``.``, ``:`` or ``)`` (``"B"``, ``" b"``, ``"(c)"``, ``"D."``): that letter.
   This is what the direct prompt's completion looks like, and what loglikelihood
   scoring's chosen continuation (``" C"``) is.
2. **The last explicit answer**: the last ``Answer:`` (any case) followed by a letter,
   optionally in ``(``. An upper-case ``A``-``D`` counts whatever follows it
   (``Answer: B is right``); a lower-case ``a``-``d`` counts only when it stands bare,
   followed by the end of the line or by ``.,;:!)]`` (``Answer: b``), so the article in
   ``Answer: a fruit`` is not read as ``A``. A bare letter that is not a choice
   (``Answer: E``) makes the output **invalid** ("answer letter 'E' is not one of A–D"):
   the model committed to an answer outside the choices, and reading some other letter
   from its text instead would credit a guess it did not make. The last one wins because
   a chain of thought may mention other letters before concluding
   (``I think A... Answer: D`` is ``D``).
3. **Fallback, the first standalone upper-case letter** ``A``-``D``, one with no ASCII letter or
   digit on either side (``The answer is (B).``, ``A. apple``, ``答えはBです``). Lower-case
   letters never count here: ``a`` is an English word.

Otherwise the output is invalid: ``(None, "no answer letter")``.

Invalid outputs are counted, never dropped: they are wrong in ``accuracy`` (over all ``n``)
and in each subject's accuracy, and they have their own share ``pred_share_invalid``.
A subject with no rows in the scored set has accuracy and error NaN and support 0.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import Any, Sequence

__all__ = ["LETTERS", "INVALID_COLUMN", "NO_LETTER", "extract_answer", "predictions", "score", "row_errors",
           "hard_cases", "letter_table"]

LETTERS = ("A", "B", "C", "D")
INVALID_COLUMN = "(invalid)"
NO_LETTER = "no answer letter"
_WHOLE = re.compile(r"\s*\(?([A-Da-d])\)?[.:)]?\s*")
_EXPLICIT = re.compile(r"(?i:answer)\s*:\s*\(?([A-Za-z])(?![A-Za-z0-9])")
_BARE_AFTER = re.compile(r"[ \t]*(?:$|\n|[.,;:!)\]])")
_STANDALONE = re.compile(r"(?<![A-Za-z0-9])([A-D])(?![A-Za-z0-9])")


def _explicit(text: str) -> tuple[str | None, str | None] | None:
    """The verdict of the last ``Answer: X`` that counts (see the module docstring), or None where none does."""
    verdict = None
    for match in _EXPLICIT.finditer(text):
        letter = match.group(1)
        bare = _BARE_AFTER.match(text, match.end()) is not None
        if letter in LETTERS or (bare and letter.upper() in LETTERS):
            verdict = (letter.upper(), None)
        elif bare:
            verdict = (None, f"answer letter {letter!r} is not one of A–D")
    return verdict


def extract_answer(output: str) -> tuple[str | None, str | None]:
    """``(letter, None)`` for an output that names an answer letter, else ``(None, reason)``."""
    text = unicodedata.normalize("NFKC", output) if isinstance(output, str) else ""
    whole = _WHOLE.fullmatch(text)
    if whole:
        return whole.group(1).upper(), None
    verdict = _explicit(text)
    if verdict is not None:
        return verdict
    first = _STANDALONE.search(text)
    return (first.group(1), None) if first else (None, NO_LETTER)


def predictions(outputs: Sequence[str]) -> list[str | None]:
    """Each output's letter, or None where it names none."""
    return [extract_answer(o)[0] for o in outputs]


def _check(rows: Sequence[dict], outputs: Sequence[str], subjects: Sequence[str]) -> None:
    if len(rows) != len(outputs):
        raise ValueError(f"{len(rows)} rows but {len(outputs)} outputs")
    if not rows:
        raise ValueError("cannot score an empty set")
    stray = sorted({r["answer"] for r in rows if r["answer"] not in LETTERS})
    if stray:
        raise ValueError(f"gold answer(s) {stray} are not letters A–D")
    foreign = sorted({r["subject"] for r in rows if r["subject"] not in subjects})
    if foreign:
        raise ValueError(f"subject(s) {foreign} are not among the task's subjects {list(subjects)}")


def score(rows: Sequence[dict], outputs: Sequence[str], subjects: Sequence[str]) -> dict[str, float]:
    """Every scalar metric of ``outputs`` against the rows' gold letters (see the module docstring)."""
    _check(rows, outputs, subjects)
    pred = predictions(outputs)
    n = len(rows)
    right = [p == r["answer"] for p, r in zip(pred, rows)]
    out: dict[str, float] = {"n": n, "n_valid": sum(p is not None for p in pred)}
    out["valid_rate"] = out["n_valid"] / n
    out["accuracy"] = sum(right) / n
    out["objective"] = out["accuracy"]
    for s in subjects:
        mine = [ok for ok, r in zip(right, rows) if r["subject"] == s]
        acc = sum(mine) / len(mine) if mine else math.nan
        out[f"accuracy_{s}"], out[f"support_{s}"], out[f"error_{s}"] = acc, len(mine), 1.0 - acc
    predicted, gold = Counter(pred), Counter(r["answer"] for r in rows)
    for letter in LETTERS:
        out[f"pred_share_{letter}"] = predicted[letter] / n
    out["pred_share_invalid"] = predicted[None] / n
    for letter in LETTERS:
        out[f"gold_share_{letter}"] = gold[letter] / n
    return out


def row_errors(row: dict, output: str, subjects: Sequence[str]) -> dict[str, Any]:
    """One row's errors, for the gate's paired test.

    ``error`` is 1.0 for a wrong letter, 0.0 for the right one, None for an invalid output.
    ``facets[s]`` is 1.0 for the row's own subject when it is wrong or invalid, else 0.0 (and 0.0
    for every other subject): its mean over rows is subject ``s``'s misses over all rows.
    """
    pred, reason = extract_answer(output)
    miss = float(pred != row["answer"])
    return {"error": None if pred is None else miss,
            "facets": {s: miss if s == row["subject"] else 0.0 for s in subjects},
            "invalid_reason": reason, "prediction": pred}


def hard_cases(rows: Sequence[dict], outputs: Sequence[str], k: int, subjects: Sequence[str]) -> list[dict[str, Any]]:
    """The first ``k`` rows by badness: invalid outputs, then wrong letters, then right ones (each in row order)."""
    cases = []
    for row, output in zip(rows, outputs):
        err = row_errors(row, output, subjects)
        cases.append({"id": row["id"], "text": row["question"], "gold": row["answer"], "prediction": err["prediction"],
                      "output": output[:300], "error": err["error"], "invalid_reason": err["invalid_reason"],
                      "subject": row["subject"]})
    rank = {None: 0, 1.0: 1, 0.0: 2}
    return sorted(cases, key=lambda c: rank[c["error"]])[:k]


def letter_table(rows: Sequence[dict], outputs: Sequence[str]) -> dict[str, Any]:
    """Counts of gold letters and of predicted letters (with a column of invalid outputs)."""
    if len(rows) != len(outputs):
        raise ValueError(f"{len(rows)} rows but {len(outputs)} outputs")
    gold, predicted = Counter(r["answer"] for r in rows), Counter(predictions(outputs))
    return {"gold": {c: gold[c] for c in LETTERS},
            "predicted": {**{c: predicted[c] for c in LETTERS}, INVALID_COLUMN: predicted[None]}}
