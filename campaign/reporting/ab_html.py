"""Render an A/B record (``campaign.reporting.ab.compare_models``) as one self-contained HTML page.

The campaign report's look (its CSS), plus a few rules of its own: inline CSS only, no JavaScript, no
URLs, no fonts. Every string that comes from the record (model names, row text, predictions, labels)
is escaped. Works for any task: a section a task has no data for (no confusion matrix, no facet
metrics, no latency) says so or is left out.
"""
from __future__ import annotations

import json

from campaign.reporting.charts import fmt, num
from campaign.reporting.html_parts import Raw, badge, esc, section, table
from campaign.reporting.style import CSS as _CSS

__all__ = ["render_ab_html", "ab_summary_html", "MAX_DISAGREEMENTS"]

MAX_DISAGREEMENTS = 200  # Disagreement rows the page shows; ab.json has all of them.
_RIGHT, _WRONG = (89, 161, 79), (225, 87, 89)  # The report palette's green and red, as RGB for cell shading.
_COUNTS = ("support", "count", "n")  # Facet metrics that are counts: shown as integers.

_AB_CSS = """
.verdict{border-left:5px solid #9aa5b1;background:#fff;border-radius:8px;padding:12px 16px;margin:0 0 16px;
 font-size:15px;border-top:1px solid var(--line);border-right:1px solid var(--line);border-bottom:1px solid var(--line)}
.verdict.v-win{border-left-color:var(--ok)}.verdict.v-mixed{border-left-color:#c9a227}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:8px 32px}.pair>div{min-width:0}
table.cm{width:auto}table.cm td{text-align:right;font-variant-numeric:tabular-nums;min-width:44px}
table.cm tr:nth-child(even) td{background:transparent}table.cm td.g{text-align:left;color:var(--muted);font-weight:600}
table.mc{width:auto;min-width:360px}.mark-ok{color:var(--ok);font-weight:700}.mark-bad{color:var(--bad);font-weight:700}
td div.wrap{max-width:560px}.small{font-size:12px}
"""


# -- small pieces ------------------------------------------------------------------------------

def _value(value, metric: str = "", digits: int = 3) -> str:
    v = num(value)
    if v is not None and metric in _COUNTS:
        return f"{v:.0f}"
    return fmt(value, digits)


def _delta(value, mode: str | None, metric: str = "", digits: int = 3) -> Raw:
    """Signed B − A with a real minus sign; green where B is better by ``mode`` ('max'/'min'), red where worse."""
    d = num(value)
    if d is None:
        return Raw("—")
    digits = 0 if metric in _COUNTS else digits
    if round(d, digits) == 0:
        return Raw(f"±{0:.{digits}f}")
    text = f"{'+' if d > 0 else '−'}{abs(d):.{digits}f}"
    if mode not in ("max", "min"):
        return Raw(esc(text))
    better = (d > 0) == (mode == "max")
    return Raw(f'<span class="{"good" if better else "worse"}">{esc(text)}</span>')


def _pred(prediction) -> str:
    return prediction if isinstance(prediction, str) else json.dumps(prediction, ensure_ascii=False)


def _name(record: dict, side: str) -> str:
    return str((record.get(side) or {}).get("name") or side.upper())


def _signed(value, digits: int = 3) -> str:
    v = num(value)
    return "—" if v is None else f"{'−' if v < 0 else '+'}{abs(v):.{digits}f}"


def _p(p) -> str:
    v = num(p)
    return "—" if v is None else "< 0.0001" if v < 1e-4 else f"{v:.3g}"


def _p_is(p) -> str:
    """``p = 0.03`` or ``p < 0.0001``."""
    text = _p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


# -- sections ----------------------------------------------------------------------------------

