"""Render a campaign view (plain JSON-like dict) as one self-contained HTML page.

Inline CSS and inline SVG only: no JavaScript, no fonts, images or styles by URL, so the page
opens from ``file://`` on a machine with no network. Every data string goes through
``html.escape`` (requests are user text: ``<``, ``&``, quotes, Japanese). Missing numbers print
as "—" and never break a chart.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from campaign.decide.gates import best_baseline
from campaign.decide.hard_facets import facets_record
from campaign.reporting.charts import PALETTE, bar_chart, fmt, grouped_bar_chart, heatmap, num
from campaign.reporting.effects import effects_html
from campaign.reporting.html_parts import Raw as _Raw
from campaign.reporting.html_parts import badge as _badge
from campaign.reporting.html_parts import esc as _e
from campaign.reporting.html_parts import section as _section
from campaign.reporting.html_parts import table as _table
from campaign.reporting.search_section import search_section_html
from campaign.reporting.style import CSS as _CSS
from campaign.tasks.base import TaskSpec, task_or_default

__all__ = ["render_report", "write_report", "find_browser", "screenshot_report"]

_BADGE = {"pass": "ok", "fail": "bad", "n/a": "na", "done": "ok", "searching": "info", "planned": "na"}
_NONE_YET = "<p class='muted'>No finished cycle yet.</p>"


def _json_cell(value) -> _Raw:
    """Compact one-line JSON, with a space after each comma so it wraps between fields."""
    return _Raw(f"<code>{_e(json.dumps(value, ensure_ascii=False, separators=(', ', ':')))}</code>")


def _gate_value(value) -> str:
    """Gate numbers to 3 decimals without trailing zeros (0.985 must not print as 0.99)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    v = num(value)
    if v is None:
        return "—" if value is None or isinstance(value, (int, float)) else str(value)
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _delta(cur, prev) -> _Raw:
    """Signed change to 2 decimals with a real minus sign; for an error, down is good (green)."""
    c, p = num(cur), num(prev)
    if c is None or p is None:
        return _Raw("—")
    d = round(c - p, 2)
    if d == 0:
        return _Raw("±0.00")
    return _Raw(f'<span class="{"worse" if d > 0 else "good"}">{"+" if d > 0 else "−"}{abs(d):.2f}</span>')


# -- reading the view -------------------------------------------------------------------------

def _finished(view: dict) -> list[dict]:
    return [c for c in view.get("cycles") or [] if c.get("snapshot")]


def _best(snapshot: dict | None) -> dict | None:
    snapshot = snapshot or {}
    return next((t for t in snapshot.get("trials") or [] if t.get("trial_id") == snapshot.get("best_trial")), None)


def _m(record: dict | None, key: str):
    return num(((record or {}).get("metrics") or {}).get(key))


def _trial_name(t: dict | None) -> str:
    return "—" if not t else f"#{t.get('trial', '?')} {t.get('trial_id', '')}".strip()


def _verdict(gate: dict | None) -> _Raw:
    if not gate:
        return _badge("wait", "pending")
    ok = gate.get("verdict") == "promote" or (gate.get("verdict") is None and gate.get("passed"))
    return _badge("ok", "promoted") if ok else _badge("bad", "refused")


def _short_config(config: dict) -> _Raw:
    """Searched values as small chips (``lr=0.00202``) that wrap between, never inside, a pair."""
    parts = []
    for key, v in (config or {}).items():
        text = f"{str(key).split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{str(key).split('.')[-1]}={v}"
        parts.append(f"<span class='kv mono'>{_e(text)}</span>")
    return _Raw("".join(parts) or "—")


def _baseline_cycle(done: list[dict]) -> dict | None:
    """The latest finished cycle whose snapshot has baselines (they are the same frozen eval set)."""
    return next((c for c in reversed(done) if c["snapshot"].get("baselines")), None)


def _spec(view: dict) -> TaskSpec:
    """The campaign's task spec (views of campaigns from before tasks were plug-ins: the default task)."""
    return TaskSpec.from_dict(view["task"]) if view.get("task") else task_or_default(None).spec


def _better(spec: TaskSpec) -> str:
    return "lower is better" if spec.mode == "min" else "higher is better"


