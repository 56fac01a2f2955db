"""Small hand-written inline SVG charts for the campaign report.

No matplotlib (not installed) and no JavaScript: every chart is a plain ``<svg>`` string that a
browser renders from ``file://``. Missing values (None, NaN, inf) never crash a chart; they are
drawn as a labelled gap. The SVGs carry no ``xmlns`` URL: inline SVG in HTML does not need one,
and the report promises no URL of any kind. No ``id`` attributes either, so many charts can share
one page without clashing.
"""
from __future__ import annotations

import math
from html import escape

__all__ = ["PALETTE", "num", "fmt", "short_num", "text_width", "nice_range", "heat_colour", "legend", "bar_chart",
           "grouped_bar_chart", "heatmap"]

# Tableau-10: distinguishable, and still readable in grey scale.
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")
INK, MUTED, GRID, GAP = "#1f2933", "#6b7785", "#e3e8ee", "#9aa5b1"
# YlOrRd stops: light = small error, dark red = large error.
_HEAT = ((255, 255, 204), (254, 217, 118), (253, 141, 60), (227, 26, 28), (128, 0, 38))


def num(value) -> float | None:
    """A finite float, or None for anything missing or not a number (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def fmt(value, digits: int = 2) -> str:
    """Fixed decimals; a missing value is an em dash, never 'None' or 'nan'."""
    v = num(value)
    return "—" if v is None else f"{v:.{digits}f}"


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Rough rendered width, erring wide: CJK glyphs are square, Latin about 0.62 em, bold ~12% wider."""
    width = sum(size * (1.0 if ord(ch) >= 0x2E80 else 0.62) for ch in str(text))
    return width * 1.12 if bold else width


def _attr(value) -> str:
    return escape(str(value), quote=True)


def _text(x, y, s, *, size=12, anchor="start", fill=INK, weight="normal", style="") -> str:
    extra = f' font-style="{style}"' if style else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}"{extra}>{escape(str(s))}</text>')


def _rect(x, y, w, h, fill, *, stroke="none", dash="", rx=2, title="") -> str:
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    tip = f"<title>{escape(title)}</title>" if title else ""
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" rx="{rx}" '
            f'fill="{fill}" stroke="{stroke}"{dash_attr}>{tip}</rect>')


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    w, h = math.ceil(width), math.ceil(height)
    return (f'<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
            f'aria-label="{_attr(label)}"><title>{escape(label)}</title>{"".join(body)}</svg>')


def _nice_max(value: float) -> float:
    """Round an axis maximum up to 1, 2, 2.5 or 5 × 10^k so the tick labels are round numbers."""
    if value <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(value))
    return next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= value * 1.0001)


def _tick_label(v: float) -> str:
    return f"{v:g}"


def short_num(v: float) -> str:
    """A compact tick label: ``5e-4`` for learning-rate-sized numbers, ``0.25`` or ``12`` otherwise."""
    if v != 0 and not 1e-2 <= abs(v) < 1e5:
        mantissa, exponent = f"{v:.1e}".split("e")
        return f"{mantissa.removesuffix('.0')}e{int(exponent)}"
    return f"{v:.3g}"


def nice_range(lo: float, hi: float, count: int = 4) -> tuple[float, float, list[float]]:
    """An axis range widened to round ticks (steps of 1, 2, 2.5 or 5 × 10^k) around ``lo``..``hi``.

    Unlike ``_nice_max`` it need not start at 0: a search objective lives in a narrow band.
    """
    if hi - lo <= 0:  # one value (or none): a band of ±5% (±1 around 0) so the dot sits mid-axis
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw * (1 - 1e-9))
    lo_t, hi_t = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    ticks = [round(lo_t + i * step, 12) for i in range(round((hi_t - lo_t) / step) + 1)]
    return ticks[0], ticks[-1], ticks


def heat_colour(t: float) -> str:
    """Colour for a 0..1 position on the YlOrRd scale."""
    t = min(max(t, 0.0), 1.0) * (len(_HEAT) - 1)
    i = min(int(t), len(_HEAT) - 2)
    a, b, f = _HEAT[i], _HEAT[i + 1], t - i
    return "#" + "".join(f"{round(a[k] + (b[k] - a[k]) * f):02x}" for k in range(3))


def _ink_on(t: float) -> str:
    """Dark text on the light end of the scale, white on the dark end."""
    return INK if t < 0.55 else "#ffffff"


def _legend_items(entries, x: float, y: float, size: int = 12) -> tuple[list[str], float]:
    """Swatch + label pairs in one row; returns the SVG parts and the row's width."""
    parts, cx = [], x
    for label, colour in entries:
        parts.append(_rect(cx, y - size + 2, size, size, colour))
        parts.append(_text(cx + size + 5, y, label, size=size, fill=INK))
        cx += size + 5 + text_width(label, size) + 16
    return parts, cx - x


