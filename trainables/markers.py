"""Names of files a trial writes that both the Tune function and the Train worker must agree on."""
from __future__ import annotations

__all__ = ["FINAL_MARKER"]

FINAL_MARKER = "final.json"  # written into the last epoch's checkpoint by the worker
