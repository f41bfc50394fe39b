"""The widget's WebSocket channel: typing indicator, same message shape, resume after reconnect."""
import json

import pytest
from websockets.sync.client import connect

from tests.conftest import ws_chat_url


def _turn(ws, text: str, message_id: str | None = None) -> tuple[list[dict], list[dict]]:
    ws.send(json.dumps({"type": "message", "text": text, **({"message_id": message_id} if message_id else {})}))
    frames, bots = [], []
    while True:
        frame = json.loads(ws.recv(timeout=60))
        frames.append(frame)
        if frame["type"] == "bot":
            bots.append(frame["message"])
        if frame["type"] == "error" or (frame["type"] == "typing" and frame["on"] is False):
            return frames, bots


def test_websocket_conversation_with_typing_and_resume(live_gateway):
    with connect(ws_chat_url(live_gateway)) as ws:
        session = json.loads(ws.recv(timeout=10))
        assert session["type"] == "session" and session["sender"] and session["token"]
        frames, bots = _turn(ws, "社保卡丢了怎么补办")
        assert frames[0] == {"type": "typing", "on": True}
        assert bots and set(bots[0]) == {"text", "kind", "data", "buttons"}
        guide = bots[-1]["data"].get("guide")
        assert guide == "社会保障卡居民服务一件事"
    # a new socket with the same sender and its token continues the same conversation: the follow-up knows the guide
    with connect(ws_chat_url(live_gateway, session)) as ws:
        assert json.loads(ws.recv(timeout=10)) == session
        _, bots = _turn(ws, "要多长时间")
        assert bots[0]["kind"] == "guide_detail"
        assert bots[0]["data"]["guide"] == guide


@pytest.mark.parametrize("frame", ["not json", json.dumps({"type": "message"}), json.dumps({"type": "message", "text": ""}),
                                   json.dumps({"type": "message", "text": "你好", "message_id": "bad id!"})])
def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(live_gateway, frame):
    with connect(ws_chat_url(live_gateway)) as ws:
        json.loads(ws.recv(timeout=10))
        ws.send(frame)
        reply = json.loads(ws.recv(timeout=10))
        while reply["type"] == "typing":
            reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "error" and reply["message"]
        _, bots = _turn(ws, "你好")
        assert bots[0]["kind"] == "greeting"


def test_a_message_sent_again_over_the_socket_with_its_id_gets_the_same_reply(live_gateway):
    """The widget re-sends an unanswered message with its id: answered as the first time, not run again."""
    with connect(ws_chat_url(live_gateway)) as ws:
        json.loads(ws.recv(timeout=10))
        _, bots = _turn(ws, "我要申请社会保障卡居民服务一件事")
        assert bots[-1]["data"]["field"] == "applicant_name"
        _, first = _turn(ws, "赵敏", "ws-0001-name")
        _, again = _turn(ws, "赵敏", "ws-0001-name")
        assert first[-1]["data"]["field"] == "applicant_id_number"
        assert [(b["kind"], b["text"]) for b in again] == [(b["kind"], b["text"]) for b in first]
