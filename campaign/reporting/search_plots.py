"""Optuna's standard search plots as inline SVG: optimization history, parameter importances, slices.

Hand-drawn on charts.py's primitives rather than matplotlib (not installed): hand-drawn SVG keeps
each plot to a few KB and its look consistent with the report's other charts, where matplotlib's
SVG would add a dependency and tens of KB per figure. Same rules as charts.py: no JavaScript, no
URLs (no ``xmlns``), no ``id`` attributes, and a missing value never crashes a chart.

Input is ``search_section.search_view``'s per-cycle records: ``cycle``, ``direction``, ``metric``,
``trials`` (the cycle's own trials: ``number``, ``state``, ``value``, ``params``, ``name``),
``space`` (param -> distribution record) and ``importances``.
"""
from __future__ import annotations

import math
from html import escape

from campaign.reporting.charts import (GRID, INK, MUTED, PALETTE, _legend_items, _svg, _text, bar_chart,
                                       nice_range, num, short_num, text_width)

__all__ = ["best_so_far", "param_axis", "axis_fraction", "history_chart", "importance_chart", "slice_chart"]

AXIS_W, GAP, PAD = 58, 18, 10  # shared y-axis labels; space between panels; inset so edge dots show
FAIL, GAP_GREY = "#b42318", "#9aa5b1"


def best_so_far(values, direction: str) -> list[float | None]:
    """The running best of ``values`` (None = no value yet), min or max as the study's direction says."""
    pick = max if direction == "maximize" else min
    out, best = [], None
    for v in values:
        v = num(v)
        if v is not None:
            best = v if best is None else pick(best, v)
        out.append(best)
    return out


def _value(trial: dict) -> float | None:
    return num(trial.get("value")) if trial.get("state") == "COMPLETE" else None


def _spread(i: int, n: int, w: float) -> float:
    """Evenly spaced positions inside a panel of width ``w`` (one item sits in the middle)."""
    return w / 2 if n <= 1 else PAD + (w - 2 * PAD) * i / (n - 1)


def _circle(x, y, tip: str, *, r=4.0, fill="", stroke="") -> str:
    paint = (f' fill="{fill}"' if fill else "") + (f' stroke="{stroke}" stroke-width="1.5"' if stroke else "")
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:g}"{paint}><title>{escape(tip)}</title></circle>'


def _path(d: str, colour: str = GRID, width: float = 1) -> str:
    """Several strokes in one element (grid, axes, tick marks): a few KB less than one <line> each."""
    return f'<path d="{d}" fill="none" stroke="{colour}"' + (f' stroke-width="{width:g}"' if width != 1 else "") + "/>"


def _labels(items, *, anchor: str = "middle", size: int = 10, fill: str = MUTED) -> str:
    """Many small labels in one group, the shared attributes written once rather than on every <text>."""
    texts = "".join(f'<text x="{x:.1f}" y="{y:.1f}">{escape(str(s))}</text>' for x, y, s in items)
    return f'<g font-size="{size}" text-anchor="{anchor}" fill="{fill}">{texts}</g>' if texts else ""


def _metric(cycles: list[dict]) -> tuple[str, str]:
    first = cycles[0] if cycles else {}
    return str(first.get("metric") or "objective"), str(first.get("direction") or "minimize")


def _y_frame(cycles: list[dict], top: float, plot_h: float):
    """One y scale for every panel (all cycles' values), its ticks and the caption naming the metric."""
    values = [v for c in cycles for v in map(_value, c.get("trials") or []) if v is not None]
    lo, hi = min(values, default=0.0), max(values, default=1.0)
    if hi > lo:  # a 6% margin keeps the best dot off the x axis, where the hollow no-value markers sit
        pad = (hi - lo) * 0.06
        lo, hi = lo - pad, hi + pad
        ticks = [t for t in nice_range(lo, hi)[2] if lo <= t <= hi]
    else:
        lo, hi, ticks = nice_range(lo, hi)
    metric, direction = _metric(cycles)
    caption = f"{metric} ({'higher' if direction == 'maximize' else 'lower'} is better)"
    return (lambda v: top + plot_h * (hi - v) / (hi - lo)), ticks, caption


def _y_labels(ticks, ymap) -> str:
    return _labels([(AXIS_W - 8, ymap(t) + 4, short_num(t)) for t in ticks], anchor="end")


def _panel_frame(w: float, ticks, ymap, top: float, bottom: float, title: str) -> list[str]:
    return [_path("".join(f"M0 {ymap(t):.1f}H{w:.1f}" for t in ticks)),
            _path(f"M0 {top:.1f}V{bottom:.1f}H{w:.1f}", MUTED),
            _text(w / 2, top - 8, title, size=12, anchor="middle", weight="bold")]


