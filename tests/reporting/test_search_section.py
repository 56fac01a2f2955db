"""The report's search section on a real stored Optuna study: history, importances, slices.

The study is built with Optuna's own API (search_fixture.py); nothing here runs Ray.
"""
from __future__ import annotations

import html
import math
import re

import pytest

from campaign.reporting.report import render_report
from campaign.reporting.search_plots import (axis_fraction, best_so_far, history_chart, param_axis,
                                             slice_chart)
from campaign.reporting.search_section import NO_SEARCH, search_section_html, search_view
from report_fixture import example_view
from search_fixture import CYCLE1, PARAMS, build_study, objective
from test_report import _Balance, section

BLUE, ORANGE = "#4e79a7", "#f28e2b"  # cycle 1, cycle 2


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("campaign")
    build_study(folder)
    return folder


@pytest.fixture(scope="module")
def search(folder) -> dict:
    return search_view(folder)


def panels(svg: str) -> list[str]:
    """Each panel's SVG (panels are the top-level translated groups, in order)."""
    return svg.split('<g transform="translate(')[1:]


def circles(fragment: str) -> dict[str, tuple[float, float]]:
    """Tooltip text -> (cx, cy) for every circle in ``fragment``."""
    return {title: (float(x), float(y)) for x, y, title in
            re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"[^>]*><title>([^<]*)</title>', fragment)}


def axis_ends(panel: str) -> tuple[float, float, float]:
    """The panel's axes path ``M0 top V bottom H width``: (top, bottom, width)."""
    top, bottom, width = re.search(r'd="M0 ([\d.]+)V([\d.]+)H([\d.]+)"', panel).groups()
    return float(top), float(bottom), float(width)


def test_search_view_keeps_each_cycles_own_trials_and_counts_carried_ones(search):
    cycles = search["cycles"]
    assert [(c["cycle"], c["study"], c["direction"], c["metric"]) for c in cycles] == [
        (1, "demo-cycle1", "minimize", "valid/objective"), (2, "demo-cycle2", "minimize", "valid/objective")]
    assert [len(c["trials"]) for c in cycles] == [8, 8] and [c["carried"] for c in cycles] == [0, 1]
    assert all(t["trial_id"] for c in cycles for t in c["trials"])
    assert [t["number"] for t in cycles[1]["trials"]] == list(range(1, 9))  # number 0 is the carried one
    assert [t["name"] for t in cycles[0]["trials"]][:3] == [
        "cycle1-trial1-0101beef", "cycle1-trial2-0102beef", "cycle1-trial3-0103beef"]
    assert [t["state"] for t in cycles[0]["trials"]].count("FAIL") == 1 and cycles[0]["trials"][2]["value"] is None
    assert cycles[0]["space"]["train/lr"] == {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}
    assert cycles[1]["space"]["train/lr"]["low"] == 5e-4  # cycle 2 narrowed the space


def test_importances_come_from_optuna_for_the_searched_params(search):
    for cycle, finished in zip(search["cycles"], (7, 8)):
        imp = cycle["importances"]
        assert imp["evaluator"] == "PedAnovaImportanceEvaluator" and imp["trials"] == finished
        assert set(imp["importances"]) == set(PARAMS)
        assert math.isclose(sum(imp["importances"].values()), 1.0, abs_tol=1e-6)
    body = search_section_html(search)
    assert "PED-ANOVA (Optuna&#x27;s default evaluator), 7 trials" in body
    assert "PED-ANOVA (Optuna&#x27;s default evaluator), 8 trials" in body


def test_best_so_far_is_the_running_min_or_max():
    assert best_so_far([3.0, None, 2.0, 5.0, float("nan"), 1.0], "minimize") == [3.0, 3.0, 2.0, 2.0, 2.0, 1.0]
    assert best_so_far([None, 3.0, 2.0, 5.0], "maximize") == [None, 3.0, 3.0, 5.0]


def test_history_step_line_follows_the_running_min_of_the_dots(search):
    first = panels(history_chart(search["cycles"]))[0]
    dots = {float(title.split(": ")[1]): xy for title, xy in circles(first).items() if "no value" not in title}
    points = [tuple(map(float, p.split(","))) for p in re.search(r'<polyline points="([^"]+)"', first)[1].split()]
    values = [objective(*p) for p in CYCLE1 if p]
    mins = list(dict.fromkeys(min(values[:i + 1]) for i in range(len(values))))
    assert mins == [8.775, 6.8553, 6.6567, 6.2438, 6.0]
    levels = list(dict.fromkeys(y for _, y in points))
    assert levels == [dots[float(f"{m:.4g}")][1] for m in mins]  # each level is the y of the then-best dot
    assert points[-1][0] == max(x for x, _ in dots.values())  # carried on to the last trial


def test_failed_trial_is_a_hollow_marker_on_the_x_axis(search):
    first = panels(history_chart(search["cycles"]))[0]
    _, bottom, _ = axis_ends(first)
    tag = re.search(r'<circle [^>]*><title>cycle1-trial3-0103beef: fail, no value</title>', first)[0]
    assert 'fill="#fff"' in tag and 'stroke="#b42318"' in tag and f'cy="{bottom:.1f}"' in tag
    assert min(y for _, y in circles(first).values()) > 30  # every dot inside the plot
    assert ">valid/objective (lower is better)<" in history_chart(search["cycles"])


def test_log_axis_puts_the_geometric_mid_of_the_union_range_in_the_middle(search):
    axis = param_axis([c["space"]["train/lr"] for c in search["cycles"]])
    assert axis == {"kind": "log", "low": 1e-4, "high": 1e-2}  # the union: cycle 2's range is inside
    assert axis_fraction(axis, 1e-3) == pytest.approx(0.5)
    lr = next(p for p in panels(slice_chart(search["cycles"])) if ">train/lr (log scale)<" in p)
    _, _, width = axis_ends(lr)
    dots = circles(lr)
    for trial in ("cycle1-trial7-0107beef", "cycle2-trial8-0208beef"):  # both at lr = 1e-3
        x = next(xy[0] for title, xy in dots.items() if title.startswith(trial + ":"))
        assert x == pytest.approx(width / 2, abs=0.05), trial
    assert ">1e-4<" in lr and ">1e-3<" in lr and ">1e-2<" in lr


def test_choices_and_small_int_ranges_are_evenly_spaced():
    replay = param_axis([{"type": "categorical", "choices": [0.0, 0.05, 0.1]}])
    assert [axis_fraction(replay, v) for v in (0.0, 0.05, 0.1)] == pytest.approx([1 / 6, 3 / 6, 5 / 6])
    epochs = param_axis([{"type": "int", "low": 4, "high": 8, "log": False},
                         {"type": "int", "low": 6, "high": 8, "log": False}])
    assert epochs == {"kind": "choices", "choices": [4, 5, 6, 7, 8]}
    wide = param_axis([{"type": "int", "low": 8, "high": 128, "log": True}])
    assert wide["kind"] == "log" and axis_fraction(wide, 32) == pytest.approx(0.5)


def test_slice_dots_are_grouped_and_coloured_per_cycle(search):
    svg = slice_chart(search["cycles"])
    params = panels(svg)
    assert [re.search(r'font-weight="bold">([^<]+)<', p)[1] for p in params] == [
        "train/lr (log scale)", "train/epochs", "train/add_ratio", "train/replay_ratio"]
    for panel in params:
        groups = dict(re.findall(r'<g fill="(#\w+)" fill-opacity[^>]*>(.*?)</g>', panel))
        assert set(groups) == {BLUE, ORANGE}
        assert sorted(t.split("-")[0] for t in circles(groups[BLUE])) == ["cycle1"] * 7  # the failed one has no dot
        assert sorted(t.split("-")[0] for t in circles(groups[ORANGE])) == ["cycle2"] * 8  # carried one left out
    assert f'fill="{BLUE}" stroke="none"></rect><text' in svg and ">cycle 1<" in svg and ">cycle 2<" in svg


def test_section_has_no_script_url_or_id_and_balances(search):
    body = search_section_html(search)
    for bad in ("<script", "http", " id=", "xmlns", "url(", "javascript:"):
        assert bad not in body.lower(), bad
    assert body.count("<svg") == 4  # history, two importance charts, slices
    assert "carried over from a previous cycle is left out" in body
    assert f"campaign dashboard {search['folder']}" in body
    checker = _Balance()
    checker.feed(body)
    assert checker.errors == [] and checker.stack == []


def test_charts_are_a_few_kb_each(search):
    assert len(history_chart(search["cycles"])) < 6_000
    assert len(slice_chart(search["cycles"])) < 12_000


def test_missing_study_file_is_one_line_and_the_report_renders(tmp_path):
    view = search_view(tmp_path)
    assert view == {"missing": f"{tmp_path}/optuna.db: no stored Optuna study "
                               "(a campaign from before studies were stored)"}
    page = render_report({**example_view(), "search": view})
    body = section(page, "search")
    assert "a campaign from before studies were stored" in body and "<svg" not in body
    assert html.escape(NO_SEARCH) in section(render_report(example_view()), "search")  # no "search" key at all


def test_damaged_study_file_is_named_and_left_as_it_is(tmp_path):
    garbage = b"not a database \x00\x01\x02" * 300
    (tmp_path / "optuna.db").write_bytes(garbage)
    view = search_view(tmp_path)
    assert set(view) == {"missing"} and str(tmp_path / "optuna.db") in view["missing"]
    assert "damaged or not an SQLite database" in view["missing"]
    assert (tmp_path / "optuna.db").read_bytes() == garbage
    assert "damaged or not an SQLite database" in section(render_report({**example_view(), "search": view}), "search")


def test_charts_survive_missing_values_and_odd_states():
    cycles = [{"cycle": 1, "direction": "maximize", "metric": "eval/acc", "space": {}, "trials": [
        {"number": 0, "state": "COMPLETE", "value": float("nan"), "params": {"opt": "adam", "lr": 1e-3}},
        {"number": 1, "state": "PRUNED", "value": None, "params": {"opt": "sgd"}},
        {"number": 2, "state": "RUNNING", "value": None, "params": {}},
        {"number": 3, "state": "COMPLETE", "value": 0.7, "params": {"opt": "sgd", "lr": None}}]},
        {"cycle": 2, "direction": "maximize", "trials": [], "space": {}}]
    for svg in (history_chart(cycles), slice_chart(cycles), history_chart([]), slice_chart([])):
        text = " ".join(re.findall(r">([^<]+)<", svg))
        assert "nan" not in text.lower() and "None" not in text
    assert ">eval/acc (higher is better)<" in history_chart(cycles)
    assert "pruned, no value" in history_chart(cycles) and ">no trials<" in history_chart(cycles)
    assert search_section_html({"cycles": []}) == "<p class='muted'>The study file holds no study yet.</p>"


def test_whole_report_with_the_section_stays_small(search):
    page = render_report({**example_view(), "search": search})
    assert len(page.encode("utf-8")) < 100_000
    assert page.count('<section id="search">') == 1 and '<a href="#search">' in page
    assert section(page, "search").count("<svg") == 4 and page.count("<svg") == 10
    checker = _Balance()
    checker.feed(page)
    assert checker.errors == [] and checker.stack == []


def test_importance_error_is_shown_instead_of_a_chart(tmp_path):
    import optuna

    from campaign.tracking.optuna_study import open_storage

    storage = open_storage(tmp_path / "optuna.db", create=True)
    study = optuna.create_study(storage=storage, study_name="solo-cycle1")
    trial = study.ask({"train/lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)})
    trial.set_user_attr("trial_id", "aa11")
    study.tell(trial, 1.5)
    storage.engine.dispose()
    view = search_view(tmp_path)
    assert view["cycles"][0]["cycle"] == 1  # from the study's name: this one has no cycle attribute
    assert view["cycles"][0]["importances"] == {
        "error": "1 finished trial(s) of this cycle; importances need at least 2"}
    body = search_section_html(view)
    assert "importances need at least 2" in body and body.count("<svg") == 2  # history and slices, no bars
