"""The A/B comparison of two models' outputs on hand-built rows: numbers by hand, the record, the page.

A small classifier task (labels X/Y/Z) is defined here through the Task interface only, with 40 rows
whose right/wrong pattern is chosen so every count is known:

- A is right on rows 0–23 (row 30 is an invalid output), wrong on 24–39;
- B is right on rows 0–19 and 24–37, wrong on 20–23, 38 and 39;
- both right 20, only A right 4, only B right 14, both wrong 2 (discordant 18);
- the predictions differ on rows 20–37 and 39 (on 38 both say the same wrong label).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import f1_score

from campaign.decide.paired import bootstrap_difference, compare
from campaign.reporting.ab import INVALID, RECORD_KEYS, compare_models, write_ab
from campaign.reporting.ab_html import MAX_DISAGREEMENTS, render_ab_html
from campaign.tasks.base import Task, TaskSpec

LABELS = ("X", "Y", "Z")
HTML_TEXT = "ship it? <b>& then</b> \"quoted\""
JAPANESE_TEXT = "雨の日曜の朝に聴く、懐かしい曲"
RESAMPLES = 400


class FakeClassifier(Task):
    """A 3-class classifier: the output is the label itself; anything else is invalid."""

    spec = TaskSpec(kind="fake_classifier", facets=LABELS, facet_kind="class", facet_error="error_{facet}",
                    primary="macro_f1", mode="max", valid_rate="valid_rate")
    facet_metrics = ("precision", "recall", "f1", "support")
    headline_metrics = ("accuracy", "macro_f1")

    def input_text(self, row):
        return row["text"]

    def target(self, row):
        return row["label"]

    def parse(self, output):
        label = output.strip()
        return (label, None) if label in LABELS else (None, f"not one of X, Y, Z: {output!r}")

    def score(self, rows, outputs):
        preds, gold = [self.parse(o)[0] for o in outputs], [r["label"] for r in rows]
        n = len(rows)
        m = {"valid_rate": sum(p is not None for p in preds) / n,
             "accuracy": sum(p == g for p, g in zip(preds, gold)) / n}
        for c in LABELS:
            tp = sum(p == c and g == c for p, g in zip(preds, gold))
            fp = sum(p == c and g != c for p, g in zip(preds, gold))
            fn = sum(p != c and g == c for p, g in zip(preds, gold))
            prec, rec = tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0
            m.update({f"precision_{c}": prec, f"recall_{c}": rec, f"support_{c}": float(tp + fn),
                      f"f1_{c}": 2 * prec * rec / (prec + rec) if prec + rec else 0.0, f"error_{c}": 1 - rec})
        m["macro_f1"] = m["objective"] = sum(m[f"f1_{c}"] for c in LABELS) / len(LABELS)
        return m

    def tables(self, rows, outputs):
        columns = list(LABELS) + [INVALID]
        grid = [[0] * len(columns) for _ in LABELS]
        for row, out in zip(rows, outputs):
            pred = self.parse(out)[0]
            grid[LABELS.index(row["label"])][columns.index(pred or INVALID)] += 1
        return {"confusion_matrix": {"labels": list(LABELS), "columns": columns, "matrix": grid}}

    def row_errors(self, row, output):
        pred, reason = self.parse(output)
        return {"error": None if pred is None else float(pred != row["label"]), "prediction": pred,
                "invalid_reason": reason}


def _other(label: str, step: int = 1) -> str:
    return LABELS[(LABELS.index(label) + step) % len(LABELS)]


def example_rows() -> list[dict]:
    rows = [{"id": f"r{i:02d}", "text": f"request number {i}", "label": LABELS[i % 3]} for i in range(40)]
    rows[21]["text"], rows[25]["text"] = HTML_TEXT, JAPANESE_TEXT
    rows[26]["text"] = "a-very-long-unbroken-token-" * 12  # must wrap, not widen the page
    return rows


def example_models(rows: list[dict]) -> tuple[dict, dict]:
    out_a, out_b = {}, {}
    for i, r in enumerate(rows):
        gold, rid = r["label"], r["id"]
        out_a[rid] = gold if i < 24 else ("maybe" if i == 30 else _other(gold))
        out_b[rid] = gold if i < 20 or 24 <= i < 38 else _other(gold, 2 if i == 39 else 1)
    lat_a = {r["id"]: 100.0 + i for i, r in enumerate(rows)}  # 100..139 ms
    lat_b = {r["id"]: 50.0 + 2 * i for i, r in enumerate(rows)}  # 50..128 ms
    return ({"name": "base", "label": "base model", "outputs": out_a, "latency_ms": lat_a},
            {"name": "cycle_2 <best>", "label": "adapter results/x/cycle_2/best", "outputs": out_b,
             "latency_ms": lat_b})


def ab_record(**kw) -> dict:
    rows = example_rows()
    a, b = example_models(rows)
    return compare_models(FakeClassifier(), rows, a, b, resamples=kw.pop("resamples", RESAMPLES), **kw)


@pytest.fixture(scope="module")
def record() -> dict:
    return ab_record()


# -- bootstrap_difference ----------------------------------------------------------------------

def test_bootstrap_of_a_mean_matches_compare_and_is_seeded():
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, 30), rng.normal(9, 2, 30)
    boot = bootstrap_difference(30, lambda i: float(b[i].mean() - a[i].mean()), resamples=500, seed=4)
    ref = compare(list(a), list(b), resamples=500, seed=4)
    assert boot["diff"] == pytest.approx(ref["diff"])
    assert (boot["low"], boot["high"]) == pytest.approx((ref["low"], ref["high"]))  # same draws, same interval
    assert boot == bootstrap_difference(30, lambda i: float(b[i].mean() - a[i].mean()), resamples=500, seed=4)
    other = bootstrap_difference(30, lambda i: float(b[i].mean() - a[i].mean()), resamples=500, seed=5)
    assert (other["low"], other["high"]) != (boot["low"], boot["high"])
    assert boot["method"] == "paired percentile bootstrap over rows" and boot["n"] == 30
    assert (boot["confidence"], boot["resamples"]) == (0.95, 500)


def test_bootstrap_is_paired_and_handles_no_spread():
    a = np.arange(20, dtype=float) * 3.0
    b = a + 1.0  # B beats A by exactly 1 on every row: a paired resample never varies
    r = bootstrap_difference(20, lambda i: float(b[i].mean() - a[i].mean()))
    assert (r["diff"], r["low"], r["high"]) == (1.0, 1.0, 1.0)
    one = bootstrap_difference(1, lambda i: 0.5)
    assert (one["diff"], one["low"], one["high"]) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="no rows"):
        bootstrap_difference(0, lambda i: 0.0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_difference(5, lambda i: 0.0, confidence=1.5)


# -- the record --------------------------------------------------------------------------------

def test_record_shape_and_is_plain_json(record, tmp_path):
    assert tuple(record) == RECORD_KEYS
    json_path, html_path = write_ab(record, tmp_path / "out" / "ab")
    assert json.loads(json_path.read_text(encoding="utf-8")) == record
    assert html_path.read_text(encoding="utf-8") == render_ab_html(record)
    assert JAPANESE_TEXT in json_path.read_text(encoding="utf-8")  # ensure_ascii=False
    s = record["settings"]
    assert (s["rows"], s["resamples"], s["seed"], s["confidence"], s["task"]) == (40, RESAMPLES, 0, 0.95,
                                                                                  "fake_classifier")
    assert record["a"]["label"] == "base model" and record["b"]["name"] == "cycle_2 <best>"
    assert record["a"]["latency_ms"] == {"p50": pytest.approx(119.5), "p95": pytest.approx(137.05), "n": 40}
    assert record["b"]["latency_ms"]["p50"] == pytest.approx(89.0)


def test_mcnemar_counts_and_p_value(record):
    t = record["mcnemar"]
    assert (t["both_right"], t["only_a_right"], t["only_b_right"], t["both_wrong"]) == (20, 4, 14, 2)
    assert t["discordant"] == 18 and t["binary"] and t["test"] == "McNemar exact"
    assert t["p_value"] == pytest.approx(binomtest(14, 18, 0.5).pvalue)
    assert (t["error_a"], t["error_b"]) == pytest.approx((16 / 40, 6 / 40))  # the invalid row counts as wrong


def test_headline_differences_by_hand(record):
    acc, f1 = record["headline"]
    assert acc["metric"] == "accuracy" and f1["metric"] == "macro_f1"
    assert (acc["a"], acc["b"]) == pytest.approx((24 / 40, 34 / 40))
    assert acc["diff"] == pytest.approx(0.25) and acc["low"] <= 0.25 <= acc["high"]
    assert acc["low"] > 0 and acc["significant"] and acc["better"] == "B" and acc["mode"] == "max"
    rows = example_rows()
    a, b = example_models(rows)
    gold = [r["label"] for r in rows]

    def sk(outputs):
        preds = [outputs[r["id"]] if outputs[r["id"]] in LABELS else INVALID for r in rows]
        return f1_score(gold, preds, labels=list(LABELS), average="macro", zero_division=0)
    assert (f1["a"], f1["b"]) == pytest.approx((sk(a["outputs"]), sk(b["outputs"])))
    assert f1["diff"] == pytest.approx(sk(b["outputs"]) - sk(a["outputs"]))
    assert f1["low"] <= f1["diff"] <= f1["high"] and f1["mode"] == "max"
    assert record["winner"] == "B"
    assert record["verdict"].startswith("B (cycle_2 <best>) is better than A (base) on accuracy: B − A = +0.250")
    assert "McNemar exact p = 0.0309 on 18 discordant rows" in record["verdict"]


def test_interval_is_seeded():
    first, again, other = ab_record(seed=7), ab_record(seed=7), ab_record(seed=8)
    assert first["headline"] == again["headline"]
    assert [(h["low"], h["high"]) for h in first["headline"]] != [(h["low"], h["high"]) for h in other["headline"]]
    assert first["headline"][0]["diff"] == other["headline"][0]["diff"]


def test_facets_and_confusion_matrices(record):
    f = record["facets"]
    assert f["metrics"] == ["precision", "recall", "f1", "support"] and f["kind"] == "class"
    assert f["directions"] == {"precision": "max", "recall": "max", "f1": "max", "support": "max"}
    by = {r["facet"]: r for r in f["rows"]}
    # X rows: 0,3,...,39 (14 rows); A right on 8 of them (0..21), B on 7 + 5 (0..18, 24..36).
    assert by["X"]["a"]["recall"] == pytest.approx(8 / 14) and by["X"]["b"]["recall"] == pytest.approx(12 / 14)
    assert by["X"]["delta"]["recall"] == pytest.approx(4 / 14) and by["X"]["delta"]["support"] == 0
    cm_a = record["a"]["tables"]["confusion_matrix"]
    assert cm_a["columns"] == ["X", "Y", "Z", INVALID]
    assert sum(map(sum, cm_a["matrix"])) == 40 and [row[3] for row in cm_a["matrix"]] == [1, 0, 0]
    assert record["a"]["facets"]["X"]["support"] == 14


def test_disagreements_are_exactly_the_differing_rows(record):
    d = record["disagreements"]
    assert [x["id"] for x in d] == [f"r{i:02d}" for i in list(range(20, 38)) + [39]]
    by = {x["id"]: x for x in d}
    assert by["r21"]["text"] == HTML_TEXT and by["r21"]["right"] == "A" and by["r21"]["gold"] == "X"
    assert by["r30"]["prediction_a"] == INVALID and by["r30"]["right"] == "B"
    assert "maybe" in by["r30"]["invalid_reason_a"] and by["r30"]["error_a"] == 1.0
    assert by["r39"]["right"] == "neither" and by["r39"]["prediction_a"] != by["r39"]["prediction_b"]


def test_identical_models_show_no_difference():
    rows = example_rows()
    a, _ = example_models(rows)
    r = compare_models(FakeClassifier(), rows, a, {**a, "name": "copy"}, resamples=RESAMPLES)
    for h in r["headline"]:
        assert (h["diff"], h["low"], h["high"], h["significant"], h["better"]) == (0.0, 0.0, 0.0, False, "tie")
    assert r["mcnemar"]["p_value"] == 1.0 and r["mcnemar"]["discordant"] == 0
    assert r["disagreements"] == [] and r["winner"] is None
    assert r["verdict"].startswith("No significant difference between A (base) and B (copy) on accuracy")
    assert "A and B predict the same on every row" in render_ab_html(r)


def test_a_missing_row_raises_naming_it():
    rows = example_rows()
    a, b = example_models(rows)
    del b["outputs"]["r07"]
    with pytest.raises(ValueError, match=r"model B \(cycle_2 <best>\) has no output for 1 eval row\(s\): r07"):
        compare_models(FakeClassifier(), rows, a, b)
    del a["latency_ms"]["r11"]
    with pytest.raises(ValueError, match="no latency .*r11"):
        compare_models(FakeClassifier(), rows, a, example_models(rows)[1])


def test_verdict_needs_the_interval_and_the_test_to_agree(record):
    from campaign.reporting.ab import _verdict

    def verdict(low, high, p, diff):
        lead = {**record["headline"][0], "low": low, "high": high, "diff": (low + high) / 2,
                "significant": low > 0 or high < 0}
        return _verdict({**record, "headline": [lead], "mcnemar": {**record["mcnemar"], "p_value": p, "diff": diff}},
                        0.95)
    assert verdict(-0.3, -0.1, 0.01, 0.2) == (
        "A (base) is better than B (cycle_2 <best>) on accuracy: B − A = −0.200 (95% CI [−0.300, −0.100]); "
        "McNemar exact p = 0.01 on 18 discordant rows.", "A")
    text, winner = verdict(0.1, 0.3, 0.2, -0.2)  # the interval says B, the test is not below 0.05
    assert winner is None and text.startswith("Mixed evidence between A (base) and B (cycle_2 <best>)")
    assert text.endswith("(threshold p < 0.05).")
    assert verdict(-0.1, 0.3, 0.2, -0.2)[0].startswith("No significant difference")


# -- the page ----------------------------------------------------------------------------------

def test_page_is_self_contained_escaped_and_complete(record):
    page = render_ab_html(record)
    low = page.lower()
    assert "<script" not in low and "http://" not in low and "https://" not in low and "@import" not in low
    assert "ship it? &lt;b&gt;&amp; then&lt;/b&gt; &quot;quoted&quot;" in page and "<b>& then" not in page
    assert "cycle_2 &lt;best&gt;" in page and "cycle_2 <best>" not in page
    assert page.count("<table class='cm'>") == 2 and page.count(f"<th class='n'>{INVALID}</th>") == 2
    from html import escape
    assert escape(record["verdict"]) in page
    for sid in ("headline", "paired-test", "facets", "confusion", "latency", "disagreements", "settings"):
        assert f'id="{sid}"' in page
    assert "19 rows where A" in page and "0.0309" in page
    assert "<span class=\"good\">+0.250</span>" in page  # accuracy B − A, green: higher is better


def test_page_caps_the_disagreements_and_works_without_tables(record):
    many = {**record, "disagreements": record["disagreements"] * 12}  # 228 rows
    page = render_ab_html(many)
    assert page.count("<code>r20</code>") == 11 and f"Showing the first {MAX_DISAGREEMENTS}; 28 more" in page
    bare = {**record, "a": {**record["a"], "tables": {}}, "b": {**record["b"], "tables": {}}}
    page = render_ab_html(bare)
    assert 'id="confusion"' not in page and "<table class='cm'>" not in page


# -- a task whose per-row errors are not right/wrong -------------------------------------------

class FakeRegression(Task):
    """One number per row; error = absolute error; no headline metrics (the primary leads), no tables."""

    spec = TaskSpec(kind="fake_regression", facets=("value",), facet_kind="dimension", facet_error="mae_{facet}",
                    primary="mae", mode="min", valid_rate="valid_rate")

    def input_text(self, row):
        return f"guess {row['id']}"

    def target(self, row):
        return str(row["y"])

    def parse(self, output):
        try:
            return float(output), None
        except ValueError:
            return None, "not a number"

    def score(self, rows, outputs):
        errs = [self.row_errors(r, o)["error"] for r, o in zip(rows, outputs)]
        ok = [e for e in errs if e is not None]
        mae = sum(ok) / len(ok) if ok else math.nan
        return {"valid_rate": len(ok) / len(rows), "mae": mae, "mae_value": mae, "objective": mae}

    def row_errors(self, row, output):
        pred, reason = self.parse(output)
        return {"error": None if pred is None else abs(pred - row["y"]), "invalid_reason": reason}


def test_regression_like_task_uses_wilcoxon_and_lower_is_better():
    rows = [{"id": i, "y": float(i)} for i in range(30)]
    a = {"name": "A", "label": "a", "outputs": {i: str(i + 3.0 + i % 2) for i in range(30)}, "latency_ms": {}}
    b = {"name": "B", "label": "b", "outputs": {i: str(i + 0.5) for i in range(30)}, "latency_ms": {}}
    r = compare_models(FakeRegression(), rows, a, b, resamples=RESAMPLES)
    (mae,) = r["headline"]
    assert mae["metric"] == "mae" and mae["mode"] == "min" and mae["diff"] == pytest.approx(0.5 - 3.5)
    assert mae["better"] == "B" and mae["high"] < 0
    t = r["mcnemar"]
    assert t["test"] == "Wilcoxon signed-rank" and not t["binary"] and t["both_right"] is None
    assert (t["b_better"], t["a_better"]) == (30, 0) and r["winner"] == "B"
    assert r["facets"]["metrics"] == ["mae"] and r["facets"]["directions"] == {"mae": "min"}
    assert len(r["disagreements"]) == 30 and r["disagreements"][0]["right"] == "B"
    assert r["a"]["latency_ms"] == {"p50": None, "p95": None, "n": 0}
    page = render_ab_html(r)
    assert 'id="confusion"' not in page and "Wilcoxon signed-rank" in page and "B closer" in page
    assert "<span class=\"good\">−3.000</span>" in page  # mae went down: green
