"""A FAKE external 一窗受理 (one-window acceptance) system for tests: the status contract of
core/status_sources.HttpStatusSource, served from memory on 127.0.0.1.

    GET /applications/{number}?verify=FACTOR   Authorization: Bearer TOKEN
      200 status view | 404 unknown number or wrong factor | 401 bad token
    GET /health                                 200

Run by hand: python -m tests.fakes.fake_yichuang_server --port 8765 --token t
"""
from __future__ import annotations

import argparse
from urllib.parse import parse_qs, unquote, urlparse

from tests.fakes.json_http import FakeJsonServer, JsonHandler, run_by_hand


class YichuangHandler(JsonHandler):
    def do_GET(self) -> None:
        fake = self.fake
        url = urlparse(self.path)
        fake.requests.append({"path": url.path, "query": parse_qs(url.query),
                              "auth": self.headers.get("Authorization")})
        if url.path == "/health":
            return self.send_json(200, {"status": "ok"})
        if fake.fail_with:
            return self.send_json(fake.fail_with, {"error": "forced"})
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            return self.send_json(401, {"error": "unauthorized"})
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "applications":
            return self.send_json(404, {"error": "not found"})
        record = fake.records.get(unquote(parts[1]))
        verify = (parse_qs(url.query).get("verify") or [""])[0].upper()
        if record is None or verify not in record["factors"]:
            return self.send_json(404, {"error": "not found"})
        return self.send_json(200, record["view"])


class FakeYichuang(FakeJsonServer):
    handler = YichuangHandler

    def __init__(self, token: str = "fake-token") -> None:
        self.token = token
        self.records: dict[str, dict] = {}   # number -> {"factors": set, "view": dict}
        self.requests: list[dict] = []        # what the adapter sent, for assertions
        self.fail_with: int | None = None     # force an HTTP status (outage simulation)

    def add(self, number: str, factors: list[str], overall: str, items: list[dict], guide: str = "") -> None:
        self.records[number] = {"factors": {f.upper() for f in factors}, "view": {
            "number": number, "guide": guide, "overall": overall, "items": items, "updated_at": "2025-03-01T08:00:00+08:00"}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="fake-token")
    args = parser.parse_args()
    server = FakeYichuang(args.token)
    server.add("NM20250301FAKE2345", ["1234"], "需补正", [
        {"name": "户口登记", "status": "需补正", "note": "请补交落户方居民户口簿原件", "due": "2025-03-15"}], "新生儿出生一件事")
    run_by_hand(server, args.port, "fake 一窗受理")
