"""A caller without a live connection still gets what the agent said (connectors/gateway/handoff_bridge.py
`backlog`, core.handoff.caller_backlog): over plain HTTP with their next message, and over the WebSocket when it
connects again after a reload or a dropped connection. Internal notes never reach the caller.

The real gateway app with the handoff bridge; only the dialogue engine is the in-process echo.
"""
from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from connectors.gateway.deps import Services
from connectors.gateway.handoff_bridge import HandoffBridge
from connectors.gateway.ratelimit import RateLimiter
from connectors.gateway.turns import TurnService
from core import handoff
from core.settings import get_settings
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401
from tests.unit.test_gateway_abuse import EchoDialogue, say, start


@pytest.fixture
def gateway(staff_db):  # noqa: F811 - the fixture imported above
    from connectors.gateway.app import create_app

    app = create_app()
    dialogue = EchoDialogue()
    turns = TurnService(dialogue, RateLimiter(100), 2000, HandoffBridge("http://rasa.invalid"),
                        client_limiter=RateLimiter(100))
    app.state.services = Services(settings=get_settings(), rasa=dialogue, turns=turns)
    client = TestClient(app)
    client.dialogue = dialogue
    return client


def queue(sender: str) -> int:
    async def go():
        return await handoff.perform(handoff.request, sender, "web", "caller_request", {"asked": ["转人工"]})
    return asyncio.run(go())["id"]


def agent_says(client: TestClient, agent, cid: int, text: str, *, note: bool = False) -> None:
    path = "notes" if note else "messages"
    response = client.post(f"/api/agent/conversations/{cid}/{path}", json={"text": text}, headers=agent.headers)
    assert response.status_code == 200, response.text


def test_an_http_caller_gets_the_agents_replies_with_their_next_message(gateway, make_staff):  # noqa: F811
    agent = make_staff("agent", display_name="坐席007")
    session = start(gateway)
    cid = queue(session["sender"])
    assert gateway.post(f"/api/agent/conversations/{cid}/claim", headers=agent.headers).status_code == 200
    agent_says(gateway, agent, cid, "您好，我是坐席007，请问有什么可以帮您？")
    agent_says(gateway, agent, cid, "市民说话很急，先安抚", note=True)

    first = say(gateway, session, "社保卡丢了怎么办")
    assert first.status_code == 200, first.text
    shown = first.json()["messages"]
    assert [(m["kind"], m["data"].get("state")) for m in shown] == [("handoff", "connected"), ("agent_message", None)]
    assert shown[0]["data"]["agent"] == "坐席007" and "坐席007" in shown[0]["text"]
    assert shown[1]["text"] == "您好，我是坐席007，请问有什么可以帮您？" and shown[1]["data"]["agent"] == "坐席007"
    assert all(isinstance(m["data"]["message_id"], int) for m in shown)
    assert "安抚" not in first.text                                                  # the note stays with staff
    assert gateway.dialogue.received == []                                          # the agent answers, not Rasa

    again = say(gateway, session, "好的谢谢")
    assert again.status_code == 200 and again.json()["messages"] == []              # nothing new: nothing repeated
    agent_says(gateway, agent, cid, "补办需要带身份证原件。")
    third = say(gateway, session, "还要别的吗")
    assert [m["text"] for m in third.json()["messages"]] == ["补办需要带身份证原件。"]
    lines = gateway.get(f"/api/agent/conversations/{cid}", headers=agent.headers).json()["messages"]
    assert [m["text"] for m in lines if m["role"] == "caller"] == ["社保卡丢了怎么办", "好的谢谢", "还要别的吗"]