def _header(record: dict) -> str:
    s, a, b = record.get("settings") or {}, record.get("a") or {}, record.get("b") or {}
    sub = (f"task {s.get('task', '—')} · {s.get('rows', '—')} frozen eval rows · {fmt(s.get('confidence'), 2)} "
           f"confidence · {s.get('resamples', '—')} bootstrap resamples · seed {s.get('seed', '—')}")
    winner = record.get("winner")
    mixed = not winner and str(record.get("verdict") or "").startswith("Mixed")
    cls = "v-win" if winner else "v-mixed" if mixed else ""
    tag = (badge("ok", f"{winner} is better") if winner else badge("wait", "mixed evidence") if mixed
           else badge("na", "no significant difference"))
    cards = "".join(f'<div class="card"><b>{esc(side.upper())}: {esc(m.get("name") or "—")}</b>'
                    f'<span>{esc(m.get("label") or "")}</span></div>' for side, m in (("a", a), ("b", b)))
    return (f"<h1>A/B: {esc(_name(record, 'a'))} vs {esc(_name(record, 'b'))}</h1><p class='sub'>{esc(sub)}</p>"
            f"<div class='cards'>{cards}</div>"
            f"<div class='verdict {cls}'>{tag} {esc(record.get('verdict') or '')}</div>")


def _headline(record: dict) -> str:
    conf = num((record.get("settings") or {}).get("confidence"))
    ci = f"{conf * 100:g}% CI" if conf is not None else "CI"
    rows = []
    for h in record.get("headline") or []:
        interval = f"[{_signed(h.get('low'))}, {_signed(h.get('high'))}]"
        rows.append([h.get("metric"), "higher" if h.get("mode") == "max" else "lower", _value(h.get("a")),
                     _value(h.get("b")), _delta(h.get("diff"), h.get("mode")), interval,
                     badge("ok", "interval excludes 0") if h.get("significant") else badge("na", "includes 0")])
    body = table(["metric", "better when", "A", "B", "B − A", ci, ""], rows, {2, 3, 4, 5}, {0, 5})
    note = ("<p class='muted'>B − A with a paired percentile bootstrap over rows: each resample draws the same "
            "row indices for both models and rescores them. Green = B better, red = B worse.</p>")
    return section("headline", "Headline metrics", body + note)


def _test_table(t: dict) -> str:
    if t.get("binary"):
        both, neither = t.get("both_right") or 0, t.get("both_wrong") or 0
        only_a, only_b = t.get("only_a_right") or 0, t.get("only_b_right") or 0
        rows = [["A right", both, only_a, both + only_a], ["A wrong", only_b, neither, only_b + neither],
                ["total", both + only_b, only_a + neither, t.get("n")]]
        return table(["", "B right", "B wrong", "total"], rows, {1, 2, 3}, cls_name="mc")
    rows = [["rows", t.get("a_better"), t.get("b_better"), t.get("tied")]]
    return table(["", "A lower error", "B lower error", "equal errors"], rows, {1, 2, 3}, cls_name="mc")


def _test(record: dict) -> str:
    t = record.get("mcnemar") or {}
    rows = (f"{t.get('discordant')} discordant rows (only B right {t.get('only_b_right')}, only A right "
            f"{t.get('only_a_right')})" if t.get("binary") else f"{t.get('discordant')} rows with unequal errors")
    line = (f"<p class='line'><b>{esc(t.get('test') or '—')}: {esc(_p_is(t.get('p_value')))}</b> on {esc(rows)}. "
            f"Mean per-row error A {esc(_value(t.get('error_a')))} → B {esc(_value(t.get('error_b')))} "
            f"(B − A {_delta(t.get('diff'), 'min')}, interval [{esc(_signed(t.get('low')))}, "
            f"{esc(_signed(t.get('high')))}]).</p><p class='muted'>{esc(t.get('label') or '')}; an invalid output "
            "counts as wrong, never dropped.</p>")
    title = "Right / wrong per row" if t.get("binary") else "Per-row errors"
    return section("paired-test", f"{title}: {t.get('test') or 'paired test'}", _test_table(t) + line)