def _tick_row(ticks: list[tuple[float, str]], y: float) -> str:
    """X tick labels, dropping any that would overlap the one kept before it."""
    kept, right = [], -1e9
    for x, label in ticks:
        half = text_width(label, 10) / 2
        if x - half >= right + 4:
            kept.append((x, y, label))
            right = x + half
    return _labels(kept)


def _group(x: float, y: float, parts: list[str]) -> str:
    return f'<g transform="translate({x:.1f},{y:.1f})">{"".join(parts)}</g>'


# -- optimization history ---------------------------------------------------------------------

def _step_points(xs: list[float], best: list, ymap) -> str:
    """The best-so-far step line: flat until a trial improves on it, then straight down (or up)."""
    pts, last = [], None
    for x, b in zip(xs, best):
        if b is None:
            continue
        if last is not None and b != last:
            pts.append((x, ymap(last)))
        pts.append((x, ymap(b)))
        last = b
    if pts and xs and xs[-1] > pts[-1][0]:
        pts.append((xs[-1], pts[-1][1]))  # carry the best on past trailing failed trials
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)


def _history_panel(cycle: dict, colour: str, w: float, ymap, ticks, top: float, bottom: float) -> list[str]:
    trials = sorted(cycle.get("trials") or [], key=lambda t: t.get("number", 0))
    n = len(trials)
    out = _panel_frame(w, ticks, ymap, top, bottom, f"cycle {cycle.get('cycle', '?')} · {n} trials")
    xs = [_spread(i, n, w) for i in range(n)]
    points = _step_points(xs, best_so_far(map(_value, trials), str(cycle.get("direction"))), ymap)
    if points:
        out.append(f'<polyline points="{points}" fill="none" stroke="{INK}" stroke-width="1.5"/>')
    dots = []
    for x, t in zip(xs, trials):
        name, v = t.get("name") or f"trial {t.get('number')}", _value(t)
        if v is None:  # no value to place: a hollow marker on the axis
            out.append(_circle(x, bottom, f"{name}: {str(t.get('state', '?')).lower()}, no value",
                               fill="#fff", stroke=FAIL if t.get("state") == "FAIL" else MUTED))
        else:
            dots.append(_circle(x, ymap(v), f"{name}: {v:.4g}"))
    out.append(f'<g fill="{colour}">{"".join(dots)}</g>' if dots else "")
    stride = max(1, math.ceil(n * 22 / max(w, 1)))
    out.append(_tick_row([(xs[i], str(i + 1)) for i in range(0, n, stride)], bottom + 14))
    if not n:
        out.append(_text(w / 2, (top + bottom) / 2, "no trials", anchor="middle", fill=MUTED, style="italic"))
    return out


def _history_key(x: float, y: float) -> tuple[list[str], float]:
    """The marks' legend in one row (a grey dot: each panel's dots take its cycle's colour); returns its end."""
    marks = [("finished trial", 8, lambda x: _circle(x + 4, y - 4, "finished trial", fill=GAP_GREY)),
             ("failed / pruned (no value)", 8, lambda x: _circle(x + 4, y - 4, "no value", fill="#fff", stroke=FAIL)),
             ("best so far", 20, lambda x: _path(f"M{x:.1f} {y - 4:.1f}h20", INK, 1.5))]
    out = []
    for label, w, mark in marks:
        out += [mark(x), _text(x + w + 6, y, label, size=11, fill=MUTED)]
        x += w + 6 + text_width(label, 11) + 18
    return out, x


def _panel_widths(counts: list[int], budget: float = 1100) -> list[float]:
    """About 28 px per trial (180–420 px), shrunk together when the cycles would not fit the page."""
    widths = [min(max(28.0 * n + 30, 180.0), 420.0) for n in counts]
    total = sum(widths) + GAP * max(len(widths) - 1, 0)
    scale = min(1.0, (budget - AXIS_W) / total) if total else 1.0
    return [max(w * scale, 110.0) for w in widths]


