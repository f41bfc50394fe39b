"""A FAKE city 12345 工单 platform for tests: the HTTP contract of core/tickets/platforms.HttpTicketPlatform,
served from memory on 127.0.0.1.

    POST /tickets          Authorization: Bearer TOKEN, Idempotency-Key: NUMBER
      201 {"id"} new | 200 {"id"} the same number again (a returned ticket is dispatched again to the
      department sent) | 401 bad token | 422 no number
    GET /tickets/{id}      200 {"id", "number", "state", "department", "reason", "replies": [...]} | 404 | 401
    GET /health            200

`fail_with` answers every request (but /health) with that status; `fail_next` answers only the next n
requests with 503 (a platform that recovers, for the retries); `stop()` takes it off the network (down).
A test plays the department with `set_state(...)` and `add_reply(...)`.

Run by hand: python -m tests.fakes.fake_ticket_platform_server --port 8766 --token t
"""
from __future__ import annotations

import argparse
import itertools
import threading
from urllib.parse import unquote, urlparse

from tests.fakes.json_http import FakeJsonServer, JsonHandler, run_by_hand


class TicketPlatformHandler(JsonHandler):
    def _refuse(self) -> bool:
        """Outage simulation and the token check; True when the request was answered already."""
        fake = self.fake
        if fake.fail_with:
            self.send_json(fake.fail_with, {"message": "forced failure"})
            return True
        if fake.fail_next > 0:
            fake.fail_next -= 1
            self.send_json(503, {"message": "temporarily unavailable"})
            return True
        if self.headers.get("Authorization") != f"Bearer {fake.token}":
            self.send_json(401, {"message": "unauthorized"})
            return True
        return False

    def do_GET(self) -> None:
        fake = self.fake
        path = urlparse(self.path).path
        fake.requests.append({"method": "GET", "path": path, "auth": self.headers.get("Authorization")})
        if path == "/health":
            return self.send_json(200, {"status": "ok"})
        if self._refuse():
            return None
        parts = path.strip("/").split("/")
        record = fake.tickets.get(unquote(parts[1])) if len(parts) == 2 and parts[0] == "tickets" else None
        if record is None:
            return self.send_json(404, {"message": "no such ticket"})
        return self.send_json(200, {k: v for k, v in record.items() if k != "body"})

    def do_POST(self) -> None:
        fake = self.fake
        path = urlparse(self.path).path
        body = self.read_json()
        fake.requests.append({"method": "POST", "path": path, "auth": self.headers.get("Authorization"),
                              "idempotency_key": self.headers.get("Idempotency-Key"), "body": body})
        if self._refuse():
            return None
        if path != "/tickets":
            return self.send_json(404, {"message": "not found"})
        if not isinstance(body, dict) or not body.get("number"):
            return self.send_json(422, {"message": "number is required"})
        with fake._lock:
            existing = fake.by_number(body["number"])
            if existing is not None:          # sent again: a retry, or re-dispatched after a return
                if existing["state"] == "returned":
                    existing.update(state="dispatched", department=body.get("department") or "", reason="")
                existing["body"] = body
                return self.send_json(200, {"id": existing["id"]})
            platform_id = f"PF{next(fake._ids):06d}"
            fake.tickets[platform_id] = {"id": platform_id, "number": body["number"], "state": "dispatched",
                                         "department": body.get("department") or "", "reason": "",
                                         "replies": [], "body": body}
        return self.send_json(201, {"id": platform_id})


class FakeTicketPlatform(FakeJsonServer):
    handler = TicketPlatformHandler

    def __init__(self, token: str = "fake-platform-token") -> None:
        self.token = token
        self.tickets: dict[str, dict] = {}    # platform id -> {"id", "number", "state", ..., "body": what we sent}
        self.requests: list[dict] = []         # what the adapter sent, for assertions
        self.fail_with: int | None = None
        self.fail_next = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- the department's side -----------------------------------------------------------------------------
    def by_number(self, number: str) -> dict | None:
        return next((t for t in self.tickets.values() if t["number"] == number), None)

    def set_state(self, number: str, state: str, reason: str = "") -> None:
        record = self.by_number(number)
        record["state"], record["reason"] = state, reason

    def add_reply(self, number: str, text: str, *, public: bool = True, department: str = "") -> str:
        record = self.by_number(number)
        reply_id = f"R{len(record['replies']) + 1}"
        record["replies"].append({"id": reply_id, "text": text, "at": "2025-03-03T10:00:00+08:00", "public": public,
                                  "department": department or record["department"]})
        return reply_id


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--token", default="fake-platform-token")
    args = parser.parse_args()
    server = FakeTicketPlatform(args.token)
    run_by_hand(server, args.port, "fake 12345 工单 platform")