def _scale(view: dict) -> tuple:
    """One colour range and one bar maximum for every cycle, so cycles compare at a glance."""
    spec, heat, bars = _spec(view), [], []
    for c in _finished(view):
        for t in c["snapshot"].get("trials") or []:
            heat += [v for v in (_m(t, spec.facet_key(f, "valid")) for f in spec.facets) if v is not None]
            bars += [v for v in [_m(t, f"eval/{spec.primary}")] if v is not None]
    return min(heat, default=None), max(heat, default=None), max(bars, default=None)


# -- sections ---------------------------------------------------------------------------------

def _cards(view: dict) -> str:
    promoted, done, spec = view.get("promoted"), _finished(view), _spec(view)
    p, v = spec.primary, spec.valid_rate
    cards = [(f"{len(done)} / {len(view.get('cycles') or [])}", "cycles finished")]
    if promoted:
        pm = promoted.get("metrics") or {}
        cards += [(fmt(pm.get(f"eval/{p}")),
                   f"promoted eval {p} (cycle {promoted.get('cycle')}, trial #{promoted.get('trial')})"),
                  (fmt(pm.get(f"eval/{v}")), f"promoted eval {v}")]
    else:
        cards.append(("—", "nothing promoted yet"))
    src = _baseline_cycle(done)
    best = best_baseline({b.get("mode"): b.get("metrics") for b in (src["snapshot"]["baselines"] if src else [])}, spec)
    if best:
        cards.append((fmt(_m({"metrics": best[1]}, f"eval/{p}")), f"best baseline: {best[0]} eval {p}"))
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{_e(v)}</b><span>{_e(t)}</span></div>' for v, t in cards) + "</div>"


def _summary(view: dict) -> str:
    spec, rows = _spec(view), []
    for c in view.get("cycles") or []:
        best, status = _best(c.get("snapshot")), str(c.get("status") or "—")
        data = _Raw(f"<b>{_e(c.get('data_version') or '—')}</b><br><span class='muted'>"
                    f"{_e(c.get('data_summary') or '')}</span>")
        rows.append([c.get("cycle"), _badge(_BADGE.get(status, "na"), status), data,
                     ", ".join(c.get("focus_facets") or []) or "—", _trial_name(best),
                     fmt(_m(best, f"eval/{spec.primary}")), _verdict(c.get("gate"))])
    headers = ["cycle", "status", "data", f"focus {spec.facets_word}", "best trial", f"eval {spec.primary}", "gate"]
    table = _table(headers, rows, {0, 5}, {0, 4, 6}) if rows else "<p class='muted'>No cycles yet.</p>"
    p = view.get("promoted")
    line = "<p class='line'>Currently promoted: <b>nothing promoted yet</b></p>"
    if p:
        line = (f"<p class='line'>Currently promoted: <b>cycle {_e(p.get('cycle'))}, trial #{_e(p.get('trial'))}"
                f"</b> <code>{_e(p.get('trial_id'))}</code> on data {_e(p.get('data_version'))} — eval "
                f"{_e(spec.primary)} <b>{fmt((p.get('metrics') or {}).get(f'eval/{spec.primary}'))}</b></p>")
    return _section("summary", "Summary", _cards(view) + line + table)


def _hard_facets(view: dict) -> str:
    spec, lines = _spec(view), []
    for c in view.get("cycles") or []:
        hd, n = c.get("hard_facets") or c.get("hard_dims"), _e(c.get("cycle"))
        if not hd:
            lines.append(f"<p class='line'><b>Cycle {n}:</b> <span class='muted'>not chosen yet</span></p>")
            continue
        hd = facets_record(hd)
        forced = " " + _badge("wait", "forced") if hd.get("forced") else ""
        facets = ", ".join(hd.get("hard_facets") or []) or "—"
        per = " · ".join(f"{d} {fmt(v)}" for d, v in (hd.get("per_facet_error") or {}).items())
        error = spec.facet_error.format(facet=f"<{spec.facet_kind}>")
        per = f"<br><span class='mono muted'>valid {_e(error)} per {spec.facet_kind}: {_e(per)}</span>" if per else ""
        lines.append(f"<p class='line'><b>Cycle {n} → next cycle focuses on {_e(facets)}</b>{forced}"
                     f"<br><span class='muted'>{_e(hd.get('reason') or '')}</span>{per}</p>")
    return _section("hard-facets", f"Hard {spec.facets_word} chosen for the next cycle",
                    "".join(lines) or "<p class='muted'>No cycles yet.</p>")