def _facets(record: dict) -> str:
    f = record.get("facets") or {}
    metrics, directions = f.get("metrics") or [], f.get("directions") or {}
    if not f.get("rows") or not metrics:
        return ""
    headers = [f.get("kind") or "facet"] + [h for m in metrics for h in (f"{m} A", f"{m} B", f"Δ {m}")]
    rows = [[r.get("facet")] + [c for m in metrics for c in (
        _value((r.get("a") or {}).get(m), m), _value((r.get("b") or {}).get(m), m),
        _delta((r.get("delta") or {}).get(m), None if m in _COUNTS else directions.get(m), m))]
        for r in f["rows"]]
    note = "<p class='muted'>Δ = B − A: green = B better, red = B worse (direction per metric).</p>"
    return section("facets", f"Per {f.get('kind') or 'facet'}",
                   table(headers, rows, set(range(1, len(headers)))) + note)


def _matrix(m: dict, vmax: float) -> Raw:
    """One confusion matrix, each cell shaded by its count: green on the diagonal, red off it."""
    labels, columns, grid = m.get("labels") or [], m.get("columns") or [], m.get("matrix") or []
    head = "<th>gold \\ predicted</th>" + "".join(f"<th class='n'>{esc(c)}</th>" for c in columns)
    body = []
    for label, counts in zip(labels, grid):
        cells = []
        for col, count in zip(columns, counts):
            alpha = 0 if not vmax or not num(count) else 0.12 + 0.68 * num(count) / vmax
            rgb = _RIGHT if col == label else _WRONG
            cells.append(f"<td style='background:rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f})'>{esc(count)}</td>")
        body.append(f"<tr><td class='g'>{esc(label)}</td>{''.join(cells)}</tr>")
    return Raw(f"<table class='cm'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _is_matrix(value) -> bool:
    return isinstance(value, dict) and all(k in value for k in ("labels", "columns", "matrix"))


def _confusion(record: dict) -> str:
    ta, tb = (record.get("a") or {}).get("tables") or {}, (record.get("b") or {}).get("tables") or {}
    names = [n for n in ta if _is_matrix(ta[n]) and _is_matrix(tb.get(n))]
    parts = []
    for n in names:
        vmax = max((num(c) or 0 for t in (ta[n], tb[n]) for row in t["matrix"] for c in row), default=0)
        title = f"<h3>{esc(n.replace('_', ' '))}</h3>" if len(names) > 1 else ""
        parts.append(f"{title}<div class='pair'>"
                     f"<div><h3>A: {esc(_name(record, 'a'))}</h3>{_matrix(ta[n], vmax)}</div>"
                     f"<div><h3>B: {esc(_name(record, 'b'))}</h3>{_matrix(tb[n], vmax)}</div></div>")
    if not parts:
        return ""
    note = ("<p class='muted'>Rows: gold; columns: predicted. Shading by count on one scale for both models: green "
            "= right, red = wrong, the “(invalid)” column = outputs that did not parse.</p>")
    return section("confusion", "Confusion matrices", "".join(parts) + note)


def _latency(record: dict) -> str:
    rows = []
    for side in ("a", "b"):
        m = record.get(side) or {}
        lat = m.get("latency_ms") or {}
        rows.append([f"{side.upper()}: {m.get('name') or '—'}", m.get("label") or "—", fmt(lat.get("p50"), 1),
                     fmt(lat.get("p95"), 1), lat.get("n")])
    return section("latency", "Latency per row",
                   table(["model", "what", "p50 ms", "p95 ms", "rows timed"], rows, {2, 3, 4}))


def _side_cell(d: dict, side: str, binary: bool) -> Raw:
    pred, err = d.get(f"prediction_{side}"), d.get(f"error_{side}")
    mark = ("<span class='mark-ok'>✓</span> " if err == 0 else "<span class='mark-bad'>✗</span> ") if binary else ""
    reason = d.get(f"invalid_reason_{side}")
    extra = f"<br><span class='err'>{esc(reason)}</span>" if reason else ""
    if not binary:
        extra += f"<br><span class='muted small'>error {esc(_value(err))}</span>"
    return Raw(f"{mark}<span class='wrap mono'>{esc(_pred(pred))}</span>{extra}")


_RIGHT_BADGE = {"B": ("ok", "B right"), "A": ("bad", "A right"), "both": ("info", "both right"),
                "neither": ("na", "neither")}


def _right(right, binary: bool) -> Raw:
    if binary:
        return badge(*_RIGHT_BADGE.get(right, ("na", str(right))))
    return badge({"B": "ok", "A": "bad"}.get(right, "na"), "tie" if right == "tie" else f"{right} closer")


def _disagreements(record: dict) -> str:
    items, binary = record.get("disagreements") or [], (record.get("mcnemar") or {}).get("binary")
    if not items:
        return section("disagreements", "Disagreements", "<p class='muted'>A and B predict the same on every row.</p>")
    rows = [[Raw(f"<code>{esc(d.get('id'))}</code>"), Raw(f"<div class='wrap'>{esc(d.get('text'))}</div>"),
             Raw(f"<span class='wrap mono'>{esc(d.get('gold'))}</span>"), _side_cell(d, "a", binary),
             _side_cell(d, "b", binary), _right(d.get("right"), binary)] for d in items[:MAX_DISAGREEMENTS]]
    rest = len(items) - MAX_DISAGREEMENTS
    intro = (f"<p class='sub'>{len(items)} rows where A's and B's parsed predictions differ (an invalid output is "
             f"its own prediction, “(invalid)”)." + (f" Showing the first {MAX_DISAGREEMENTS}; {rest} more in "
                                                     "ab.json." if rest > 0 else "") + "</p>")
    return section("disagreements", "Disagreements",
                   intro + table(["id", "text", "gold", "A", "B", "right"], rows, nowrap={0, 5}))


def _settings(record: dict) -> str:
    s = record.get("settings") or {}
    rows = [[k, json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v] for k, v in s.items()]
    return section("settings", "Settings", table(["setting", "value"], rows))


# -- public API --------------------------------------------------------------------------------

def render_ab_html(record: dict) -> str:
    """The whole A/B page as one HTML string (UTF-8, no external resources, no JavaScript)."""
    parts = [("headline", _headline), ("paired-test", _test), ("facets", _facets), ("confusion", _confusion),
             ("latency", _latency), ("disagreements", _disagreements), ("settings", _settings)]
    built = [(sid, render(record)) for sid, render in parts]
    sections, ids = [html for _, html in built if html], [sid for sid, html in built if html]
    nav = "<nav>" + "".join(f'<a href="#{esc(i)}">{esc(i)}</a>' for i in ids) + "</nav>"
    title = f"A/B: {_name(record, 'a')} vs {_name(record, 'b')}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{_CSS}{_AB_CSS}</style></head><body><main>"
            f"{_header(record)}{nav}{''.join(sections)}</main></body></html>\n")


