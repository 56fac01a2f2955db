"""A local stand-in for a W&B server with Weave's trace API, for the tests (no network).

Weave reaches it as a self-hosted W&B would be reached: ``WANDB_BASE_URL=http://127.0.0.1:<port>``
(trace API under ``/traces``). It answers the few GraphQL queries weave.init makes, the
trace server's ``server_info``, object/file/table creation, and records every finished
call Weave sends. ``silent=True`` accepts connections and never answers, like a server
behind a broken proxy: the case in which an unguarded ``weave.init`` waits forever.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["WeaveStub"]


def _graphql(query: str) -> dict:
    if "project(" in query:
        return {"project": {"name": "campaign-tests"}}
    if "upsertModel" in query:
        return {"upsertModel": {"model": {"name": "campaign-tests"}}}
    return {"viewer": {"id": "u1", "username": "tester", "entity": "tester", "defaultEntity": {"name": "tester"},
                       "teams": {"edges": []}}}


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self._answer(b"")

    def do_POST(self):
        self._answer(self.rfile.read(int(self.headers.get("content-length") or 0)))

    def _answer(self, body: bytes) -> None:
        stub = self.server.stub
        if stub.silent:
            time.sleep(3600)  # the connection stays open and never gets an answer
            return
        path = self.path.split("?")[0]
        stub.requests.append(path)
        if path.startswith("/graphql"):
            out = {"data": _graphql(json.loads(body or b"{}").get("query", ""))}
        elif path.endswith("/server_info"):
            out = {"min_required_weave_python_version": "0.0.1", "trace_server_version": "99.0.0"}
        elif path.endswith(("/obj/create", "/file/create", "/table/create")):
            out = {"digest": hashlib.sha256(body).hexdigest()[:43], "row_digests": []}
        else:
            out = {}
            if path.endswith("/calls/complete"):
                stub.calls.extend(json.loads(body)["batch"])
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: "WeaveStub"


class WeaveStub:
    """``with WeaveStub() as stub:`` serves on 127.0.0.1; ``stub.env`` points Weave at it."""

    def __init__(self, silent: bool = False):
        self.silent, self.calls, self.requests = silent, [], []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.env = {"WANDB_BASE_URL": self.url, "WANDB_API_KEY": "local-stub-key-" + "0" * 25}

    def __enter__(self) -> "WeaveStub":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def traced(self, op: str) -> list[dict]:
        """Finished calls of the op named ``op`` (e.g. ``validation_sample``)."""
        return [c for c in self.calls if f"/op/{op}:" in c.get("op_name", "")]
