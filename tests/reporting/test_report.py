"""The HTML report: sections, inline SVG charts, escaping, no URLs, None-safety, exact focus numbers.

Fast and browser-free; tests/reporting/test_report_browser.py renders the same page in headless Chromium.
"""
from __future__ import annotations

import html
import math
import re
from html.parser import HTMLParser

import pytest

from campaign.reporting.charts import bar_chart, grouped_bar_chart, heatmap, legend
from campaign.reporting.report import render_report, write_report
from report_fixture import FOCUS_EXPECTED, JAPANESE_REQUEST, empty_view, example_view, view_with_unfinished_cycle

SECTIONS = ["summary", "focus", "baselines", "gates", "hard-facets", "trials-cycle-1", "trials-cycle-2", "hard-cases"]
VOID = {"meta", "br", "hr", "img", "input", "link"}


@pytest.fixture(scope="module")
def page() -> str:
    return render_report(example_view())


def section(page: str, sid: str) -> str:
    """The HTML of one section (sections are never nested)."""
    start = page.index(f'<section id="{sid}">')
    return page[start:page.index("</section>", start)]


def table_rows(fragment: str) -> list[list[str]]:
    """Every table row's cells as plain text (tags stripped, entities decoded)."""
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", fragment, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


class _Balance(HTMLParser):
    """Checks every non-void element is closed in order: a broken tag would swallow the page."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


@pytest.mark.parametrize("make", [example_view, view_with_unfinished_cycle, empty_view])
def test_every_section_is_present_and_tags_balance(make):
    page = render_report(make())
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    ids = SECTIONS if make().get("cycles") else [s for s in SECTIONS if not s.startswith("trials-")]
    for sid in ids:
        assert page.count(f'<section id="{sid}">') == 1, sid
    checker = _Balance()
    checker.feed(page)
    assert checker.errors == [] and checker.stack == []


def test_charts_are_inline_svg(page):
    for sid in ("focus", "baselines", "trials-cycle-1", "trials-cycle-2"):
        assert "<svg" in section(page, sid), sid
    assert section(page, "trials-cycle-1").count("<svg") == 2  # bar chart + heatmap
    assert page.count("<svg") == 6
    assert "<script" not in page.lower() and "javascript:" not in page.lower()


def test_user_text_is_escaped_everywhere(page):
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert JAPANESE_REQUEST in page
    assert "Noto Sans CJK JP" in page  # a font stack that renders the Japanese


def test_no_external_url_of_any_kind(page):
    assert "http://" not in page and "https://" not in page
    for value in re.findall(r'(?:src|href|xlink:href)\s*=\s*["\']([^"\']*)', page):
        assert value.startswith("#"), value
    assert not re.search(r"url\(", page)
    assert not re.search(r"<(img|link|iframe|object|embed)\b|@import", page)


def test_missing_values_render_as_dash_or_no_valid_output(page):
    baselines = section(page, "baselines")
    assert "no valid output" in baselines and "json_valid_rate 0.00" in baselines
    trials = section(page, "trials-cycle-2")
    assert ">failed<" in trials  # the ERROR trial's gap in the bar chart
    failed = next(r for r in table_rows(trials) if r and r[0] == "#3 c2a81f77")
    assert failed[1:] == ["error", "lr=0.0024epochs=7add_ratio=0.26replay_ratio=0.06", "—", "—", "—", "12"]
    assert "Target modules {&#x27;q_proj&#x27;, &#x27;v_proj&#x27;} not found" in trials
    assert "None" not in re.sub(r"<[^>]+>", "", page) and "nan" not in re.findall(r">([^<]*)<", page)


def test_best_trial_is_starred_and_summary_badges(page):
    assert "★ #4 61570112" in section(page, "trials-cycle-1")
    summary = section(page, "summary")
    rows = table_rows(summary)
    assert rows[1] == ["1", "done", "v1450 train rows; pools of up to 135 generated and 45 replayed rows", "—",
                       "#4 61570112", "6.72", "promoted"]
    assert rows[2][3:] == ["nostalgia, acousticness", "#1 5d0c1e2a", "7.31", "refused"]
    assert "cycle 1, trial #4" in summary and "6.72" in summary


def test_focus_table_numbers_and_deltas_are_exact(page):
    focus = section(page, "focus")
    rows = table_rows(focus)
    assert rows[0] == ["dimension", "cycle 1", "cycle 2", "Δ vs cycle 1"]
    assert [tuple(r) for r in rows[1:]] == FOCUS_EXPECTED
    assert '<span class="worse">+2.71</span>' in focus and '<span class="good">−0.47</span>' in focus
    for label in ("9.87", "4.62", "mae_raw (overall)"):  # the grouped bars carry their values
        assert f">{label}</text>" in focus


def test_focus_delta_edge_cases():
    view = example_view()
    best2 = view["cycles"][1]["snapshot"]["trials"][0]["metrics"]
    best2["eval/mae_raw"] = 6.72            # unchanged
    best2["eval/mae_raw_nostalgia"] = None  # missing
    best2["eval/mae_raw_acousticness"] = float("nan")
    rows = table_rows(section(render_report(view), "focus"))
    assert rows[1:] == [["mae_raw (overall)", "6.72", "6.72", "±0.00"], ["acousticness", "7.16", "—", "—"],
                        ["nostalgia", "5.09", "—", "—"]]


def test_gates_show_verdicts_checks_and_refusal_reasons(page):
    gates = section(page, "gates")
    assert "refused: 2 of 6 checks failed (focus_acousticness, mae_vs_promoted)" in gates
    assert "failed: focus_acousticness, mae_vs_promoted" in gates
    assert "acousticness got worse by 2.71 (augmentation overshot?)" in gates
    assert "b-ok\">promoted" in gates and "b-bad\">refused" in gates
    row = next(r for r in table_rows(gates) if r[0] == "mae_vs_promoted" and r[1] == "fail")
    assert row == ["mae_vs_promoted", "fail", "7.31", "6.72", "<= promoted",
                   "mae_raw 7.31 is worse than the promoted model's 6.72"]


def test_hard_facets_lines_and_forced_mark(page):
    hard = section(page, "hard-facets")
    assert "Cycle 1 → next cycle focuses on nostalgia, acousticness" in hard
    assert "Cycle 2 → next cycle focuses on acousticness, energy</b> <span class=\"badge b-wait\">forced" in hard
    assert hard.count(">forced<") == 1


def test_hard_cases_show_targets_predictions_and_invalid_outputs(page):
    cases = section(page, "hard-cases")
    assert cases.count("<table>") == 2
    assert "{&quot;energy&quot;:20, &quot;warmth&quot;:55" in cases      # compact target JSON
    assert "broken JSON: unterminated string at char 38" in cases          # invalid_reason for a None prediction
    assert "{&quot;energy&quot;: 80, &quot;warmth&quot;: 35, &quot;brightness" in cases  # the raw output
    assert "worst: acousticness −42" in cases


def test_unfinished_cycle_and_empty_campaign_render():
    for status in ("planned", "searching"):
        page = render_report(view_with_unfinished_cycle(status))
        row = table_rows(section(page, "summary"))[3]
        assert row[:2] == ["3", status] and row[-3:] == ["—", "—", "pending"]
        assert 'id="trials-cycle-3"' not in page
        assert "Cycle 3:</b> <span class='muted'>not chosen yet" in section(page, "hard-facets")
    page = render_report(empty_view())
    assert "nothing promoted yet" in page and "No cycles yet." in page
    assert "No finished cycle yet." in section(page, "focus")


def test_write_report_is_atomic_utf8(tmp_path):
    path = write_report(example_view(), tmp_path / "sub" / "report.html")
    assert path.read_text(encoding="utf-8") == render_report(example_view())
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary file left behind
    write_report(empty_view(), path)  # overwrites in place
    assert "nothing promoted yet" in path.read_text(encoding="utf-8")


def test_charts_survive_missing_and_odd_values():
    nan = math.nan
    svg = bar_chart([{"label": "a", "value": None, "gap": "no valid JSON"}, {"label": "b", "value": nan},
                     {"label": "<b>", "value": 0.0}], title="t & <t>")
    assert "no valid JSON" in svg and "&lt;b&gt;" in svg and "<b>" not in svg
    assert "<svg" in bar_chart([], title="empty")
    svg = heatmap(["r"], ["c1", "c2"], [[nan, None]], title="all missing")
    assert svg.count(">—</text>") == 2
    svg = heatmap(["r1", "r2"], ["c"], [[3.0], [3.0]], title="flat")  # zero range: no division by zero
    assert ">3.00</text>" in svg
    svg = grouped_bar_chart(["g"], ["s1", "s2"], [[None, float("inf")]], title="none")
    assert svg.count(">—</text>") == 2
    assert "cycle 1" in legend([("cycle 1", "#000")])


def test_sparse_snapshot_renders():
    """A snapshot with no baselines, hard cases or best trial (e.g. every trial failed) still renders."""
    view = example_view()
    snap = view["cycles"][1]["snapshot"]
    for key in ("baselines", "hard_cases", "eval_set"):
        snap.pop(key)
    snap["best_trial"] = None
    for trial in snap["trials"]:
        trial.update(state="ERROR", metrics={}, error="RuntimeError: CUDA out of memory")
    page = render_report(view)
    assert table_rows(section(page, "summary"))[2][4:6] == ["—", "—"]
    assert section(page, "trials-cycle-2").count(">failed<") == 6
    assert "No hard cases recorded." in section(page, "hard-cases")
    baselines = section(page, "baselines")  # cycle 1's baselines stand in; cycle 2's best is a gap
    assert "Baselines from cycle 1" in baselines and "rule_baseline" in baselines
    assert baselines.count(">no valid output</text>") == 1 and ">no finished trial</text>" in baselines


def test_gate_section_shows_the_data_search_noise_split(page):
    gates = page[page.index('id="gates"'):page.index('id="hard-facets"')]
    assert "What changed the eval error" in gates
    assert "data effect" in gates and "data trial (trial 2) vs control (trial 1)" in gates
    assert "−1.90" not in gates and "-1.90 [-2.80, -1.00] p=0.004" in gates  # nostalgia's data effect
    assert "no eval outputs for previous_best" in gates
