"""Shared fixtures. The live stack (Rasa + action server + gateway) starts once per test session,
on free ports with a throw-away data directory, only when a test asks for it."""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.stack import StackError, running_stack  # noqa: E402


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory):
    extra = {"RATE_LIMIT_PER_MINUTE": os.environ.get("RATE_LIMIT_PER_MINUTE", "40"), "ADMIN_TOKEN": "test-admin-token"}
    try:
        with running_stack(tmp_path_factory.mktemp("hotline-data"), extra) as stack:
            yield stack
    except StackError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def live_gateway(live_stack) -> str:
    return live_stack["url"]


class Conversation:
    """One caller talking to the live gateway over HTTP, as a channel would."""

    def __init__(self, base_url: str, sender: str | None = None) -> None:
        self.base_url = base_url
        self.sender = sender or f"test-{uuid.uuid4().hex[:12]}"
        self.client = httpx.Client(base_url=base_url, timeout=60)

    def say(self, text: str) -> list[dict]:
        response = self.client.post("/api/chat", json={"sender": self.sender, "message": text})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def kinds(self, text: str) -> list[str]:
        return [m["kind"] for m in self.say(text)]


@pytest.fixture
def conversation(live_gateway):
    convo = Conversation(live_gateway)
    yield convo
    convo.client.close()