def _focus(view: dict) -> str:
    done, cycles, spec = _finished(view), view.get("cycles") or [], _spec(view)
    kind = spec.facet_kind
    focus = [f for f in spec.facets if any(f in (c.get("focus_facets") or []) for c in cycles)]
    if not done:
        return _section("focus", f"Focus {spec.facets_word}, cycle over cycle", _NONE_YET)
    keys = [(f"{spec.primary} (overall)", f"eval/{spec.primary}")] + [(f, spec.facet_key(f, "eval")) for f in focus]
    bests = [_best(c["snapshot"]) for c in done]
    values = [[_m(b, key) for b in bests] for _, key in keys]
    series = [f"cycle {c.get('cycle')}" for c in done]
    error = spec.facet_error.format(facet=f"<{kind}>")
    chart = grouped_bar_chart([k for k, _ in keys], series, values, unit=f"best trial's eval {error} (lower is better)",
                              title=f"Best trial's eval {error} per focus {kind}, per cycle")
    headers = [kind] + [h for i, s in enumerate(series) for h in [s] + [f"Δ vs {series[i - 1]}"] * (i > 0)]
    rows = [[name] + [c for i, v in enumerate(vals) for c in [fmt(v)] + [_delta(v, vals[i - 1])] * (i > 0)]
            for (name, _), vals in zip(keys, values)]
    note = "" if focus else f"<p class='muted'>No focus {spec.facets_word} yet (cycle 1 has none): overall only.</p>"
    table = _table(headers, rows, set(range(1, len(headers))))
    return _section("focus", f"Focus {spec.facets_word}, cycle over cycle",
                    f"{note}<div class='row'><div>{chart}</div><div class='grow'>{table}"
                    "<p class='muted'>Δ: red = worse (error went up), green = better.</p></div></div>")


def _baselines(view: dict) -> str:
    done, promoted, spec = _finished(view), view.get("promoted") or {}, _spec(view)
    p, v = f"eval/{spec.primary}", f"eval/{spec.valid_rate}"
    if not done:
        return _section("baselines", "Baselines vs fine-tuned", _NONE_YET)
    src = _baseline_cycle(done) or done[-1]
    bars = [{"label": b.get("mode"), "value": _m(b, p), "colour": "#9aa5b1", "gap": "no valid output",
             "note": f"{spec.valid_rate} {fmt(_m(b, v))}"}
            for b in src["snapshot"].get("baselines") or []]
    for i, c in enumerate(done):
        best = _best(c["snapshot"])
        chosen = best is not None and best.get("trial_id") == promoted.get("trial_id")
        bars.append({"label": f"cycle {c.get('cycle')} best ({_trial_name(best)})", "value": _m(best, p),
                     "colour": PALETTE[i % len(PALETTE)], "highlight": chosen,
                     "gap": "no valid output" if best else "no finished trial",
                     "note": f"{spec.valid_rate} {fmt(_m(best, v))}" + (" · promoted" * chosen)})
    chart = bar_chart(bars, title=f"Eval {spec.primary}: baselines and each cycle's best trial", width=1000,
                      unit=f"eval {spec.primary} on the frozen eval set ({_better(spec)})")
    rows = (src["snapshot"].get("eval_set") or {}).get("rows", "—")
    intro = (f"<p class='sub'>Baselines from cycle {_e(src.get('cycle'))}'s snapshot, same frozen eval set "
             f"({_e(rows)} rows). ★ = promoted.</p>")
    return _section("baselines", "Baselines vs fine-tuned", intro + chart)


def _error_row(error, span: int) -> _Raw:
    """A failed trial's error as a full-width row under it: the last line shown, the traceback folded."""
    text = str(error).strip()
    last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), text)
    short = last if len(last) <= 200 else last[:197] + "…"
    inner = (f"<span class='err wrap'>{_e(text)}</span>" if short == text else
             f"<details><summary class='err wrap'>{_e(short)}</summary><pre class='mono'>{_e(text)}</pre></details>")
    return _Raw(f"<tr class='errrow'><td></td><td colspan='{span - 1}'>{inner}</td></tr>")


