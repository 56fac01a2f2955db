"""Tables the CLI prints: a cycle's trials and timing, and a campaign's status."""
from __future__ import annotations

from rich.table import Table

from campaign.core.progress import console
from campaign.reporting.snapshot import orchestration_line, summary_columns, summary_rows, timing_rows

__all__ = ["print_cycle_tables", "status_table"]


def print_cycle_tables(snapshot: dict) -> None:
    table = Table(title=f"{snapshot['campaign']} · cycle {snapshot['cycle']} · frozen eval set "
                        f"({snapshot['eval_set']['rows']} rows)")
    for col in summary_columns(snapshot):
        table.add_column(col)
    for row in summary_rows(snapshot):
        table.add_row(*row)
    console.print(table)
    timing = Table(title="where each trial's wall time went (seconds, share of wall)")
    for col in ("trial", "wall", "Ray worker start", "model load", "train", "eval", "other", "train tokens/s"):
        timing.add_column(col)
    for row in timing_rows(snapshot):
        timing.add_row(*row)
    console.print(timing)
    if snapshot.get("orchestration"):
        console.print(orchestration_line(snapshot["orchestration"]), markup=False)


def status_table(rows: list[dict]) -> Table:
    """One row per cycle: status, data, focus, trial counts, best so far, gate."""
    table = Table(title="cycles")
    for col in ("cycle", "status", "data", "focus", "trials done / running / failed / pending", "best so far",
                "gate"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["cycle"]), r["status"], r["data_version"] or "—", ", ".join(r["focus_facets"]) or "—",
                      r["counts"], r["best"], r["gate"])
    return table
