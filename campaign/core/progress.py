"""Progress output for long steps: one line per step with its duration."""
from __future__ import annotations

import contextlib
import sys
import time

from rich.console import Console

# Logs (job output, CI) are not terminals: give tables room instead of rich's default 80 columns.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)

__all__ = ["console", "step"]


@contextlib.contextmanager
def step(what: str):
    """Print ``▸ what …`` then ``✓ what (1.2s)``, or ``✗`` with the time when it fails."""
    console.print(f"[bold cyan]▸[/] {what} …")
    t = time.time()
    try:
        yield
    except BaseException:
        console.print(f"[bold red]✗[/] {what} failed after {time.time() - t:.1f}s")
        raise
    console.print(f"[bold green]✓[/] {what} ({time.time() - t:.1f}s)")