def test_a_socket_that_connects_again_gets_what_the_agent_said_meanwhile(gateway, make_staff):  # noqa: F811
    agent = make_staff("agent", display_name="坐席008")
    session = start(gateway)
    cid = queue(session["sender"])
    gateway.post(f"/api/agent/conversations/{cid}/claim", headers=agent.headers)
    agent_says(gateway, agent, cid, "您好，请讲。")              # while the caller's page was reloading

    url = f"/ws/chat?sender={session['sender']}&token={session['token']}"
    with gateway.websocket_connect(url) as socket:
        assert socket.receive_json()["type"] == "session"
        frames = [socket.receive_json(), socket.receive_json()]
    assert [f["type"] for f in frames] == ["bot", "bot"]
    assert [f["message"]["kind"] for f in frames] == ["handoff", "agent_message"]
    assert frames[1]["message"]["text"] == "您好，请讲。"
    ids = [f["message"]["data"]["message_id"] for f in frames]

    # the same messages come again on the next connection (the widget skips them by id) until the caller speaks
    with gateway.websocket_connect(url) as socket:
        assert socket.receive_json()["type"] == "session"
        again = [socket.receive_json(), socket.receive_json()]
        assert [f["message"]["data"]["message_id"] for f in again] == ids
        socket.send_json({"type": "message", "text": "我的社保卡丢了"})
        replies = []
        while True:
            frame = socket.receive_json()
            if frame["type"] == "typing" and frame["on"] is False:
                break
            if frame["type"] == "bot":
                replies.append(frame)
        assert [f["message"]["data"]["message_id"] for f in replies] == ids       # with the turn, for HTTP's sake
    with gateway.websocket_connect(url) as socket:
        assert socket.receive_json()["type"] == "session"
        socket.send_json({"type": "message", "text": "在吗"})
        first = socket.receive_json()
        assert first == {"type": "typing", "on": True}                               # nothing missed: no backlog


def test_a_caller_without_an_agent_gets_no_backlog(gateway):
    session = start(gateway)
    queue(session["sender"])
    with gateway.websocket_connect(f"/ws/chat?sender={session['sender']}&token={session['token']}") as socket:
        assert socket.receive_json()["type"] == "session"
        socket.send_json({"type": "message", "text": "在吗"})
        assert socket.receive_json() == {"type": "typing", "on": True}


def test_a_number_left_while_nobody_is_on_duty_is_a_call_back_request(gateway, make_staff):  # noqa: F811
    session = start(gateway)
    queue(session["sender"])
    reply = say(gateway, session, "我电话是138 0477 1234，社保卡补办的事")    # no 回电 in it: as they were told
    [message] = reply.json()["messages"]
    assert message["data"]["state"] == "callback_requested" and message["data"]["phone"] == "138****1234"
    assert "138****1234" in message["text"] and gateway.dialogue.received == []
    agent = make_staff("agent")
    row = gateway.get("/api/agent/queue", headers=agent.headers).json()["callbacks"][0]
    assert row["sender"] == session["sender"] and "社保卡补办" in row["callback_note"]


def test_a_number_said_while_an_agent_will_come_soon_goes_to_the_assistant(gateway, make_staff):  # noqa: F811
    agent = make_staff("agent")
    assert gateway.post("/api/agent/heartbeat", headers=agent.headers).status_code == 200   # on duty, free
    session = start(gateway)
    queue(session["sender"])
    reply = say(gateway, session, "我的电话是13804771234")                     # e.g. a form's question meanwhile
    assert [m["text"] for m in reply.json()["messages"]] == ["echo:我的电话是13804771234"]


def test_a_long_backlog_brings_the_newest_lines(gateway, make_staff):  # noqa: F811
    agent = make_staff("agent", display_name="坐席009")
    session = start(gateway)
    cid = queue(session["sender"])
    gateway.post(f"/api/agent/conversations/{cid}/claim", headers=agent.headers)
    for i in range(handoff.BACKLOG_LINES + 5):
        agent_says(gateway, agent, cid, f"第{i}条")
    shown = [m["text"] for m in say(gateway, session, "在吗").json()["messages"]]
    assert len(shown) == handoff.BACKLOG_LINES
    assert shown[-1] == f"第{handoff.BACKLOG_LINES + 4}条" and shown[0] == "第5条"   # oldest first, none newer lost
