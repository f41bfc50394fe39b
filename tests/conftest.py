"""Shared fixtures. The live stack (Rasa + action server + gateway) starts once per test session,
on free ports with a throw-away data directory, only when a test asks for it."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model_path() -> str:
    model = os.environ.get("RASA_MODEL") or subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "--print-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not Path(model).exists():
        pytest.fail(f"Rasa model {model} is missing: run `make train` (make test does it)")
    return model


def _health(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hotline-data")
    env = dict(os.environ)
    env.update({
        "HOTLINE_DATA_DIR": str(data_dir),
        "RASA_PORT": str(_free_port()),
        "ACTIONS_PORT": str(_free_port()),
        "PORT": str(_free_port()),
        "RATE_LIMIT_PER_MINUTE": env.get("RATE_LIMIT_PER_MINUTE", "40"),
        "ADMIN_TOKEN": "test-admin-token",
    })
    for key in ("RASA_URL", "ACTIONS_URL", "ACTIONS_WEBHOOK_URL", "TRACKER_DB", "DATABASE_URL"):
        env.pop(key, None)
    subprocess.run([sys.executable, "-m", "core.db"], cwd=ROOT, env=env, check=True, capture_output=True)
    log_path = data_dir / "stack.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "supervise.py"), "--model", _model_path()],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{env['PORT']}"
    deadline = time.monotonic() + STARTUP_SECONDS
    status, body = 0, ""
    while time.monotonic() < deadline and proc.poll() is None:
        status, body = _health(url)
        if status == 200:
            break
        time.sleep(1)
    if status != 200:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        tail = log_path.read_text(errors="replace")[-4000:]
        pytest.fail(f"stack not healthy ({status} {body}); log tail:\n{tail}")
    yield {"url": url, "env": env, "data_dir": data_dir, "log": log_path}
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


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


def pretty(messages: list[dict]) -> str:
    return json.dumps(messages, ensure_ascii=False, indent=1)
