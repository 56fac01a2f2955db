"""Weave traces of validation samples, made inside Ray Train workers (rank 0) only.

Each validation pass is one ``validation`` call (campaign, cycle, trial, epoch, data
version) with one ``validation_sample`` child per row: the request, the target and the
raw output in, the parsed prediction and its errors out.

The driver has already proved that Weave works (campaign.tracking.weave_check). Tracing must still
never hang a trial or lose its training: every call into Weave runs in a daemon thread with
a deadline, and a failure is printed once, recorded in the trial's details and metrics, and
stops tracing in this worker while training goes on.

``python -m trainables.weave_trace --probe PROJECT`` is the driver's real login check.
"""
from __future__ import annotations

import os
import sys
import threading

from campaign.tracking.weave_check import redact, weave_urls

__all__ = ["trace_validation", "WeaveUnavailable"]

_STATE: dict = {"project": None, "client": None, "ops": None, "error": None}


class WeaveUnavailable(RuntimeError):
    """Weave could not be reached, logged into or flushed in time."""


def _bounded(fn, timeout_s: float, what: str):
    """``fn()``, or WeaveUnavailable if it raises or has not returned after ``timeout_s`` seconds."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - reported to the caller below
            box["error"] = err

    thread = threading.Thread(target=run, name=f"weave: {what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise WeaveUnavailable(f"{what} did not finish within {timeout_s:g} s")
    if "error" in box:
        raise WeaveUnavailable(f"{what} failed: {type(box['error']).__name__}: {box['error']}")
    return box.get("value")


def _make_ops(task):
    import weave

    @weave.op(name="validation_sample", postprocess_inputs=lambda inputs: {k: v for k, v in inputs.items() if k != "row"})
    def validation_sample(id: str, input: str, target: str, output: str, row: dict) -> dict:  # noqa: A002 - names shown
        return task.row_errors(row, output)

    # The samples are logged by the children; the parent logs only its context.
    @weave.op(name="validation", postprocess_inputs=lambda inputs: {"context": inputs["context"]})
    def validation(context: dict, samples: list) -> dict:
        errors = [validation_sample(**s)["error"] for s in samples]
        valid = [e for e in errors if e is not None]
        return {"n": len(errors), "n_valid": len(valid), "mae": sum(valid) / len(valid) if valid else None}

    return validation


def _connect(project: str, timeout_s: float) -> None:
    if _STATE["client"] is not None and _STATE["project"] == project:
        return
    if not os.environ.get("WANDB_API_KEY"):
        raise WeaveUnavailable("WANDB_API_KEY is not set in this worker, so weave.init would wait for a login")
    import logging

    import weave

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per upload otherwise
    url = weave_urls(os.environ)["trace"]
    _STATE["client"] = _bounded(lambda: weave.init(project), timeout_s, f"weave.init({project!r}) at {url}")
    _STATE["project"], _STATE["ops"] = project, {}


def trace_validation(task, rows: list[dict], outputs: list[str], context: dict, tracking: dict) -> dict:
    """Trace one validation pass; return ``{"traced": n, "error": None or why}`` and never raise."""
    if _STATE["error"] is not None:
        return {"traced": 0, "error": _STATE["error"]}
    timeout = float(tracking["weave_timeout_s"])
    samples = [{"id": r["id"], "input": task.input_text(r), "target": task.target(r), "output": o, "row": r}
               for r, o in zip(rows, outputs)]
    try:
        import weave

        _connect(tracking["weave_project"] or tracking["wandb_project"], timeout)
        with weave.attributes({k: v for k, v in context.items() if v is not None}):
            if task.spec.kind not in _STATE["ops"]:
                _STATE["ops"][task.spec.kind] = _make_ops(task)
            _STATE["ops"][task.spec.kind](context, samples)
        _bounded(_STATE["client"].flush, timeout, "flushing Weave traces")
    except Exception as err:  # noqa: BLE001 - tracing never fails a trial; the reason is kept
        _STATE["error"] = redact(f"Weave tracing stopped: {err}", os.environ)
        print(f"WARNING: {_STATE['error']}; training goes on without traces", file=sys.stderr, flush=True)
        return {"traced": 0, "error": _STATE["error"]}
    return {"traced": len(samples), "error": None}


def _probe(project: str) -> int:
    """Log in and open ``project`` once; stdin is closed by the caller, so a login prompt fails at once."""
    import weave

    client = weave.init(project)
    print(f"weave ok: {client.entity}/{client.project}", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--probe":
        sys.exit("usage: python -m trainables.weave_trace --probe PROJECT")
    code = _probe(sys.argv[2])
    sys.stdout.flush()
    os._exit(code)  # skip Weave's exit-time flush: nothing was traced, and it must not delay the driver
