"""Shared fixtures. The live stack (Rasa + action server + gateway) starts once per test session,
on free ports with a throw-away data directory, only when a test asks for it."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.stack import StackError, running_stack  # noqa: E402


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory):
    extra = {"RATE_LIMIT_PER_MINUTE": os.environ.get("RATE_LIMIT_PER_MINUTE", "40"), "ADMIN_TOKEN": "test-admin-token",
             # every test talks from 127.0.0.1: the per-address limit must not count the whole suite as one caller
             "RATE_LIMIT_PER_CLIENT_PER_MINUTE": "100000",
             # voice line: the gateway's SIP endpoint on a free UDP port (tests/integration/test_voice_sip.py)
             "SIP_PORT": str(free_udp_port())}
    try:
        with running_stack(tmp_path_factory.mktemp("hotline-data"), extra) as stack:
            yield stack
    except StackError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def live_gateway(live_stack) -> str:
    return live_stack["url"]


def chat_session(base_url: str) -> dict:
    """A new conversation as the gateway issues it: {"sender", "token"} (the token proves it is ours)."""
    response = httpx.post(f"{base_url}/api/chat/session", timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def ws_chat_url(base_url: str, session: dict | None = None) -> str:
    """The widget's socket URL: resuming `session` ({"sender", "token"}), or a new conversation when None."""
    url = base_url.replace("http://", "ws://") + "/ws/chat"
    return url + (f"?sender={session['sender']}&token={session['token']}" if session else "")


class Conversation:
    """One caller talking to the live gateway over HTTP, as a channel would (with the id and token it was issued)."""

    def __init__(self, base_url: str, session: dict | None = None) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, timeout=60)
        session = session or chat_session(base_url)
        self.sender, self.token = session["sender"], session["token"]

    def say(self, text: str) -> list[dict]:
        response = self.client.post("/api/chat", json={"sender": self.sender, "token": self.token, "message": text})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def kinds(self, text: str) -> list[str]:
        return [m["kind"] for m in self.say(text)]


@pytest.fixture
def conversation(live_gateway):
    convo = Conversation(live_gateway)
    yield convo
    convo.client.close()