def history_chart(cycles: list[dict]) -> str:
    """One panel per cycle, shared y axis: each trial's value in the order asked, and the best so far."""
    top, plot_h = 46, 170
    bottom = top + plot_h
    ymap, ticks, caption = _y_frame(cycles, top, plot_h)
    key, key_end = _history_key(text_width(caption, 11) + 28, 14)
    body = [_text(4, 14, caption, size=11, fill=MUTED)] + key
    body.append(_y_labels(ticks, ymap))
    x = AXIS_W
    for i, (cycle, w) in enumerate(zip(cycles, _panel_widths([len(c.get("trials") or []) for c in cycles]))):
        body.append(_group(x, 0, _history_panel(cycle, PALETTE[i % len(PALETTE)], w, ymap, ticks, top, bottom)))
        x += w + GAP
    right = max(x - GAP, AXIS_W + 150)
    body.append(_text((AXIS_W + right) / 2, bottom + 32, "trial, in the order the search asked for it",
                      size=11, anchor="middle", fill=MUTED))
    width = max(right + 10, key_end)
    return _svg(width, bottom + 40, body, f"Optimization history: {caption}, per trial and cycle")


# -- importances ------------------------------------------------------------------------------

def importance_chart(importances: dict, *, cycle) -> str:
    """Optuna's importance shares as horizontal bars, largest first, on a 0–1 axis shared by every cycle."""
    shares = sorted(((str(k), num(v)) for k, v in (importances or {}).items()), key=lambda kv: -(kv[1] or 0))
    bars = [{"label": k, "value": v, "colour": PALETTE[0]} for k, v in shares]
    # 0.999, not 1: bar_chart rounds its maximum up past an exact 1 (to 2)
    return bar_chart(bars, title=f"Cycle {cycle}: parameter importances", max_value=0.999, width=460,
                     unit="share of importance (the shares sum to 1)")


# -- slices -----------------------------------------------------------------------------------

def _numbers(values) -> list[float]:
    return [v for v in map(num, values) if v is not None]


def _present(value) -> bool:
    """A parameter value to place: None and NaN get no tick and no dot."""
    return value is not None and not (isinstance(value, float) and num(value) is None)


def param_axis(dists: list, observed=()) -> dict:
    """One x axis for a parameter over every cycle's distribution (cycles may narrow the space).

    ``{"kind": "log"|"linear", "low", "high"}`` over the union of the ranges and the observed values,
    or ``{"kind": "choices", "choices"}`` for categorical parameters and small integer ranges.
    """
    dists, observed = [d for d in dists if d], list(observed)
    numeric = all(d.get("type") in ("float", "int") for d in dists) and all(num(v) is not None for v in observed)
    if not numeric or not (dists or observed):
        choices = [c for d in dists for c in d.get("choices") or []] + observed
        return {"kind": "choices", "choices": list(dict.fromkeys(choices))}
    ends = _numbers([d.get(k) for d in dists for k in ("low", "high")] + observed)
    low, high = min(ends), max(ends)
    if all(d.get("type") == "int" for d in dists) and not any(d.get("log") for d in dists) and high - low <= 12:
        return {"kind": "choices", "choices": list(range(int(low), int(high) + 1))}
    log = any(d.get("log") for d in dists) and low > 0
    return {"kind": "log" if log else "linear", "low": low, "high": high}


def axis_fraction(axis: dict, value) -> float | None:
    """Where ``value`` sits on ``axis``, 0 (left) .. 1 (right); None when it cannot be placed."""
    if axis["kind"] == "choices":
        choices = axis["choices"]
        return (choices.index(value) + 0.5) / len(choices) if value in choices else None
    v, low, high = num(value), axis["low"], axis["high"]
    if v is None or (axis["kind"] == "log" and v <= 0):
        return None
    if high <= low:
        return 0.5
    if axis["kind"] == "log":
        return (math.log(v) - math.log(low)) / (math.log(high) - math.log(low))
    return (v - low) / (high - low)


def _axis_ticks(axis: dict) -> list:
    """Tick values: every choice; 1-2-5 steps per decade on a log axis; round steps on a linear one."""
    if axis["kind"] == "choices":
        return list(axis["choices"])
    low, high = axis["low"], axis["high"]
    eps = (high - low) * 1e-9  # 1e-3 computed as 10.0 ** -3 must still count as inside [1e-3, ...]
    inside = lambda ts: [t for t in ts if low - eps <= t <= high + eps]  # noqa: E731
    if axis["kind"] == "log":
        decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        ticks = inside([m * 10.0 ** k for k in decades for m in (1, 2, 5)])
        ticks = ticks if len(ticks) <= 5 else inside([10.0 ** k for k in decades])
    else:
        ticks = inside(nice_range(low, high, 4)[2])
    return ticks if len(ticks) >= 2 else [low, high]


def _tick_text(value, sci: bool = False) -> str:
    """A tick or tooltip value; ``sci`` writes every tick of a small-valued log axis as ``5e-4``."""
    v = num(value)
    if v is None or isinstance(value, int):
        return str(value)
    return short_num(v) if not sci or v == 0 else f"{v:.1e}".replace(".0e", "e").replace("e-0", "e-")


