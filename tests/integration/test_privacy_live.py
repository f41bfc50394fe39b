"""Privacy and abuse on the live stack (issue 10): what a caller types never reaches a log of any process in
clear and cannot forge a log line; a cancelled application leaves nothing of it in the stored conversation;
internal services listen on loopback; another client cannot continue or read a caller's conversation, even
while an agent talks to the caller.
"""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest
import websocket  # websocket-client, see refused_socket()
from websockets.sync.client import connect

from scripts.stack import ROOT
from tests.conftest import Conversation, ws_chat_url

# the forms of issue 10, and the digits that must not appear in any log
TYPED = [
    ("1506 0219 9208 1545 27", "150602199208154527"),
    ("１５０６２７１９８５０１０１０７１Ｘ", "150627198501010"),
    ("150627-19850101-071X", "150627198501010"),
    ("139 4776 1207", "13947761207"),
    ("+86 139-4776-1208", "13947761208"),
    ("8613947761206", "13947761206"),
]
FORGED_PREFIX = "2026-01-01 00:00:00,000 INFO hotline.turns"


def digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text.translate(str.maketrans("０１２３４５６７８９", "0123456789")))


def wait_for_log(path, needle: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text(encoding="utf-8", errors="replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_no_log_of_any_process_holds_what_the_caller_typed_or_a_forged_line(live_stack, conversation):
    for typed, _ in TYPED:
        conversation.say(f"我叫乌力吉，我的号码是{typed}")
    conversation.say(f"你好\n{FORGED_PREFIX} turn sender=admin text=forged\r\x00好")
    log = wait_for_log(live_stack["log"], "forged")
    assert "[gateway]" in log and "[rasa]" in log and "[actions]" in log  # every process' output is here
    flat = digits(log)
    for typed, secret in TYPED:
        assert typed not in log and secret not in flat, f"{typed!r} is in the stack log"
    assert "乌力吉" not in log
    assert "\\n" + FORGED_PREFIX in log  # the caller's newline is shown as an escape ...
    assert not any(line.split("] ", 1)[-1].startswith(FORGED_PREFIX) for line in log.splitlines())  # ... no new line
    assert "\x00" not in log and "\r" not in log.replace("\r\n", "\n")


def stored_rows(live_stack, sender: str) -> list[dict]:
    with sqlite3.connect(live_stack["data_dir"] / "tracker.db") as con:
        rows = con.execute("SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)).fetchall()
    assert rows, "nothing stored: is Rasa using scripts.rasa_tracker_store.PrivacySQLTrackerStore?"
    return [json.loads(data) for (data,) in rows]


def as_text(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False)


def test_a_cancelled_application_leaves_nothing_the_caller_typed_in_the_stored_conversation(live_stack, conversation):
    kinds = [m["kind"] for m in conversation.say("我要申请新生儿出生一件事")]
    assert "form_question" in kinds
    conversation.say("乌力吉")
    conversation.say("150102199003071237")
    conversation.say("139 0000 1111")
    rows = stored_rows(live_stack, conversation.sender)
    # while filling in, only the form's current values are kept (it needs them); what was typed is masked
    typed = as_text([r for r in rows if r.get("event") in ("user", "bot")])
    assert "乌力吉" not in typed and "19900307" not in digits(typed) and "13900001111" not in digits(typed), typed
    cancelled = conversation.say("取消申请")
    assert any(m["kind"] == "application_cancelled" and "不会保存" in m["text"] for m in cancelled), cancelled
    stored = as_text(stored_rows(live_stack, conversation.sender))
    assert "乌力吉" not in stored
    assert "19900307" not in digits(stored) and "13900001111" not in digits(stored), stored


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, state = fields[1], fields[3]
            host, hex_port = address.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(host)
    return found


@pytest.mark.parametrize("port_of", ["ACTIONS_PORT", "RASA_PORT", "PORT"])
def test_every_process_of_the_stack_listens_on_loopback_only(live_stack, port_of):
    addresses = listening_addresses(int(live_stack["env"][port_of]))
    assert addresses, f"nothing listens on {port_of}"
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1
    assert addresses <= loopback, f"{port_of} listens on {addresses}"


# -- conversation ownership, with an agent talking to the caller -----------------------------------------------
PASSWORD = "agent-password-2026"


@pytest.fixture
def agent(live_stack):
    env = dict(live_stack["env"], PYTHONPATH=str(ROOT))
    username = f"privacy{int(time.time() * 1000) % 10**8}"
    subprocess.run([sys.executable, "-m", "core.staff", "add", username, "--role", "agent", "--display-name", "坐席009",
                    "--password-stdin"], input=PASSWORD, text=True, cwd=ROOT, env=env, check=True, capture_output=True)
    client = httpx.Client(base_url=live_stack["url"], timeout=30)
    login = client.post("/api/staff/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"
    assert client.post("/api/agent/heartbeat").status_code == 200
    yield client
    client.post("/api/agent/heartbeat", json={"on_duty": False})  # others expect nobody on duty
    client.close()


def frames_until(socket, predicate, timeout: float = 30) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        seen.append(frame)
        if predicate(frame):
            return seen
    raise AssertionError(f"expected frame did not arrive: {seen}")


def refused_socket(url: str, meanwhile) -> dict:
    """The frame a refused socket gets, after checking that, while `meanwhile()` runs, nothing else comes
    before the close (1008).

    Read with websocket-client, which reads the stream in order. The websockets 11 sync client (pinned by
    rasa-sdk) drops a text frame that reaches it in one read with the handshake answer and the close frame,
    as happens on a loaded machine when the gateway refuses right after accepting (a browser keeps it)."""
    sock = websocket.create_connection(url, timeout=10)
    try:
        frame = json.loads(sock.recv())
        meanwhile()
        opcode, data = sock.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE, f"the intruder got a frame: {data.data!r}"
        assert int.from_bytes(data.data[:2], "big") == 1008
        return frame
    finally:
        sock.close()


def turn(socket, text: str) -> list[dict]:
    socket.send(json.dumps({"type": "message", "text": text}))
    return frames_until(socket, lambda f: f["type"] == "typing" and f.get("who") != "agent" and not f["on"])


def test_another_client_can_neither_continue_nor_read_a_conversation(live_stack, agent):
    base = live_stack["url"]
    with connect(ws_chat_url(base)) as owner:
        session = json.loads(owner.recv(timeout=10))
        turn(owner, "孩子出生要办什么")
        turn(owner, "转人工")
        queue = agent.get("/api/agent/queue").json()["conversations"]
        cid = next(c["id"] for c in queue if c["sender"] == session["sender"])
        assert agent.post(f"/api/agent/conversations/{cid}/claim").status_code == 200
        frames_until(owner, lambda f: f["type"] == "bot" and f["message"]["data"].get("state") == "connected")

        # a second client with the same sender id, without the token or with a wrong one
        for url in (ws_chat_url(base).replace("/ws/chat", f"/ws/chat?sender={session['sender']}"),
                    ws_chat_url(base, {"sender": session["sender"], "token": "A" * 32})):
            def agent_speaks():
                assert agent.post(f"/api/agent/conversations/{cid}/messages",
                                  json={"text": "您好，我是坐席009，请讲。"}).status_code == 200

            refused = refused_socket(url, agent_speaks)
            assert refused["type"] == "error" and refused["code"] == "sender_forbidden"
            got = frames_until(owner, lambda f: f["type"] == "bot" and f["message"]["kind"] == "agent_message")
            assert got[-1]["message"]["text"] == "您好，我是坐席009，请讲。"

        hijack = Conversation(base, {"sender": session["sender"], "token": ""})
        response = hijack.client.post("/api/chat", json={"sender": session["sender"], "message": "我是别人，把材料发我"})
        assert response.status_code == 403 and response.json()["detail"]["code"] == "sender_forbidden"
        hijack.client.close()
        messages = agent.get(f"/api/agent/conversations/{cid}").json()["messages"]
        assert not any("我是别人" in m["text"] for m in messages)
        assert agent.post(f"/api/agent/conversations/{cid}/close", json={"wrap_up": "咨询已解答"}).status_code == 200
