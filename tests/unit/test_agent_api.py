"""The agent console's API (connectors/agent) on the real gateway app with staff accounts: who may read and do
what, claims and capacity, replies and guide cards, internal notes kept from the caller, release / transfer /
close / reveal, the supervisor overview, and WS /ws/agent following the queue and the held conversations.

Conversations are queued by calling core.handoff.request directly, as the caller's side does.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from core import handoff
from core.db import session_scope
from core.events import get_event_bus
from core.handoff import console
from core.settings import get_settings
from core.staff import audit_entries
from tests.staff_fixtures import make_staff, staff_client, staff_db  # noqa: F401

SUMMARY = {"asked": ["孩子出生了要办什么", "我电话13912345678"], "guide": "新生儿出生一件事", "items": ["户口登记"],
           "situation": {}, "form": {"guide": "新生儿出生一件事", "state": "filling", "filled": 3,
                                     "field": "applicant_phone"},
           "applications": ["NM20250301ABCD2345"], "reason": "form_failures"}


def enqueue(sender: str, **kwargs) -> int:
    """Queue a caller as the gateway does, publishing the events (consoles listening see it)."""
    async def go():
        return await handoff.perform(handoff.request, sender, "web", kwargs.pop("reason", "caller_request"),
                                     dict(SUMMARY), **kwargs)
    return asyncio.run(go())["id"]


@pytest.fixture
def staff(make_staff):
    return {"a1": make_staff("agent", display_name="坐席001"), "a2": make_staff("agent", display_name="坐席002"),
            "sup": make_staff("supervisor", display_name="班长01"), "editor": make_staff("editor")}


def detail(response) -> dict:
    return response.json()["detail"]


# -- access ------------------------------------------------------------------------------------------------------
def test_agent_routes_need_a_login_and_the_agent_role(staff_client, staff):
    for method, path in [("GET", "/api/agent/queue"), ("GET", "/api/agent/conversations/1"),
                         ("POST", "/api/agent/conversations/1/claim"), ("GET", "/api/agent/canned"),
                         ("GET", "/api/supervisor/overview")]:
        anonymous = staff_client.request(method, path)
        assert anonymous.status_code == 401 and detail(anonymous)["code"] == "not_authenticated", path
        editor = staff_client.request(method, path, headers=staff["editor"].headers)
        assert editor.status_code == 403 and detail(editor)["code"] == "forbidden", path
    refused = staff_client.get("/api/supervisor/overview", headers=staff["a1"].headers)
    assert refused.status_code == 403 and detail(refused)["code"] == "forbidden"
    assert staff_client.get("/api/supervisor/overview", headers=staff["sup"].headers).status_code == 200
    assert staff_client.get("/api/agent/queue", headers=staff["sup"].headers).status_code == 200


def test_the_console_page_is_public_and_locked_down(staff_client):
    page = staff_client.get("/agent")
    assert page.status_code == 200 and "坐席工作台" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "ws://testserver" in page.headers["content-security-policy"]
    assert staff_client.get("/agent/static/console.js").status_code == 200
    assert staff_client.get("/agent/static/console.css").headers["content-type"].startswith("text/css")
    assert staff_client.get("/agent/static/../app.py").status_code == 404
    assert staff_client.get("/agent/static/canned.yaml").status_code == 404
    # the login and fetch wrapper every console loads (connectors/staff), public and locked down the same way
    assert 'src="/staff/static/staff.js"' in page.text
    shared = staff_client.get("/staff/static/staff.js")
    assert shared.status_code == 200 and "X-CSRF-Token" in shared.text
    assert "frame-ancestors 'none'" in shared.headers["content-security-policy"]
    assert staff_client.get("/staff/static/pages.py").status_code == 404


def test_cookie_sessions_need_the_csrf_header(staff_client, staff):
    cid = enqueue("s-csrf")
    login = staff_client.post("/api/staff/login", json={"username": staff["a1"].username,
                                                        "password": staff["a1"].password}).json()
    assert staff_client.get("/api/agent/queue").status_code == 200
    refused = staff_client.post(f"/api/agent/conversations/{cid}/claim")
    assert refused.status_code == 403 and detail(refused)["code"] == "csrf_failed"
    ok = staff_client.post(f"/api/agent/conversations/{cid}/claim", headers={"X-CSRF-Token": login["csrf_token"]})
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"


# -- queue, claim, reading -----------------------------------------------------------------------------------------
def test_queue_lists_waiting_conversations_with_a_brief(staff_client, staff):
    first, second = enqueue("s-q1"), enqueue("s-q2", large_text=True)
    r = staff_client.get("/api/agent/queue", headers=staff["a1"].headers)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert [c["id"] for c in body["conversations"]] == [second, first]            # large text first
    item = body["conversations"][1]
    assert {"id", "sender", "channel", "state", "waiting_seconds", "priority", "summary"} <= set(item)
    assert item["state"] == "queued" and item["sender"] == "s-q1" and item["position"] == 2
    assert "13912345678" not in json.dumps(body, ensure_ascii=False)              # masked on the way in
    brief = item["brief"]
    assert brief["guide"] == "新生儿出生一件事" and brief["items"] == ["户口登记"]
    assert brief["form"]["filled"] == 3 and brief["form"]["field_label"] == "申请人联系电话"
    assert brief["reason"] == "填表多次出错" and brief["applications"] == ["NM20250301ABCD2345"]
    assert any(line.startswith("市民诉求：") for line in brief["lines"])
    assert body["conversations"][0]["brief"]["priority"] == ["长辈模式"]
    assert body["callbacks"] == [] and body["mine"] == [] and "咨询已解答" in body["wrap_up_codes"]


def test_claim_conflict_is_409_with_the_holder(staff_client, staff):
    cid = enqueue("s-claim")
    ok = staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["conversation"]["state"] == "connected" and ok.json()["conversation"]["agent_name"] == "坐席001"
    again = staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)
    assert again.status_code == 200                                               # your own: no change
    conflict = staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a2"].headers)
    assert conflict.status_code == 409
    assert detail(conflict)["code"] == "already_claimed" and detail(conflict)["holder"] == "坐席001"
    assert "坐席001" in detail(conflict)["message"]
    missing = staff_client.post("/api/agent/conversations/99999/claim", headers=staff["a2"].headers)
    assert missing.status_code == 404 and detail(missing)["code"] == "handoff_not_found"
    mine = staff_client.get("/api/agent/queue", headers=staff["a1"].headers).json()
    assert [c["id"] for c in mine["mine"]] == [cid] and mine["conversations"] == [] and mine["load"] == 1


def test_capacity_is_409(staff_client, staff, monkeypatch):
    monkeypatch.setenv("HANDOFF_MAX_PER_AGENT", "1")
    get_settings.cache_clear()
    first, second = enqueue("s-cap1"), enqueue("s-cap2")
    assert staff_client.post(f"/api/agent/conversations/{first}/claim", headers=staff["a1"].headers).status_code == 200
    full = staff_client.post(f"/api/agent/conversations/{second}/claim", headers=staff["a1"].headers)
    assert full.status_code == 409 and detail(full)["code"] == "capacity_reached" and detail(full)["limit"] == 1


def test_agents_read_the_queue_and_their_own_supervisors_everything(staff_client, staff):
    cid = enqueue("s-read")
    waiting = staff_client.get(f"/api/agent/conversations/{cid}", headers=staff["a2"].headers)
    assert waiting.status_code == 200 and waiting.json()["can"]["claim"] is True      # queued: any agent
    staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)

    other = staff_client.get(f"/api/agent/conversations/{cid}", headers=staff["a2"].headers)
    assert other.status_code == 403 and detail(other)["code"] == "handoff_not_allowed"
    own = staff_client.get(f"/api/agent/conversations/{cid}", headers=staff["a1"].headers).json()
    assert own["state"] == "connected" and own["holder"] == "坐席001"
    assert own["can"] == {"claim": False, "reply": True, "note": True, "release": True, "transfer": True,
                          "close": True, "reveal": False, "monitor": False}
    assert own["summary"]["guide"] == "新生儿出生一件事"
    assert [m["role"] for m in own["messages"]] == ["system", "system"]             # queued, claimed
    supervisor = staff_client.get(f"/api/agent/conversations/{cid}", headers=staff["sup"].headers)
    assert supervisor.status_code == 200
    assert supervisor.json()["can"]["monitor"] is True and supervisor.json()["can"]["reply"] is False
    replying = staff_client.post(f"/api/agent/conversations/{cid}/messages", json={"text": "我来"},
                                 headers=staff["sup"].headers)
    assert replying.status_code == 403 and detail(replying)["code"] == "not_holder"  # monitoring is read-only
    missing = staff_client.get("/api/agent/conversations/424242", headers=staff["sup"].headers)
    assert missing.status_code == 404


# -- replies, guide cards, notes, typing ---------------------------------------------------------------------------
def test_send_text_and_a_guide_card(staff_client, staff):
    cid = enqueue("s-send")
    url = f"/api/agent/conversations/{cid}/messages"
    early = staff_client.post(url, json={"text": "您好"}, headers=staff["a1"].headers)
    assert early.status_code == 403 and detail(early)["code"] == "not_holder"       # claim first
    staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)

    text = staff_client.post(url, json={"text": "您好，我是坐席001"}, headers=staff["a1"].headers)
    assert text.status_code == 200, text.text
    assert text.json()["message"] | {"id": 0} == text.json()["message"] | {
        "id": 0, "role": "agent", "kind": "text", "text": "您好，我是坐席001", "staff_name": "坐席001", "internal": False}
    card = staff_client.post(url, json={"guide": "新生儿出生一件事", "items": ["户口登记"]},
                             headers=staff["a1"].headers)
    assert card.status_code == 200, card.text
    sent = card.json()["message"]
    expected = console.guide_card("新生儿出生一件事", ["户口登记"])
    assert sent["kind"] == "guide_answer" and sent["role"] == "agent"
    assert sent["data"] == expected["data"] and sent["text"] == expected["text"]
    assert sent["data"]["items"] == ["户口登记"] and sent["data"]["materials"]

    stored = staff_client.get(f"/api/agent/conversations/{cid}", headers=staff["a1"].headers).json()["messages"]
    assert [(m["role"], m["kind"]) for m in stored][-2:] == [("agent", "text"), ("agent", "guide_answer")]
    assert stored[-1]["data"]["guide"] == "新生儿出生一件事"

    for body, code in [({"guide": "没有这个指南"}, "invalid_input"), ({"guide": "新生儿出生一件事", "items": ["营业执照"]},
                                                                    "invalid_input"),
                       ({"text": "x", "guide": "新生儿出生一件事"}, "invalid_request"), ({}, "invalid_request"),
                       ({"text": "   "}, "invalid_input")]:
        refused = staff_client.post(url, json=body, headers=staff["a1"].headers)
        assert refused.status_code == 422 and detail(refused)["code"] == code, (body, refused.text)
    assert detail(staff_client.post(url, json={"guide": "没有这个指南"}, headers=staff["a1"].headers))["field"] == "guide"

    preview = staff_client.get("/api/agent/knowledge/card", params={"guide": "新生儿出生一件事", "items": ["户口登记"]},
                               headers=staff["a1"].headers)
    assert preview.status_code == 200 and preview.json()["data"] == expected["data"]


def test_personal_data_an_agent_types_is_stored_masked(staff_client, staff):
    cid = enqueue("s-agent-pii")
    staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)
    for path, text in (("messages", "您的身份证号150102199003071234已核对，回电号码139 1234 5678"),
                       ("notes", "市民身份证 15010219900307123X，手机+86 13912345678")):
        sent = staff_client.post(f"/api/agent/conversations/{cid}/{path}", json={"text": text},
                                 headers=staff["a1"].headers)
        assert sent.status_code == 200, sent.text
    stored = staff_client.get(f"/api/agent/conversations/{cid}", headers=staff["sup"].headers).json()["messages"]
    lines = [m["text"] for m in stored if m["role"] == "agent"]
    assert lines == ["您的身份证号1501**********1234已核对，回电号码139****5678",
                     "市民身份证 1501**********123X，手机139****5678"], lines


def test_notes_reach_staff_but_never_the_caller(staff_client, staff):
    cid = enqueue("s-note")
    staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)

    async def scenario():
        bus = get_event_bus()
        async with bus.subscribe(handoff.conversation_topic("s-note")) as caller, \
                bus.subscribe(handoff.staff_topic("s-note")) as staff_side:
            note = await asyncio.to_thread(staff_client.post, f"/api/agent/conversations/{cid}/notes",
                                           json={"text": "市民情绪激动，注意安抚"}, headers=staff["a1"].headers)
            reply = await asyncio.to_thread(staff_client.post, f"/api/agent/conversations/{cid}/messages",
                                            json={"text": "请您别着急"}, headers=staff["a1"].headers)
            typing = await asyncio.to_thread(staff_client.post, f"/api/agent/conversations/{cid}/typing",
                                             json={"on": True}, headers=staff["a1"].headers)
            assert note.status_code == reply.status_code == typing.status_code == 200
            caller_events = [(await caller.get(timeout=2)).event for _ in range(2)]
            staff_events = [(await staff_side.get(timeout=2)).event]
            with pytest.raises(TimeoutError):
                await caller.get(timeout=0.2)
            return caller_events, staff_events

    caller_events, staff_events = asyncio.run(scenario())
    assert [e["type"] for e in caller_events] == ["handoff.message", "handoff.typing"]
    assert caller_events[0]["message"]["text"] == "请您别着急"
    assert caller_events[1] | {"conversation_id": 0} == {"type": "handoff.typing", "conversation_id": 0,
                                                         "sender": "s-note", "role": "agent", "on": True,
                                                         "name": "坐席001"}
    assert "注意安抚" not in json.dumps(caller_events, ensure_ascii=False)
    assert staff_events[0]["message"]["internal"] is True and staff_events[0]["message"]["text"] == "市民情绪激动，注意安抚"
    stored = staff_client.get(f"/api/agent/conversations/{cid}", headers=staff["a1"].headers).json()["messages"]
    assert [m["kind"] for m in stored if m["internal"]] == ["note"]
    # a supervisor may add a note to any conversation, another agent may not; only the holder types
    assert staff_client.post(f"/api/agent/conversations/{cid}/notes", json={"text": "已关注"},
                             headers=staff["sup"].headers).status_code == 200
    assert staff_client.post(f"/api/agent/conversations/{cid}/notes", json={"text": "x"},
                             headers=staff["a2"].headers).status_code == 403
    assert staff_client.post(f"/api/agent/conversations/{cid}/typing", json={"on": True},
                             headers=staff["sup"].headers).status_code == 403


# -- release, transfer, close, reveal --------------------------------------------------------------------------------
def test_release_and_close(staff_client, staff):
    back, done = enqueue("s-back"), enqueue("s-done")
    for cid in (back, done):
        staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)
    released = staff_client.post(f"/api/agent/conversations/{back}/release", headers=staff["a1"].headers)
    assert released.status_code == 200 and released.json()["conversation"]["state"] == "returned"
    assert handoff.holder("s-back") is None
    again = staff_client.post(f"/api/agent/conversations/{back}/release", headers=staff["a1"].headers)
    assert again.status_code == 409 and detail(again)["code"] == "invalid_state"

    url = f"/api/agent/conversations/{done}/close"
    bad = staff_client.post(url, json={"wrap_up": "随便"}, headers=staff["a1"].headers)
    assert bad.status_code == 422 and detail(bad)["code"] == "invalid_input" and detail(bad)["field"] == "wrap_up"
    assert staff_client.post(url, json={"wrap_up": "咨询已解答"}, headers=staff["a2"].headers).status_code == 403
    closed = staff_client.post(url, json={"wrap_up": "咨询已解答", "note": "已发送出生一件事指南"},
                               headers=staff["a1"].headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["conversation"]["state"] == "closed" and closed.json()["conversation"]["wrap_up"] == "咨询已解答"
    assert staff_client.post(url, json={"wrap_up": "咨询已解答"}, headers=staff["a1"].headers).status_code == 409
    assert staff_client.get("/api/agent/queue", headers=staff["a1"].headers).json()["mine"] == []


def test_transfer_to_an_agent_on_duty(staff_client, staff):
    cid = enqueue("s-transfer")
    staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)
    url = f"/api/agent/conversations/{cid}/transfer"
    target = staff["a2"].principal.staff_id
    offline = staff_client.post(url, json={"to_staff_id": target}, headers=staff["a1"].headers)
    assert offline.status_code == 409 and detail(offline)["code"] == "agent_unavailable"
    beat = staff_client.post("/api/agent/heartbeat", headers=staff["a2"].headers)
    assert beat.status_code == 200 and beat.json()["on_duty"] is True
    colleagues = staff_client.get("/api/agent/agents", headers=staff["a1"].headers).json()["agents"]
    assert [(a["id"], a["name"], a["load"]) for a in colleagues] == [(target, "坐席002", 0)]
    moved = staff_client.post(url, json={"to_staff_id": target}, headers=staff["a1"].headers)
    assert moved.status_code == 200 and moved.json()["conversation"]["agent_name"] == "坐席002"
    assert staff_client.get(f"/api/agent/conversations/{cid}", headers=staff["a1"].headers).status_code == 403
    off = staff_client.post("/api/agent/heartbeat", json={"on_duty": False}, headers=staff["a2"].headers)
    assert off.json() == {"on_duty": False, "agents_on_duty": 1}                    # a1 claimed: on duty


def test_reveal_needs_a_reason_and_is_audited(staff_client, staff):
    asyncio.run(handoff.perform(handoff.request_callback, "s-cb", "13947761207", "想问营业执照"))
    [callback] = staff_client.get("/api/agent/queue", headers=staff["a1"].headers).json()["callbacks"]
    assert callback["callback_phone"] == "139****1207"
    cid = callback["id"]
    url = f"/api/agent/conversations/{cid}/reveal"
    assert staff_client.post(url, json={"field": "callback_phone", "reason": "回拨"},
                             headers=staff["a1"].headers).status_code == 403     # claim the call-back first
    staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)
    assert detail(staff_client.post(url, json={"field": "callback_phone", "reason": ""},
                                    headers=staff["a1"].headers))["field"] == "reason"
    shown = staff_client.post(url, json={"field": "callback_phone", "reason": "按约定回拨"}, headers=staff["a1"].headers)
    assert shown.status_code == 200 and shown.json() == {"field": "callback_phone", "value": "13947761207"}
    assert shown.headers["cache-control"] == "no-store"
    with session_scope() as session:
        [entry] = audit_entries(session, action="handoff.reveal")
        assert entry.staff_id == staff["a1"].principal.staff_id and entry.detail["reason"] == "按约定回拨"


# -- knowledge, canned replies, overview ---------------------------------------------------------------------------
class FakeRetriever:
    def search(self, q: str, k: int = 5) -> dict:
        return {"answerable": True, "clear": True, "candidates": [], "suggestions": [],
                "results": [{"name": "新生儿出生一件事", "score": 0.9}, {"name": "已下线的指南", "score": 0.2}][:k]}


def test_knowledge_search_and_canned_replies(staff_client, staff, monkeypatch):
    from connectors.agent import api

    monkeypatch.setattr(api, "get_retriever", lambda: FakeRetriever())
    r = staff_client.get("/api/agent/knowledge/search", params={"q": "孩子出生"}, headers=staff["a1"].headers)
    assert r.status_code == 200, r.text
    first, gone = r.json()["results"]
    assert first["kind"] == "bundle" and "户口登记" in first["items"] and isinstance(first["situations"], list)
    assert gone == {"name": "已下线的指南", "score": 0.2}
    assert staff_client.get("/api/agent/knowledge/search", headers=staff["a1"].headers).status_code == 422

    def missing():
        raise FileNotFoundError("no index")

    monkeypatch.setattr(api, "get_retriever", missing)
    down = staff_client.get("/api/agent/knowledge/search", params={"q": "x"}, headers=staff["a1"].headers)
    assert down.status_code == 503 and detail(down)["code"] == "index_unavailable"

    groups = staff_client.get("/api/agent/canned", headers=staff["a1"].headers).json()["groups"]
    replies = [r for g in groups for r in g["replies"]]
    assert len(replies) >= 8 and all(r["text"] and r["title"] and r["id"] for r in replies)
    assert any("坐席001" in r["text"] for r in replies) and not any("{name}" in r["text"] for r in replies)


def test_supervisor_overview(staff_client, staff):
    waiting, talking = enqueue("s-ov1"), enqueue("s-ov2")
    staff_client.post(f"/api/agent/conversations/{talking}/claim", headers=staff["a1"].headers)
    body = staff_client.get("/api/supervisor/overview", headers=staff["sup"].headers).json()
    assert {c["id"]: c["state"] for c in body["conversations"]} == {waiting: "queued", talking: "connected"}
    assert body["queue"]["length"] == 1 and body["connected"] == 1 and body["agents_on_duty"] == 1
    [agent] = body["agents"]
    assert agent["name"] == "坐席001" and agent["load"] == 1 and agent["conversation_ids"] == [talking]
    assert agent["on_duty"] is True and agent["capacity"] == get_settings().handoff_max_per_agent
    assert all(c["brief"]["lines"] for c in body["conversations"])

    # the day's ended conversations: a caller who stopped waiting is not counted as closed by staff
    gave_up, served = enqueue("s-ov3"), talking
    asyncio.run(handoff.perform(handoff.cancel, "s-ov3"))
    closed = staff_client.post(f"/api/agent/conversations/{served}/close", json={"wrap_up": "咨询已解答"},
                               headers=staff["a1"].headers)
    assert closed.status_code == 200 and gave_up != served
    ended = staff_client.get("/api/supervisor/overview", headers=staff["sup"].headers).json()["ended_today"]
    assert (ended["closed"], ended["returned"], ended["cancelled"]) == (1, 0, 1)


# -- WS /ws/agent --------------------------------------------------------------------------------------------------
def receive_until(ws, predicate, limit: int = 10) -> dict:
    for _ in range(limit):
        frame = ws.receive_json()
        if predicate(frame):
            return frame
    raise AssertionError("expected frame not received")


def is_event(kind: str, **fields):
    return lambda f: f.get("type") == "event" and f["event"].get("type") == kind and all(
        f["event"].get(k) == v for k, v in fields.items())


def test_agent_socket_follows_the_queue_and_held_conversations(staff_client, staff):
    with staff_client.websocket_connect("/ws/agent", headers=staff["a1"].headers) as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["staff"]["name"] == "坐席001" and hello["on_duty"] is True
        assert ws.receive_json() == {"type": "subscribed", "topics": ["agents"], "conversations": [],
                                     "watching": None}
        assert handoff.agents_on_duty() == 1                                      # the open console is on duty

        cid = enqueue("s-ws")
        queued = receive_until(ws, is_event("queue.changed"))
        assert queued["topic"] == "agents"
        assert queued["event"]["change"] == "queued" and queued["event"]["conversation_id"] == cid
        assert queued["event"]["conversation"]["summary"]["guide"] == "新生儿出生一件事"

        staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)
        subscribed = receive_until(ws, lambda f: f["type"] == "subscribed")
        assert subscribed["conversations"] == [cid]
        assert subscribed["topics"] == ["agents", "conversation:s-ws", "conversation:s-ws:staff"]

        async def caller_says():
            await handoff.perform(handoff.add_message, cid, "caller", "我的身份证150102199003071234")
            await handoff.publish([handoff.typing_event("s-ws", cid, "caller", True)])
        asyncio.run(caller_says())
        said = receive_until(ws, is_event("handoff.message"))
        assert said["topic"] == "conversation:s-ws" and said["event"]["message"]["role"] == "caller"
        assert "150102199003071234" not in said["event"]["message"]["text"]
        assert receive_until(ws, is_event("handoff.typing"))["event"]["role"] == "caller"

        staff_client.post(f"/api/agent/conversations/{cid}/notes", json={"text": "备注"}, headers=staff["a1"].headers)
        note = receive_until(ws, is_event("handoff.message"))
        assert note["topic"] == "conversation:s-ws:staff" and note["event"]["message"]["internal"] is True

        staff_client.post(f"/api/agent/conversations/{cid}/release", headers=staff["a1"].headers)
        assert receive_until(ws, lambda f: f["type"] == "subscribed")["topics"] == ["agents"]

        ws.send_json({"type": "duty", "on": False})
        assert receive_until(ws, lambda f: f["type"] == "duty") == {"type": "duty", "on": False}
        assert handoff.agents_on_duty() == 0
        ws.send_json({"type": "nonsense"})
        assert receive_until(ws, lambda f: f["type"] == "error")["code"] == "invalid_request"
    assert handoff.agents_on_duty() == 0


def test_supervisor_socket_watches_any_conversation(staff_client, staff):
    cid = enqueue("s-watch")
    staff_client.post(f"/api/agent/conversations/{cid}/claim", headers=staff["a1"].headers)
    with staff_client.websocket_connect("/ws/agent?duty=0", headers=staff["sup"].headers) as ws:
        assert ws.receive_json()["on_duty"] is False
        ws.receive_json()                                                        # subscribed: agents
        assert handoff.agents_on_duty() == 1                                     # only a1: monitoring is off duty
        ws.send_json({"type": "watch", "conversation_id": cid})
        watching = receive_until(ws, lambda f: f["type"] == "subscribed")
        assert watching["watching"] == cid and "conversation:s-watch" in watching["topics"]
        staff_client.post(f"/api/agent/conversations/{cid}/messages", json={"text": "您好"},
                          headers=staff["a1"].headers)
        said = receive_until(ws, is_event("handoff.message"))
        assert said["event"]["message"]["text"] == "您好" and said["event"]["message"]["role"] == "agent"
    with staff_client.websocket_connect("/ws/agent", headers=staff["a2"].headers) as ws:
        ws.receive_json(), ws.receive_json()
        ws.send_json({"type": "watch", "conversation_id": cid})                  # another agent's: refused
        assert receive_until(ws, lambda f: f["type"] == "error")["code"] == "not_allowed"
        waiting = enqueue("s-preview")                                           # a queued one: any agent may
        ws.send_json({"type": "watch", "conversation_id": waiting})
        assert receive_until(ws, lambda f: f["type"] == "subscribed")["watching"] == waiting
        staff_client.post(f"/api/agent/conversations/{waiting}/claim", headers=staff["a1"].headers)
        ended = receive_until(ws, lambda f: f["type"] == "watch_ended")            # claimed by a1: no more
        assert ended["conversation_id"] == waiting and ended["code"] == "not_allowed"
        assert receive_until(ws, lambda f: f["type"] == "subscribed")["topics"] == ["agents"]


def test_agent_socket_needs_the_same_origin_and_a_live_session(staff_client, staff, monkeypatch):
    from starlette.websockets import WebSocketDisconnect

    from connectors.agent import live
    from connectors.gateway import auth

    staff_client.cookies.set(auth.SESSION_COOKIE, staff["a1"].token)
    with pytest.raises(WebSocketDisconnect) as refused:                          # a cookie from another page
        with staff_client.websocket_connect("/ws/agent", headers={"Origin": "http://evil.example"}) as ws:
            ws.receive_json()
    assert refused.value.code == 1008

    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.05)
    with staff_client.websocket_connect("/ws/agent", headers={"Origin": "http://testserver"}) as ws:
        assert ws.receive_json()["staff"]["name"] == "坐席001"
        staff_client.cookies.clear()
        staff_client.post("/api/staff/logout", headers=staff["a1"].headers)      # the session ends elsewhere
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(20):
                ws.receive_json()
        assert closed.value.code == 1008 and closed.value.reason == "not_authenticated"
    assert handoff.agents_on_duty() == 0                                         # signed off on the way out
