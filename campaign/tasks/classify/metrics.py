"""Parse classifier outputs and score them with scikit-learn, as pure functions.

Parsing: the first line of the output, stripped of surrounding whitespace and trailing
punctuation (``.,:;!``), must name a label; failing that, its first whitespace-separated
token may. Model outputs are matched case-insensitively whatever ``task.label_case``
says (that option governs gold labels in user files only): a model that answers
``deny`` has made its choice. Where labels differ only by case (possible under
``label_case: exact``) an output must match one exactly.

Invalid outputs are counted, never dropped: they are wrong in ``accuracy``, and in
the per-class metrics they take the value of a sentinel outside the labels, so they
lower the gold class's recall and are nobody's false positive.

Zero-division rule: a class with no predictions has precision 0.0 (scikit-learn's
``zero_division=0.0``), one with no support has recall 0.0. A label with neither
support nor (valid) predictions in the scored set has precision, recall, F1 and
F1 error NaN and is left out of ``macro_f1``: macro F1 averages over the labels that
occur in gold or in valid predictions, so it equals scikit-learn's
``f1_score(y_true, y_pred, labels=<those labels>, average="macro", zero_division=0.0)``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

__all__ = ["INVALID", "INVALID_COLUMN", "parse_label", "predictions", "score", "row_errors", "hard_cases",
           "confusion_table"]

# Labels never hold a newline (the task's options reject one), so this never equals a label.
INVALID = "\n(invalid)"
INVALID_COLUMN = "(invalid)"
_TRAILING = ".,:;!"
_SHOWN = 40  # characters of a bad output quoted in its invalid reason


def _match(labels: Sequence[str], word: str) -> str | None:
    if word in labels:
        return word
    hits = [label for label in labels if label.casefold() == word.casefold()]
    return hits[0] if len(hits) == 1 else None


def parse_label(output: str, labels: Sequence[str]) -> tuple[str | None, str | None]:
    """``(label, None)`` for an output naming a label, else ``(None, reason)``."""
    text = output.strip() if isinstance(output, str) else ""
    if not text:
        return None, "empty output"
    line = text.splitlines()[0].strip().rstrip(_TRAILING).strip()
    label = _match(labels, line)
    if label is None and line.split():
        label = _match(labels, line.split()[0].rstrip(_TRAILING))
    if label is not None:
        return label, None
    shown = line if len(line) <= _SHOWN else line[:_SHOWN] + "…"
    return None, f"{shown!r} is not a label"


def predictions(outputs: Sequence[str], labels: Sequence[str]) -> list[str]:
    """Each output's label, or :data:`INVALID` where it names none."""
    return [parse_label(o, labels)[0] or INVALID for o in outputs]


def _gold(rows: Sequence[dict], outputs: Sequence[str], labels: Sequence[str]) -> list[str]:
    if len(rows) != len(outputs):
        raise ValueError(f"{len(rows)} rows but {len(outputs)} outputs")
    if not rows:
        raise ValueError("cannot score an empty set")
    gold = [r["label"] for r in rows]
    stray = sorted({g for g in gold if g not in labels})
    if stray:
        raise ValueError(f"gold label(s) {stray} are not among the task's labels {list(labels)}")
    return gold


def score(rows: Sequence[dict], outputs: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Every scalar metric of ``outputs`` against the rows' gold labels (see the module docstring)."""
    from sklearn.metrics import precision_recall_fscore_support

    gold = _gold(rows, outputs, labels)
    pred = predictions(outputs, labels)
    n, n_valid = len(gold), sum(p != INVALID for p in pred)
    prec, rec, f1, support = precision_recall_fscore_support(gold, pred, labels=list(labels), zero_division=0.0)
    out: dict[str, float] = {"n": n, "n_valid": n_valid, "valid_rate": n_valid / n,
                             "accuracy": sum(g == p for g, p in zip(gold, pred)) / n}
    present = set(gold) | set(pred)
    f1s = []
    for i, c in enumerate(labels):
        seen = c in present
        out[f"precision_{c}"] = float(prec[i]) if seen else math.nan
        out[f"recall_{c}"] = float(rec[i]) if seen else math.nan
        out[f"f1_{c}"] = float(f1[i]) if seen else math.nan
        out[f"support_{c}"] = int(support[i])
        out[f"f1_error_{c}"] = 1.0 - float(f1[i]) if seen else math.nan
        if seen:
            f1s.append(float(f1[i]))
    out["macro_f1"] = sum(f1s) / len(f1s)
    out["objective"] = out["macro_f1"]
    return out


def row_errors(row: dict, output: str, labels: Sequence[str]) -> dict[str, Any]:
    """One row's errors, for the gate's paired test.

    ``error`` is 1.0 for a wrong label, 0.0 for the right one, None for an invalid output.
    ``facets[c]`` is 1.0 when the row is a miss of ``c`` (gold ``c``, prediction not ``c``,
    invalid included) or a false alarm of ``c`` (prediction ``c``, gold not ``c``), else 0.0.
    Its mean over rows is ``(FN_c + FP_c) / n``: the per-row count behind ``1 - F1_c``
    (``1 - F1 = (FN + FP) / (2 TP + FN + FP)``), so paired tests on it move with F1.
    """
    pred, reason = parse_label(output, labels)
    gold = row["label"]
    facets = {c: float((gold == c) != (pred == c)) for c in labels}
    return {"error": None if pred is None else float(pred != gold), "facets": facets, "invalid_reason": reason,
            "prediction": pred}


def hard_cases(rows: Sequence[dict], outputs: Sequence[str], k: int, labels: Sequence[str]) -> list[dict[str, Any]]:
    """The first ``k`` rows by badness: invalid outputs, then misclassified rows, then correct ones (each in row order)."""
    cases = []
    for row, output in zip(rows, outputs):
        err = row_errors(row, output, labels)
        cases.append({"id": row["id"], "text": row["text"], "gold": row["label"], "prediction": err["prediction"],
                      "output": output[:300], "error": err["error"], "invalid_reason": err["invalid_reason"]})
    rank = {None: 0, 1.0: 1, 0.0: 2}
    return sorted(cases, key=lambda c: rank[c["error"]])[:k]


def confusion_table(rows: Sequence[dict], outputs: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Counts of gold (rows) against predicted labels (columns); the last column counts invalid outputs."""
    from sklearn.metrics import confusion_matrix

    gold = _gold(rows, outputs, labels)
    matrix = confusion_matrix(gold, predictions(outputs, labels), labels=[*labels, INVALID])
    return {"labels": list(labels), "columns": [*labels, INVALID_COLUMN],
            "matrix": [[int(v) for v in line] for line in matrix[: len(labels)]]}