def _trial_rows(trials: list[dict], best_id, spec: TaskSpec) -> list:
    rows = []
    for t in trials:
        ok = t.get("state") == "TERMINATED"
        rows.append([("★ " if t.get("trial_id") == best_id else "") + _trial_name(t),
                     _badge("ok" if ok else "bad", str(t.get("state") or "—").lower()),
                     _short_config(t.get("config")), fmt(_m(t, "valid/objective")),
                     fmt(_m(t, f"eval/{spec.valid_rate}")), fmt(_m(t, f"eval/{spec.primary}")),
                     fmt(_m(t, "time_total_s"), 0)])
        if t.get("error"):
            rows.append(_error_row(t["error"], 7))
    return rows


def _trials(cycle: dict, view: dict, scale: tuple) -> str:
    spec, snap, n = _spec(view), cycle["snapshot"], cycle.get("cycle")
    facets, p, kind = list(spec.facets), spec.primary, spec.facet_kind
    error = spec.facet_error.format(facet=f"<{kind}>")
    trials, best_id = snap.get("trials") or [], snap.get("best_trial")
    bars = [{"label": _trial_name(t), "value": _m(t, f"eval/{p}"), "highlight": t.get("trial_id") == best_id,
             "colour": PALETTE[1] if t.get("trial_id") == best_id else PALETTE[0],
             "gap": "failed" if t.get("state") == "ERROR" else "no valid output"} for t in trials]
    bar = bar_chart(bars, title=f"Cycle {n}: eval {p} per trial", max_value=scale[2], width=430,
                    unit=f"eval {p}, {_better(spec)}")
    best_row = next((i for i, t in enumerate(trials) if t.get("trial_id") == best_id), None)
    grid = [[_m(t, spec.facet_key(f, "valid")) for f in facets] for t in trials]
    heat = heatmap([_trial_name(t) for t in trials], facets, grid,
                   highlight=best_row, vmin=scale[0], vmax=scale[1], title=f"Cycle {n}: valid {error} per {kind}")
    table = _table(["trial", "state", "searched config", "valid objective", f"eval {spec.valid_rate}", f"eval {p}",
                    "wall s"], _trial_rows(trials, best_id, spec), {3, 4, 5, 6}, {0, 1})
    intro = (f"<p class='sub'>Data <b>{_e(cycle.get('data_version') or '—')}</b>: "
             f"{_e(cycle.get('data_summary') or '')}"
             f"<br>Seeding: {_e(cycle.get('seeding') or '—')}<br>★ best trial by {_e(snap.get('metric') or '—')}"
             f" ({_e(snap.get('mode') or '—')})</p>")
    charts = (f"<div class='row'><div><h3>Eval {_e(p)} per trial</h3>{bar}</div>"
              f"<div><h3>Valid {_e(error)} per {kind}</h3>{heat}</div></div>")
    return _section(f"trials-cycle-{n}", f"Cycle {n}: trials", intro + charts + table)


def _case_error(case: dict) -> _Raw:
    """The case's error, and its worst dimension (signed: prediction minus target)."""
    target, pred = case.get("target") or {}, case.get("prediction") or {}
    diffs = {d: num(pred.get(d)) - num(target.get(d)) for d in target
             if num(pred.get(d)) is not None and num(target.get(d)) is not None}
    if not diffs:
        return _Raw(_e(fmt(case.get("error"))))
    dim = max(diffs, key=lambda d: abs(diffs[d]))
    return _Raw(f"<b>{_e(fmt(case.get('error')))}</b><br><span class='muted nw'>worst: {_e(dim)} "
                f"{'+' if diffs[dim] > 0 else '−'}{abs(diffs[dim]):g}</span>")


def _case_row(case: dict) -> list:
    pred = _json_cell(case["prediction"]) if case.get("prediction") is not None else _Raw(
        f"<code class='wrap'>{_e(case.get('output') or '')}</code><br>"
        f"<span class='err'>{_e(case.get('invalid_reason') or 'invalid output')}</span>")
    gold = case["target"] if "target" in case else case.get("gold")  # a classifier's case names its gold label
    return [_Raw(f"<code>{_e(case.get('id'))}</code>"), case.get("input", case.get("request", case.get("text"))),
            _json_cell(gold),
            pred, _case_error(case)]


