"""The data / search / noise split of a cycle (``decide.effects``) for the console, the decision log and the report."""
from __future__ import annotations

from campaign.reporting.html_parts import Raw, esc, table

__all__ = ["effect_lines", "effects_markdown", "effects_html"]

_LABEL = {"noise": "noise", "data": "data effect", "search": "search effect", "total": "total"}
_MODEL = {"previous_best": "previous best", "control": "control", "data_trial": "data trial", "best": "best"}


def _who(step: dict, side: str) -> str:
    trial = step.get(f"{side}_trial")
    return _MODEL[step[side]] + (f" (trial {trial})" if trial is not None else "")


def _iv(c: dict) -> str:
    """``+0.12 [−0.30, +0.55] p=0.41``: mean difference, its interval and p-value."""
    return f"{c['diff']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] p={c['p_value']:.2g}"


def _rows(effects: dict, primary: str) -> list[tuple[dict, list[str]]]:
    """Per step: the step and its cells (primary metric, then each focus facet)."""
    out = []
    for step in effects["steps"]:
        if "missing" in step:
            out.append((step, [step["missing"]] + [""] * len(effects["focus_facets"])))
            continue
        out.append((step, [_iv(step["primary"])] + [_iv(step["facets"][f]) for f in effects["focus_facets"]]))
    return out


def effect_lines(effects: dict | None, primary: str) -> list[str]:
    """Console lines: one per step, the primary metric's change and each focus facet's."""
    if not effects:
        return []
    focus = effects["focus_facets"]
    lines = [f"what changed eval error (paired over eval rows, {effects['confidence']:.0%} interval; negative = better):"]
    for step, cells in _rows(effects, primary):
        facets = "; ".join(f"{f} {c}" for f, c in zip(focus, cells[1:]))
        lines.append(f"  {_LABEL[step['step']]:<13} {_who(step, 'candidate')} vs {_who(step, 'reference')}: "
                     f"{primary} {cells[0]}" + (f"; {facets}" if facets else ""))
    return lines


def effects_markdown(effects: dict | None, primary: str) -> list[str]:
    """The decision log's section (empty without a control)."""
    if not effects:
        return []
    focus = effects["focus_facets"]
    lines = ["## What changed the result: data, search, noise", "",
             "Paired over the frozen eval rows: mean error difference (candidate − reference), its "
             f"{effects['confidence']:.0%} bootstrap interval and paired p-value; negative = lower error. "
             "noise + data effect + search effect = total.", "",
             "| step | candidate vs reference | what differs | " + " | ".join([primary, *focus]) + " |",
             "|---|---|---|" + "---|" * (1 + len(focus))]
    for step, cells in _rows(effects, primary):
        lines.append(f"| {_LABEL[step['step']]} | {_who(step, 'candidate')} vs {_who(step, 'reference')} | "
                     f"{step['what']} | " + " | ".join(cells) + " |")
    return lines + [""]


def effects_html(effects: dict | None, primary: str) -> str:
    """The report's table under the cycle's gate (empty without a control)."""
    if not effects:
        return ""
    focus = effects["focus_facets"]
    rows = [[_LABEL[step["step"]], f"{_who(step, 'candidate')} vs {_who(step, 'reference')}", *cells]
            for step, cells in _rows(effects, primary)]
    note = (f"<p class='line'>What changed the eval error, paired over the eval rows: mean difference "
            f"[{effects['confidence']:.0%} interval] p-value; negative = lower error.</p>")
    return Raw(note + table(["step", "candidate vs reference", esc(primary), *focus], rows,
                            set(range(2, 3 + len(focus))), {0}))
