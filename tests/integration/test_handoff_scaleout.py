"""Human handoff across two gateway processes sharing PostgreSQL and Redis, as a scaled-out hotline runs.

The caller talks to gateway A over the widget's WebSocket; the agent works on gateway B over the agent
API. The queue lives in PostgreSQL, live events go through Redis: the caller asks for a person, the
agent claims, they talk both ways (typing, a guide card), the agent hands back and the assistant answers
again.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import websockets
from sqlalchemy import create_engine, text

from scripts.stack import ROOT, free_port, health, running_stack

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "agent-password-2026"


@pytest.fixture(scope="module")
def scaleout(tmp_path_factory):
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"hotline_handoff_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:  # PostgreSQL runs on this machine kind: a failure here is a real failure
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    extra = {"DATABASE_URL": url, "EVENT_BUS_URL": REDIS_URL, "RATE_LIMIT_PER_MINUTE": "200",
             "STAFF_COOKIE_SECURE": "0"}
    second = None
    try:
        with running_stack(tmp_path_factory.mktemp("handoff-scaleout"), extra) as stack:
            env = dict(stack["env"])
            env.update({"PORT": str(free_port()), "RASA_URL": f"http://127.0.0.1:{env['RASA_PORT']}",
                        "ACTIONS_URL": f"http://127.0.0.1:{env['ACTIONS_PORT']}", "PYTHONPATH": str(ROOT)})
            second = subprocess.Popen(
                [str(ROOT / ".venv" / "app" / "bin" / "uvicorn"), "connectors.gateway.app:app", "--host", "127.0.0.1",
                 "--port", env["PORT"], "--no-access-log"], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            url_b = f"http://127.0.0.1:{env['PORT']}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and health(url_b)[0] != 200:
                time.sleep(1)
            assert health(url_b)[0] == 200, "the second gateway did not become healthy"
            subprocess.run([sys.executable, "-m", "core.staff", "add", "agent7", "--role", "agent",
                            "--display-name", "坐席007", "--password-stdin"], input=PASSWORD, text=True,
                           cwd=ROOT, env=env, check=True, capture_output=True)
            yield {"a": stack["url"], "b": url_b}
    finally:
        if second is not None:
            second.terminate()
            second.wait(timeout=20)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Caller:
    """The widget's side of the WebSocket: send a message, collect frames until the turn ends."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.pending: list[dict] = []

    async def say(self, message: str) -> list[dict]:
        await self.socket.send(json.dumps({"type": "message", "text": message}))
        bots = []
        while True:
            frame = json.loads(await asyncio.wait_for(self.socket.recv(), 60))
            if frame["type"] == "typing" and frame.get("who") != "agent" and not frame["on"]:
                return bots
            if frame["type"] == "bot":
                bots.append(frame["message"])
            else:
                self.pending.append(frame)

    async def next_frame(self, predicate, timeout: float = 15) -> dict:
        for frame in list(self.pending):
            if predicate(frame):
                self.pending.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = json.loads(await asyncio.wait_for(self.socket.recv(), deadline - time.monotonic()))
            if predicate(frame):
                return frame
            self.pending.append(frame)
        raise AssertionError("expected frame did not arrive")


def bot_of(kind: str, **data):
    def match(frame: dict) -> bool:
        message = frame.get("message") or {}
        return frame["type"] == "bot" and message.get("kind") == kind and all(
            message.get("data", {}).get(k) == v for k, v in data.items())
    return match