def _hard_cases(view: dict) -> str:
    parts = []
    for c in _finished(view):
        cases = (c["snapshot"].get("hard_cases") or {}).get("eval") or []
        parts.append(f"<h3>Cycle {_e(c.get('cycle'))} — best trial {_e(_trial_name(_best(c['snapshot'])))}, "
                     "eval hard cases</h3>")
        parts.append(_table(["id", "input", "target", "prediction", "error"], [_case_row(k) for k in cases], {4})
                     if cases else "<p class='muted'>No hard cases recorded.</p>")
    return _section("hard-cases", "Hard cases (eval, best trial)", "".join(parts) or _NONE_YET)


def _gates(view: dict) -> str:
    parts = []
    for c in view.get("cycles") or []:
        gate = c.get("gate")
        if not gate:
            continue
        rows = [[k.get("check"), _badge(_BADGE.get(k.get("status"), "na"), str(k.get("status") or "—")),
                 _gate_value(k.get("value")), _gate_value(k.get("reference")), k.get("threshold"), k.get("reason")]
                for k in gate.get("checks") or []]
        failed = ", ".join(str(f) for f in gate.get("failed") or [])
        failed = f"<br><span class='err'>failed: {_e(failed)}</span>" if failed else ""
        parts.append(f"<h3>Cycle {_e(c.get('cycle'))} {_verdict(gate)}</h3>"
                     f"<p class='line'>{_e(gate.get('summary') or '')}{failed}</p>"
                     + _table(["check", "status", "value", "reference", "threshold", "reason"], rows, {2, 3},
                              {0, 1, 2, 3}, "gate")
                     + effects_html(c.get("effects"), _spec(view).primary))
    return _section("gates", "Promotion gates", "".join(parts) or "<p class='muted'>No gate decided yet.</p>")


def _ab(view: dict) -> str:
    from campaign.reporting.ab_html import ab_summary_html

    return _section("ab", "Promoted vs base model (A/B)", ab_summary_html(view.get("ab"), view.get("ab_href") or ""))


def _search(view: dict) -> str:
    """Each cycle's Optuna study (history, importances, slices); a missing study is one muted line."""
    return _section("search", "Search: history, importances, slices", search_section_html(view.get("search")))


# -- public API -------------------------------------------------------------------------------

def render_report(view: dict) -> str:
    """The whole report as one HTML string (UTF-8, no external resources, no JavaScript)."""
    scale, done = _scale(view), _finished(view)
    sections = [_summary(view), _focus(view), _baselines(view), _gates(view), _ab(view), _hard_facets(view),
                _search(view), *(_trials(c, view, scale) for c in done), _hard_cases(view)]
    ids = ["summary", "focus", "baselines", "gates", "ab", "hard-facets", "search",
           *(f"trials-cycle-{c.get('cycle')}" for c in done), "hard-cases"]
    nav = "<nav>" + "".join(f'<a href="#{_e(i)}">{_e(i)}</a>' for i in ids) + "</nav>"
    title = f"Campaign {view.get('campaign') or '—'}"
    sub = (f"generated {view.get('generated') or '—'} · metric {view.get('metric') or '—'} "
           f"({view.get('mode') or '—'}) · task {_spec(view).kind} · {_spec(view).facets_word} "
           f"{', '.join(_spec(view).facets) or '—'}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
            f"<h1>{_e(title)}</h1><p class='sub'>{_e(sub)}</p>{nav}{''.join(sections)}</main></body></html>\n")


def write_report(view: dict, path) -> Path:
    """Write the report atomically (temporary file beside it, then replace) as UTF-8; return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(render_report(view), encoding="utf-8")
    tmp.replace(path)
    return path


def find_browser() -> str | None:
    """A headless-capable Chromium on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot_report(html_path, png_path, *, width: int = 1280, height: int = 4000, timeout: float = 120,
                      browser: str | None = None) -> Path:
    """Render a written report to a PNG with headless Chromium, offline, fresh profile; raises on failure."""
    browser = browser or find_browser()
    if not browser:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    png = Path(png_path).resolve()
    png.unlink(missing_ok=True)  # never mistake an old screenshot for a new one
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        cmd = [browser, "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={png}", Path(html_path).resolve().as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(2, "--no-sandbox")  # Chromium will not start its sandbox as root
        subprocess.run(cmd, check=True, timeout=timeout, capture_output=True)
    if not png.exists():
        raise RuntimeError(f"chromium exited without writing {png}")
    return png
