"""What the FAKE outside systems share: a JSON-over-HTTP server on 127.0.0.1, started and stopped by a test.

A fake subclasses FakeJsonServer and names its request handler (a JsonHandler subclass, which reaches the fake's
state as `self.fake`); `run_by_hand` serves one from the command line until Ctrl-C.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class JsonHandler(BaseHTTPRequestHandler):
    fake: ClassVar[Any] = None

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def send_json(self, status: int, body: dict) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def read_json(self) -> Any:
        """The request's JSON body ({} when empty), or None when it is not JSON."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None


class FakeJsonServer:
    handler: ClassVar[type[JsonHandler]]
    _server: ThreadingHTTPServer | None = None

    def start(self, port: int = 0) -> str:
        """Serve in a background thread; returns the base URL."""
        bound = type(self.handler.__name__, (self.handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), bound)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Take the fake off the network (a system that is down)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def run_by_hand(server: FakeJsonServer, port: int, what: str) -> None:
    print(what, "at", server.start(port), "(Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
