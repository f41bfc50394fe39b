"""A FAKE external 一窗受理 (one-window acceptance) system for tests: the status contract of
core/status_sources.HttpStatusSource, served from memory on 127.0.0.1.

    GET /applications/{number}?verify=FACTOR   Authorization: Bearer TOKEN
      200 status view | 404 unknown number or wrong factor | 401 bad token
    GET /health                                 200

Run by hand: python tests/fakes/fake_yichuang_server.py --port 8765 --token t
"""
from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


class FakeYichuang:
    def __init__(self, token: str = "fake-token") -> None:
        self.token = token
        self.records: dict[str, dict] = {}   # number -> {"factors": set, "view": dict}
        self.requests: list[dict] = []        # what the adapter sent, for assertions
        self.fail_with: int | None = None     # force an HTTP status (outage simulation)
        self._server: ThreadingHTTPServer | None = None

    def add(self, number: str, factors: list[str], overall: str, items: list[dict], guide: str = "") -> None:
        self.records[number] = {"factors": {f.upper() for f in factors}, "view": {
            "number": number, "guide": guide, "overall": overall, "items": items, "updated_at": "2025-03-01T08:00:00+08:00"}}

    def start(self, port: int = 0) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: dict) -> None:
                raw = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                fake.requests.append({"path": url.path, "query": parse_qs(url.query),
                                      "auth": self.headers.get("Authorization")})
                if url.path == "/health":
                    return self._send(200, {"status": "ok"})
                if fake.fail_with:
                    return self._send(fake.fail_with, {"error": "forced"})
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"error": "unauthorized"})
                parts = url.path.strip("/").split("/")
                if len(parts) != 2 or parts[0] != "applications":
                    return self._send(404, {"error": "not found"})
                record = fake.records.get(unquote(parts[1]))
                verify = (parse_qs(url.query).get("verify") or [""])[0].upper()
                if record is None or verify not in record["factors"]:
                    return self._send(404, {"error": "not found"})
                return self._send(200, record["view"])

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="fake-token")
    args = parser.parse_args()
    server = FakeYichuang(args.token)
    server.add("NM20250301FAKE2345", ["1234"], "需补正", [
        {"name": "户口登记", "status": "需补正", "note": "请补交落户方居民户口簿原件", "due": "2025-03-15"}], "新生儿出生一件事")
    print("fake 一窗受理 at", server.start(args.port), "(Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