def test_caller_on_one_gateway_and_agent_on_another(scaleout):
    agent = httpx.Client(base_url=scaleout["b"], timeout=30)
    assert agent.get("/api/agent/queue").status_code == 401  # anonymous: refused
    login = agent.post("/api/staff/login", json={"username": "agent7", "password": PASSWORD})
    assert login.status_code == 200, login.text
    agent.headers["Authorization"] = f"Bearer {login.json()['token']}"
    assert agent.post("/api/agent/heartbeat").status_code == 200  # the console is open: on duty

    async def conversation() -> None:
        ws_url = scaleout["a"].replace("http://", "ws://") + "/ws/chat"
        async with websockets.connect(ws_url) as socket:
            session = json.loads(await socket.recv())
            assert session["type"] == "session"
            sender = session["sender"]
            caller = Caller(socket)
            await caller.say("孩子出生要办什么")
            [queued] = [m for m in await caller.say("转人工") if m["kind"] == "handoff"]
            assert queued["data"]["state"] == "queued" and queued["data"]["agents_on_duty"] == 1
            assert queued["data"]["estimated_wait_seconds"] == 0 and "马上为您接通" in queued["text"]

            waiting = agent.get("/api/agent/queue").json()["conversations"]
            mine = next(c for c in waiting if c["sender"] == sender)
            assert mine["summary"]["guide"] == "新生儿出生一件事"
            cid = mine["id"]
            assert agent.post(f"/api/agent/conversations/{cid}/claim").status_code == 200

            joined = await caller.next_frame(bot_of("handoff", state="connected"))
            assert joined["message"]["data"]["agent"] == "坐席007"

            assert agent.post(f"/api/agent/conversations/{cid}/typing", json={"on": True}).status_code == 200
            typing = await caller.next_frame(lambda f: f["type"] == "typing" and f.get("who") == "agent")
            assert typing["on"] is True
            assert agent.post(f"/api/agent/conversations/{cid}/messages",
                              json={"text": "您好，我是坐席007，请问孩子的户口想落在哪里？"}).status_code == 200
            said = await caller.next_frame(bot_of("agent_message"))
            assert said["message"]["data"]["agent"] == "坐席007" and "落在哪里" in said["message"]["text"]

            # the caller answers: the agent gets it, the assistant stays silent; the turn's reply is only what the
            # agent side said since the caller's last message, the lines the socket already showed (same ids)
            echoed = await caller.say("落在我爸那边，我的电话是13947761207")
            assert [m["data"]["message_id"] for m in echoed] == \
                [joined["message"]["data"]["message_id"], said["message"]["data"]["message_id"]], echoed
            seen = agent.get(f"/api/agent/conversations/{cid}").json()
            lines = [m["text"] for m in seen["messages"] if m["role"] == "caller"]
            assert any("落在我爸那边" in t for t in lines)
            assert not any("13947761207" in t for t in lines)  # stored masked
            assert any(m["role"] == "assistant" for m in seen["messages"])  # the history before the handoff

            card = agent.post(f"/api/agent/conversations/{cid}/messages", json={"guide": "新生儿出生一件事"})
            assert card.status_code == 200, card.text
            guide = await caller.next_frame(bot_of("guide_answer"))
            assert guide["message"]["data"]["guide"] == "新生儿出生一件事" and guide["message"]["data"]["agent"]

            assert agent.post(f"/api/agent/conversations/{cid}/release").status_code == 200
            await caller.next_frame(bot_of("handoff", state="returned"))
            again = await caller.say("在哪里办")   # the assistant answers, about the guide still in focus
            assert any(m["kind"] == "guide_detail" and m["data"]["guide"] == "新生儿出生一件事" for m in again), again

    asyncio.run(conversation())


def test_a_handoff_made_through_one_gateway_reaches_the_callers_next_turn_on_the_other(scaleout):
    """Gateway B remembers that this caller has no handoff (connectors/gateway/handoff_memo.py); the caller then
    asks for a person through gateway A and an agent claims. B must hear of it through Redis: the caller's next
    turn on B goes to the agent, not to the assistant."""
    agent = httpx.Client(base_url=scaleout["b"], timeout=30)
    token = agent.post("/api/staff/login", json={"username": "agent7", "password": PASSWORD}).json()["token"]
    agent.headers["Authorization"] = f"Bearer {token}"
    assert agent.post("/api/agent/heartbeat").status_code == 200
    a = httpx.Client(base_url=scaleout["a"], timeout=60)
    b = httpx.Client(base_url=scaleout["b"], timeout=60)
    session = a.post("/api/chat/session").json()

    def say(client: httpx.Client, text: str) -> list[dict]:
        response = client.post("/api/chat", json={**session, "message": text})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    for text in ("孩子出生要办什么", "要多长时间"):   # answered by the assistant: B now knows there is no handoff
        answer = say(b, text)
        assert answer and not any(m["kind"] == "handoff" for m in answer), answer
    [queued] = [m for m in say(a, "转人工") if m["kind"] == "handoff"]
    assert queued["data"]["state"] == "queued"
    cid = queued["data"]["conversation_id"]
    assert agent.post(f"/api/agent/conversations/{cid}/claim").status_code == 200
    # to the agent; the assistant stays silent, and this HTTP caller learns with the reply that the agent joined
    joined = say(b, "孩子的户口落在我爸那边")
    assert [(m["kind"], m["data"]["state"], m["data"]["agent"]) for m in joined] == [("handoff", "connected", "坐席007")]
    seen = agent.get(f"/api/agent/conversations/{cid}").json()
    assert any("落在我爸那边" in m["text"] for m in seen["messages"] if m["role"] == "caller")
