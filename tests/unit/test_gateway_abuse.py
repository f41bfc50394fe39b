"""Abuse and bad input at the gateway (issue 10): conversations belong to their caller, limits cannot be
bypassed by rotating ids, bad bodies get the right 4xx, invisible characters do not reach understanding.

The real gateway app with every router and middleware; only the dialogue engine is an in-process echo
(it records what reached it), so no Rasa is needed.
"""
from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from connectors.gateway.bodies import MAX_BODY_BYTES
from connectors.gateway.deps import Services
from connectors.gateway.ratelimit import RateLimiter, client_key
from connectors.gateway.schemas import BotMessage
from connectors.gateway.turns import TurnService
from core import handoff, senders
from core.events import get_event_bus
from core.settings import get_settings
from tests.staff_fixtures import staff_db  # noqa: F401


class EchoDialogue:
    """Stands in for Rasa: answers every message with its text and remembers what it was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict]] = []

    async def send(self, sender: str, text: str, metadata: dict) -> list[BotMessage]:
        self.received.append((sender, text, metadata))
        return [BotMessage(kind="text", text=f"echo:{text}")]

    async def ready(self) -> tuple[bool, str]:
        return True, "echo"

    async def close(self) -> None:
        pass


@pytest.fixture
def gateway(staff_db):  # noqa: F811 - the fixture imported above
    from connectors.gateway.app import create_app

    app = create_app()
    dialogue = EchoDialogue()
    turns = TurnService(dialogue, RateLimiter(5), 2000, None, client_limiter=RateLimiter(8))
    app.state.services = Services(settings=get_settings(), rasa=dialogue, turns=turns)
    client = TestClient(app)
    client.dialogue = dialogue
    return client


def start(client: TestClient) -> dict:
    response = client.post("/api/chat/session")
    assert response.status_code == 201, response.text
    return response.json()


def say(client: TestClient, session: dict, text: str, **extra):
    return client.post("/api/chat", json={"sender": session["sender"], "token": session["token"],
                                          "message": text}, **extra)


# -- conversation ownership -----------------------------------------------------------------------------------
def test_a_new_conversation_gets_an_id_and_a_token_and_continues_with_them(gateway):
    first = gateway.post("/api/chat", json={"message": "你好"})
    assert first.status_code == 200
    body = first.json()
    assert body["sender"].startswith("web-") and len(body["token"]) >= 16
    assert body["messages"][0]["text"] == "echo:你好"
    again = say(gateway, body, "第二句")
    assert again.status_code == 200 and again.json()["sender"] == body["sender"]
    assert [s for s, _, _ in gateway.dialogue.received] == [body["sender"]] * 2


@pytest.mark.parametrize("token", [None, "x" * 32, "wrong-token-0123456789"])
def test_another_client_cannot_continue_a_conversation_over_http(gateway, token):
    owner = start(gateway)
    assert say(gateway, owner, "我的事").status_code == 200
    body = {"sender": owner["sender"], "message": "我来接着说"}
    if token is not None:
        body["token"] = token
    response = gateway.post("/api/chat", json=body)
    assert response.status_code == 403
    assert response.json()["detail"]["code"] == "sender_forbidden"
    assert "我来接着说" not in [text for _, text, _ in gateway.dialogue.received]  # nothing reached the dialogue


def test_a_token_of_one_conversation_does_not_open_another(gateway):
    mine, other = start(gateway), start(gateway)
    response = gateway.post("/api/chat", json={"sender": other["sender"], "token": mine["token"], "message": "嗨"})
    assert response.status_code == 403


def test_another_client_on_the_socket_is_refused_and_sees_nothing_of_the_conversation(gateway):
    with gateway.websocket_connect("/ws/chat") as owner_socket:
        session = owner_socket.receive_json()
        assert session["type"] == "session" and session["token"] == senders.token_for(session["sender"])
        sender = session["sender"]
        owner_socket.send_json({"type": "message", "text": "你好"})
        frames = [owner_socket.receive_json() for _ in range(3)]
        assert frames[1]["message"]["text"] == "echo:你好"

        for query in (f"sender={sender}", f"sender={sender}&token={'A' * 32}"):
            with gateway.websocket_connect(f"/ws/chat?{query}") as intruder:
                refused = intruder.receive_json()
                assert refused == {"type": "error", "code": "sender_forbidden", "message": refused["message"]}
                asyncio.run(get_event_bus().publish(handoff.conversation_topic(sender), {
                    "type": "handoff.message", "conversation_id": 1,
                    "message": {"role": "agent", "kind": "text", "text": "坐席：您好", "staff_name": "坐席007"}}))
                with pytest.raises(WebSocketDisconnect) as closed:
                    intruder.receive_json()
                assert closed.value.code == 1008
        # the owner, subscribed to the conversation, did get the agent's messages
        agent = [owner_socket.receive_json() for _ in range(2)]
        assert all(f["type"] == "bot" and f["message"]["kind"] == "agent_message" for f in agent)

    # the owner resumes with the token
    with gateway.websocket_connect(f"/ws/chat?sender={sender}&token={session['token']}") as again:
        assert again.receive_json() == {"type": "session", "sender": sender, "token": session["token"]}


def test_the_secret_is_kept_in_the_data_folder_for_the_service_account_only(gateway, staff_db):  # noqa: F811
    start(gateway)
    path = staff_db / senders.SECRET_FILE
    assert path.exists() and (path.stat().st_mode & 0o077) == 0


# -- limits ---------------------------------------------------------------------------------------------------
def test_rotating_conversation_ids_does_not_lift_the_limit_of_a_client_address(gateway):
    codes = [gateway.post("/api/chat", json={"message": f"第{i}句"}).status_code for i in range(12)]
    assert codes[:8] == [200] * 8 and set(codes[8:]) == {429}  # 8 per minute per address, whatever the ids
    other_address = TestClient(gateway.app, client=("203.0.113.9", 5000))
    assert other_address.post("/api/chat", json={"message": "你好"}).status_code == 200


def test_one_conversation_is_limited_before_its_address(gateway):
    session = start(gateway)
    codes = [say(gateway, session, f"第{i}句").status_code for i in range(7)]
    assert codes == [200] * 5 + [429, 429]
    limited = say(gateway, session, "再来")
    assert int(limited.headers["Retry-After"]) >= 1
    assert gateway.post("/api/chat", json={"message": "我是另一位"}).status_code == 200  # address still has room


def test_ipv6_clients_are_counted_per_64_block():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "ip:192.0.2.7"


def test_the_dialogue_gets_a_keyed_tag_of_the_address_not_the_address(gateway):
    start_body = gateway.post("/api/chat", json={"message": "查询办件进度"}).json()
    _, _, metadata = gateway.dialogue.received[-1]
    assert metadata["channel"] == "web" and metadata["client"].startswith("client:")
    assert "testclient" not in metadata["client"] and start_body["sender"] not in metadata["client"]


# -- bad input ------------------------------------------------------------------------------------------------
def post_raw(client: TestClient, body: bytes, path: str = "/api/chat"):
    return client.post(path, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(("body", "status", "code"), [
    (b'{"message": "\\ud800abc"}', 400, "invalid_text"),                 # lone surrogate (escaped)
    (b'{"message": "abc\\udc00"}', 400, "invalid_text"),
    (b'{"message": "\xed\xa0\x80abc"}', 400, "invalid_encoding"),       # lone surrogate as raw bytes
    (b'{"message": "\xff\xfe"}', 400, "invalid_encoding"),
    (b"[" * 100_000, 400, "invalid_json"),                              # 100k nested brackets
    (b'{"message": "x", "a": ' + b"[" * 40 + b"]" * 40 + b"}", 400, "invalid_json"),
    (b'{"message": ' + b"1" * 100_000 + b"}", 400, "invalid_json"),     # a 100k-digit number
    (b'{"sender": "x", "message": ', 400, "invalid_json"),
    (b'{"message": "' + b"a" * (MAX_BODY_BYTES + 1) + b'"}', 413, "body_too_large"),
])
def test_bad_bodies_get_the_code_that_says_what_is_wrong(gateway, body, status, code):
    response = post_raw(gateway, body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]["code"] == code and response.json()["detail"]["message"]
    assert not gateway.dialogue.received


def test_a_lone_surrogate_in_another_route_is_refused_too(gateway):
    response = post_raw(gateway, '{"username": "\\ud800", "password": "x"}'.encode(), "/api/staff/login")
    assert response.status_code == 400 and response.json()["detail"]["code"] == "invalid_text"


def test_emoji_as_a_surrogate_pair_is_fine(gateway):
    response = post_raw(gateway, b'{"message": "\\ud83d\\ude00 \xe4\xbd\xa0\xe5\xa5\xbd"}')
    assert response.status_code == 200
    assert gateway.dialogue.received[-1][1] == "\U0001F600 你好"


def test_zero_width_characters_never_reach_the_dialogue(gateway):
    assert gateway.post("/api/chat", json={"message": "新\u200b生儿\u200c出\u200d生要办\ufeff什么"}).status_code == 200
    assert gateway.dialogue.received[-1][1] == "新生儿出生要办什么"
    only_invisible = gateway.post("/api/chat", json={"message": "\u200b\ufeff"})
    assert only_invisible.status_code == 422 and only_invisible.json()["detail"]["code"] == "empty_message"


def test_bad_frames_on_the_socket_get_the_same_codes(gateway):
    with gateway.websocket_connect("/ws/chat") as socket:
        socket.receive_json()
        socket.send_text('{"type": "message", "text": "\\ud800"}')
        assert socket.receive_json()["code"] == "invalid_text"
        socket.send_text("[" * 5000)
        assert socket.receive_json()["code"] == "invalid_json"
        socket.send_text('{"type": "message", "text": "新\\u200b生儿"}')
        frames = [socket.receive_json() for _ in range(3)]
        assert frames[1]["message"]["text"] == "echo:新生儿"


def test_a_wrong_method_says_which_are_allowed(gateway):
    response = gateway.get("/api/chat")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["detail"]["code"] == "method_not_allowed"


def test_a_database_out_of_reach_is_a_polite_503_and_the_next_turn_works(staff_db, monkeypatch):  # noqa: F811
    """PostgreSQL restarting: the turn's handoff check cannot reach the database. The caller is asked to retry
    (the widget's busy message), never shown a 500; once the database answers, the same turn goes through."""
    from connectors.gateway.app import create_app
    from connectors.gateway.handoff_bridge import HandoffBridge
    from sqlalchemy.exc import OperationalError

    app = create_app()
    dialogue = EchoDialogue()
    turns = TurnService(dialogue, RateLimiter(50), 2000, HandoffBridge("http://rasa.invalid"),
                        client_limiter=RateLimiter(50))
    app.state.services = Services(settings=get_settings(), rasa=dialogue, turns=turns)
    client = TestClient(app, raise_server_exceptions=False)
    session = start(client)
    real = handoff.current

    def restarting(sender):
        raise OperationalError("SELECT ...", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(handoff, "current", restarting)
    response = client.post("/api/chat", json={**session, "message": "你好"})
    assert response.status_code == 503, response.text
    assert response.json()["detail"]["code"] == "database_unavailable" and response.headers["Retry-After"] == "2"
    assert "请稍后再试" in response.json()["detail"]["message"] and dialogue.received == []
    monkeypatch.setattr(handoff, "current", real)
    again = client.post("/api/chat", json={**session, "message": "你好"})
    assert again.status_code == 200 and [m["text"] for m in again.json()["messages"]] == ["echo:你好"]