def ab_summary_html(ab: dict | None, href: str) -> str:
    """The campaign report's short view of its promoted-vs-base A/B, linking the full page at ``href``."""
    if not ab:
        return ("<p class='muted'>Written when a cycle promotes a model; compare any two models with "
                "<code>campaign ab A B --config …</code>.</p>")
    rows = [[h["metric"], _value(h["a"], h["metric"]), _value(h["b"], h["metric"]),
             _delta(h["diff"], h.get("mode"), h["metric"]), f"[{_signed(h['low'])}, {_signed(h['high'])}]"]
            for h in ab.get("headline") or []]
    t = ab.get("mcnemar") or {}
    line = (f"{esc(t.get('test', ''))}: {esc(_p_is(t.get('p_value')))} on {esc(t.get('discordant'))} discordant "
            f"rows (only B right {esc(t.get('only_b_right'))}, only A right {esc(t.get('only_a_right'))})")
    level = f"{100 * (ab.get('settings') or {}).get('confidence', 0.95):.0f}% interval"
    return (f"<p class='line'>{esc(ab.get('verdict') or '')}</p><p class='muted'>{line}</p>"
            + table(["metric", f"A: {_name(ab, 'a')}", f"B: {_name(ab, 'b')}", "B − A", level], rows, {1, 2, 3})
            + f"<p>Per-{esc((ab.get('settings') or {}).get('facet_kind') or 'facet')} metrics, "
              f"{'both confusion matrices, ' if 'confusion_matrix' in ((ab.get('a') or {}).get('tables') or {}) else ''}"
              f"latency and every row where they disagree: "
              f"<a href=\"{esc(href)}\">{esc(href)}</a></p>")
