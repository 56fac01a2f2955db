"""HTML building blocks of the report: escaping, tables, badges and sections (no scripts, no URLs)."""
from __future__ import annotations

import html

__all__ = ["Raw", "esc", "cell", "table", "badge", "section"]


class Raw(str):
    """HTML that is already safe: tables and sections do not escape it again."""


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def cell(value) -> str:
    if isinstance(value, Raw):
        return value
    return "—" if value is None else esc(value)


def table(headers: list[str], rows: list, numeric=frozenset(), nowrap=frozenset({0}), cls_name="") -> Raw:
    """A plain table; ``numeric`` columns are right-aligned, ``nowrap`` ones never wrap.

    A row given as ``Raw`` is a whole ready-made ``<tr>`` (a full-width error line).
    """
    def cls(j):
        names = ["n"] * (j in numeric) + ["nw"] * (j in nowrap)
        return f' class="{" ".join(names)}"' if names else ""
    head = "".join(f"<th{cls(j)}>{esc(h)}</th>" for j, h in enumerate(headers))
    body = "".join(r if isinstance(r, Raw) else
                   "<tr>" + "".join(f"<td{cls(j)}>{cell(c)}</td>" for j, c in enumerate(r)) + "</tr>"
                   for r in rows)
    table_cls = f' class="{esc(cls_name)}"' if cls_name else ""
    return Raw(f"<table{table_cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def badge(kind: str, text: str) -> Raw:
    return Raw(f'<span class="badge b-{esc(kind)}">{esc(text)}</span>')


def section(sid: str, title: str, body: str) -> str:
    return f'<section id="{esc(sid)}"><h2>{esc(title)}</h2>{body}</section>'