def legend(entries) -> str:
    """A standalone one-row legend: ``entries`` is a list of (label, colour)."""
    parts, width = _legend_items(entries, 4, 16)
    return _svg(width + 8, 24, parts, "legend")


def _bar_row(bar: dict, y: float, x0: float, plot_w: float, vmax: float, row_h: float) -> list[str]:
    """One horizontal bar with its label, value and note; a missing value is a dashed gap."""
    label = ("★ " if bar.get("highlight") else "") + str(bar.get("label", ""))
    weight = "bold" if bar.get("highlight") else "normal"
    mid = y + row_h / 2 + 4
    out = [_text(x0 - 8, mid, label, anchor="end", weight=weight)]
    value, note = num(bar.get("value")), bar.get("note") or ""
    if value is None:
        gap = str(bar.get("gap") or "—")
        out.append(_rect(x0, y + 5, 18, row_h - 10, "none", stroke=GAP, dash="3 2", title=f"{label}: {gap}"))
        end = x0 + 26
        out.append(_text(end, mid, gap, fill=bar.get("gap_colour", "#b42318"), style="italic", weight="bold"))
        end += text_width(gap, 12) + 10
    else:
        w = plot_w * value / vmax if vmax else 0
        colour = bar.get("colour") or PALETTE[0]
        out.append(_rect(x0, y + 4, max(w, 1.5), row_h - 8, colour, title=f"{label}: {value:.2f}"))
        out.append(_text(x0 + w + 6, mid, f"{value:.2f}", weight=weight))
        end = x0 + w + 6 + text_width(f"{value:.2f}", 12) + 10
    if note:
        out.append(_text(end, mid, note, size=11, fill=MUTED))
    return out


def bar_chart(bars: list[dict], *, title: str, unit: str = "", max_value: float | None = None,
              width: int = 760) -> str:
    """Horizontal bars, one row each: label, value, optional note; None values become gaps.

    A bar is a dict: ``label``, ``value`` (number or None), optional ``note`` (muted text after
    the value), ``gap`` (text shown for a None value), ``colour`` and ``highlight`` (★, bold).
    """
    row_h, top, bottom = 28, 10, 34
    label_w = min(max([text_width(("★ " if b.get("highlight") else "") + str(b.get("label", "")), 12,
                                  bool(b.get("highlight"))) for b in bars] + [40]) + 20, 280)
    note_w = max([text_width(f"{b.get('note') or ''}", 11) for b in bars] + [0])
    x0 = label_w
    plot_w = max(width - x0 - 70 - note_w, 160)
    values = [v for v in (num(b.get("value")) for b in bars) if v is not None]
    vmax = _nice_max(max(values + [num(max_value) or 0.0]))
    height = top + row_h * max(len(bars), 1) + bottom
    axis_y = top + row_h * max(len(bars), 1)
    body = []
    for i in range(6):  # vertical grid lines with round tick labels
        x = x0 + plot_w * i / 5
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" stroke="{GRID}"/>')
        body.append(_text(x, axis_y + 14, _tick_label(vmax * i / 5), size=10, anchor="middle", fill=MUTED))
    body.append(f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{axis_y}" stroke="{MUTED}"/>')
    if unit:
        body.append(_text(x0 + plot_w / 2, axis_y + 29, unit, size=11, anchor="middle", fill=MUTED))
    if not bars:
        body.append(_text(x0 + 8, top + 18, "no data", fill=MUTED, style="italic"))
    for i, bar in enumerate(bars):
        body += _bar_row(bar, top + i * row_h, x0, plot_w, vmax, row_h)
    return _svg(max(width, x0 + plot_w + 70 + note_w), height, body, title)


def _grouped_bar(x, value, colour, base_y, plot_h, vmax, bar_w, label) -> list[str]:
    v = num(value)
    if v is None:
        return [_rect(x, base_y - 14, bar_w, 14, "none", stroke=GAP, dash="3 2", title=f"{label}: —"),
                _text(x + bar_w / 2, base_y - 18, "—", size=11, anchor="middle", fill=MUTED)]
    h = plot_h * v / vmax if vmax else 0
    return [_rect(x, base_y - h, bar_w, max(h, 1.5), colour, title=f"{label}: {v:.2f}"),
            _text(x + bar_w / 2, base_y - h - 4, f"{v:.2f}", size=10, anchor="middle", weight="bold")]


def grouped_bar_chart(groups: list[str], series: list[str], values: list[list], *, title: str,
                      unit: str = "", colours=None) -> str:
    """Vertical bars: one cluster per group, one bar per series, each bar labelled with its value.

    ``values[g][s]`` is the number for group ``g`` and series ``s`` (None draws a dashed stub).
    The caption and legend sit in their own rows above the plot so they never overlap the bars.
    """
    colours = list(colours or PALETTE)
    bar_w, inner, outer, left, top, plot_h = 40, 4, 24, 44, 64, 200
    bars_w = len(series) * bar_w + max(len(series) - 1, 0) * inner
    group_w = max([bars_w] + [text_width(g, 12) + 8 for g in groups])
    width = max(left + len(groups) * (group_w + outer) + 10, 360)
    base_y = top + plot_h
    found = [num(v) for row in values for v in row]
    vmax = _nice_max(max([v for v in found if v is not None] + [0.0]))
    body = []
    if unit:
        body.append(_text(4, 14, unit, size=11, fill=MUTED))
    parts, _ = _legend_items([(s, colours[i % len(colours)]) for i, s in enumerate(series)], left, 38)
    body += parts
    for i in range(5):  # horizontal grid with round tick labels
        y = base_y - plot_h * i / 4
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, _tick_label(vmax * i / 4), size=10, anchor="end", fill=MUTED))
    body.append(f'<line x1="{left}" y1="{base_y}" x2="{width - 10}" y2="{base_y}" stroke="{MUTED}"/>')
    for g, group in enumerate(groups):
        gx = left + outer / 2 + g * (group_w + outer)
        bx = gx + (group_w - bars_w) / 2
        for s, name in enumerate(series):
            value = values[g][s] if g < len(values) and s < len(values[g]) else None
            body += _grouped_bar(bx + s * (bar_w + inner), value, colours[s % len(colours)], base_y,
                                 plot_h, vmax, bar_w, f"{group}, {name}")
        body.append(_text(gx + group_w / 2, base_y + 18, group, size=12, anchor="middle"))
    return _svg(width, base_y + 30, body, title)