def _fit(label: str, room: float) -> str:
    """A choice's label cut to its slot ("paged_adamw_8bit" -> "paged_ad…"); the dots' tooltips keep it whole."""
    if text_width(label, 10) <= room:
        return label
    while len(label) > 1 and text_width(label + "…", 10) > room:
        label = label[:-1]
    return label + "…"


def _slice_dots(cycles: list[dict], param: str, axis: dict, w: float, ymap) -> list[str]:
    """Each cycle's finished trials as one group of dots in the cycle's colour (nudged apart on choices)."""
    out, inner = [], w - 2 * PAD
    for i, cycle in enumerate(cycles):
        nudge = (i - (len(cycles) - 1) / 2) * 5 if axis["kind"] == "choices" else 0.0
        dots = []
        for t in cycle.get("trials") or []:
            x, v = axis_fraction(axis, (t.get("params") or {}).get(param)), _value(t)
            if x is not None and v is not None:
                tip = f"{t.get('name') or t.get('number')}: {v:.4g} at {_tick_text(t['params'][param])}"
                dots.append(_circle(PAD + inner * x + nudge, ymap(v), tip))
        if dots:
            out.append(f'<g fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.85" stroke="#fff" '
                       f'stroke-width="0.8">{"".join(dots)}</g>')
    return out


def _slice_panel(cycles, param: str, axis: dict, w: float, ymap, ticks, top, bottom) -> list[str]:
    title = param + (" (log scale)" if axis["kind"] == "log" else "")
    out = _panel_frame(w, ticks, ymap, top, bottom, title)
    ticks_x = _axis_ticks(axis)
    sci = axis["kind"] == "log" and min(ticks_x) < 1e-2  # 1e-4 … 1e-2, not 1e-4 … 0.01
    xs = [(PAD + (w - 2 * PAD) * f, _tick_text(t, sci)) for t in ticks_x if (f := axis_fraction(axis, t)) is not None]
    if axis["kind"] == "choices":
        xs = [(x, _fit(label, (w - 2 * PAD) / len(xs) - 6)) for x, label in xs]
    out.append(_path("".join(f"M{x:.1f} {bottom:.1f}v4" for x, _ in xs), MUTED))
    return out + [_tick_row(xs, bottom + 16)] + _slice_dots(cycles, param, axis, w, ymap)


def _searched(cycles: list[dict]) -> list[str]:
    """Every parameter any cycle searched, in the order the cycles first name them."""
    names = [p for c in cycles for p in (c.get("space") or {})]
    names += [p for c in cycles for t in c.get("trials") or [] for p in (t.get("params") or {})]
    return list(dict.fromkeys(names))


def slice_chart(cycles: list[dict], *, columns: int = 4, panel_w: float = 230) -> str:
    """One panel per searched parameter (shared y axis): the objective against the parameter's value."""
    params, top, plot_h, row_h = _searched(cycles), 50, 140, 198
    ymap0, ticks, caption = _y_frame(cycles, top, plot_h)
    legend, _ = _legend_items([(f"cycle {c.get('cycle', '?')}", PALETTE[i % len(PALETTE)])
                               for i, c in enumerate(cycles)], text_width(caption, 11) + 28, 14, size=11)
    body = [_text(4, 14, caption, size=11, fill=MUTED)] + legend
    cols = max(1, min(columns, len(params)))
    for k, param in enumerate(params):
        row, col = divmod(k, cols)
        observed = [v for c in cycles for t in c.get("trials") or []
                    if _present(v := (t.get("params") or {}).get(param))]
        axis = param_axis([(c.get("space") or {}).get(param) for c in cycles], observed)
        panel = _slice_panel(cycles, param, axis, panel_w, ymap0, ticks, top, top + plot_h)
        body.append(_group(AXIS_W + col * (panel_w + GAP), row * row_h, panel))
        if col == 0:
            body.append(_y_labels(ticks, lambda v, dy=row * row_h: ymap0(v) + dy))
    if not params:
        body.append(_text(AXIS_W, top + 20, "no searched parameters", fill=MUTED, style="italic"))
    rows = max(1, math.ceil(len(params) / cols))
    width = max(AXIS_W + cols * (panel_w + GAP) - GAP + 10, text_width(caption, 11) + 40 + 80 * len(cycles))
    return _svg(width, rows * row_h - row_h + top + plot_h + 28, body,
                f"Slices: {caption} against each searched parameter, dots coloured by cycle")