def _colour_scale(x: float, y: float, vmin: float, vmax: float, caption: str) -> list[str]:
    """A stepped colour bar (no gradient: gradients need document-wide ids) with its end values."""
    steps, w, h = 24, 8, 12
    out = [_rect(x + i * w, y, w + 0.5, h, heat_colour(i / (steps - 1)), rx=0) for i in range(steps)]
    out.append(_text(x, y + h + 13, f"{vmin:.2f}", size=10, fill=MUTED))
    out.append(_text(x + steps * w, y + h + 13, f"{vmax:.2f}", size=10, anchor="end", fill=MUTED))
    out.append(_text(x + steps * w + 10, y + h - 2, caption, size=11, fill=MUTED))
    return out


def heatmap(rows: list[str], cols: list[str], values: list[list], *, title: str,
            vmin: float | None = None, vmax: float | None = None, highlight: int | None = None,
            caption: str = "lower is better") -> str:
    """A rows × cols grid coloured by value, each cell labelled with its number; None cells are grey '—'.

    ``vmin``/``vmax`` fix the colour range (pass the same range to several heatmaps to compare them).
    """
    cell_w = max([text_width(c, 11) + 8 for c in cols] + [60])
    cell_h, top = 28, 26
    left = min(max([text_width(("★ " if i == highlight else "") + r, 12, i == highlight)
                    for i, r in enumerate(rows)] + [30]) + 20, 260)
    found = [v for v in (num(x) for row in values for x in row) if v is not None]
    lo = num(vmin) if num(vmin) is not None else min(found, default=0.0)
    hi = num(vmax) if num(vmax) is not None else max(found, default=1.0)
    span = (hi - lo) or 1.0
    body = [_text(left + j * cell_w + cell_w / 2, top - 8, c, size=11, anchor="middle", fill=MUTED)
            for j, c in enumerate(cols)]
    for i, row in enumerate(rows):
        y = top + i * cell_h
        star = i == highlight
        body.append(_text(left - 8, y + cell_h / 2 + 4, ("★ " if star else "") + row, anchor="end",
                          weight="bold" if star else "normal"))
        for j, col in enumerate(cols):
            v = num(values[i][j]) if i < len(values) and j < len(values[i]) else None
            x = left + j * cell_w
            t = 0.0 if v is None else (v - lo) / span
            fill = "#eef1f4" if v is None else heat_colour(t)
            body.append(_rect(x + 1, y + 1, cell_w - 2, cell_h - 2, fill, title=f"{row} · {col}: {fmt(v)}"))
            body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, fmt(v), size=11, anchor="middle",
                              fill=MUTED if v is None else _ink_on(t)))
    grid_bottom = top + max(len(rows), 1) * cell_h
    body += _colour_scale(left, grid_bottom + 10, lo, hi, caption)
    width = max(left + len(cols) * cell_w + 8, left + 200 + text_width(caption, 11))
    return _svg(width, grid_bottom + 44, body, title)
