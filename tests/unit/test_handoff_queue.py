"""Human handoff domain core (core/handoff) on a throw-away SQLite database: queue order, idempotent requests,
claims and capacity, release / close / transfer, the transcript access rule, call-backs, honest estimates."""
from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from core import handoff
from core.db import get_engine, session_scope
from core.events import InProcessBus
from core.handoff import (
    AgentUnavailable,
    AlreadyClaimed,
    CapacityReached,
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
    NotHolder,
)
from core.models import Base, HandoffConversation, HandoffMessage, utcnow
from core.settings import get_settings
from core.staff import audit_entries
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401

SUMMARY = {"asked": "孩子出生要办什么", "guide": "出生一件事", "items": ["出生医学证明"], "form": {"done": 2, "total": 5}}


def enqueue(sender: str, *, now=None, **kwargs) -> dict:
    return handoff.request(sender, "web", kwargs.pop("reason", "caller_request"), dict(SUMMARY), now=now,
                           **kwargs).view


@pytest.fixture
def agents(make_staff):
    """Two agents, a supervisor and an editor, with the display names callers would see."""
    return {
        "a1": make_staff("agent", display_name="坐席001").principal,
        "a2": make_staff("agent", display_name="坐席002").principal,
        "sup": make_staff("supervisor", display_name="班长01").principal,
        "editor": make_staff("editor").principal,
    }


def row(conversation_id: int) -> HandoffConversation:
    with session_scope() as session:
        return session.get(HandoffConversation, conversation_id)


# -- queue order and idempotence ------------------------------------------------------------------------------
def test_priority_special_groups_then_large_text_then_repeated_failures_then_fifo(staff_db):
    t0 = utcnow() - timedelta(minutes=10)
    ids = {
        "plain1": enqueue("s-plain1", now=t0)["id"],
        "large": enqueue("s-large", now=t0 + timedelta(seconds=1), large_text=True)["id"],
        "special": enqueue("s-special", now=t0 + timedelta(seconds=2), special_group=True)["id"],
        "failures": enqueue("s-failures", now=t0 + timedelta(seconds=3), repeated_failures=3,
                            reason="repeated_fallback")["id"],
        "once": enqueue("s-once", now=t0 + timedelta(seconds=4), repeated_failures=1)["id"],
        "plain2": enqueue("s-plain2", now=t0 + timedelta(seconds=5))["id"],
    }
    items = handoff.queue(now=t0 + timedelta(seconds=65))
    assert [i["id"] for i in items] == [ids[k] for k in ("special", "large", "failures", "plain1", "once", "plain2")]
    assert [i["position"] for i in items] == [1, 2, 3, 4, 5, 6]
    assert items[0]["priority_reasons"] == ["special_group"] and items[1]["large_text"] is True
    assert items[3]["waiting_seconds"] == 65 and items[3]["summary"]["guide"] == "出生一件事"
    # the caller's own view agrees with the console
    assert enqueue("s-plain1")["position"] == 4 and enqueue("s-special")["position"] == 1


def test_request_is_idempotent_and_masks_the_summary(staff_db):
    first = handoff.request("s-1", "web", "caller_request", {"asked": "我的电话13912345678，身份证150102199003071234"})
    assert first.view["created"] is True and first.view["state"] == "queued" and first.view["position"] == 1
    assert [e.topic for e in first.events] == ["conversation:s-1", "agents"]
    assert first.events[1].event["conversation"]["summary"]["asked"].startswith("我的电话139****5678")
    again = handoff.request("s-1", "voice", "voice", {})
    assert again.view["id"] == first.view["id"] and again.view["created"] is False and again.events == ()
    assert len(handoff.queue()) == 1
    stored = row(first.view["id"]).summary["asked"]
    assert "13912345678" not in stored and "150102199003071234" not in stored and "139****5678" in stored


def test_only_one_live_conversation_per_sender_even_when_requests_race(staff_db):
    results, barrier = [], threading.Barrier(6)

    def call():
        barrier.wait()
        results.append(handoff.request("s-race", "web", "caller_request", {}).view)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r["id"] for r in results}) == 1 and sum(r["created"] for r in results) == 1
    # and the database itself refuses a second live row
    with pytest.raises(IntegrityError), session_scope() as session:
        session.add(HandoffConversation(sender="s-race", channel="web", state="connected", priority=0,
                                        priority_reasons=[], reason="caller_request", summary={},
                                        wrap_up_note="", callback_note="", large_text=False))


def test_bad_requests_are_refused(staff_db):
    with pytest.raises(InvalidInput):
        handoff.request("s-x", "web", "because", {})
    with pytest.raises(InvalidInput):
        handoff.request("", "web", "caller_request", {})
    with pytest.raises(InvalidInput):
        handoff.request("s-x", "web", "caller_request", {"when": object()})


# -- claim, capacity, release, close, transfer --------------------------------------------------------------------
def test_claim_conflict_and_holder(staff_db, agents):
    cid = enqueue("s-claim")["id"]
    assert handoff.holder("s-claim") is None                       # the assistant answers while queued
    claimed = handoff.claim(cid, agents["a1"])
    assert claimed.view["state"] == "connected" and claimed.view["agent_name"] == "坐席001"
    state_event = claimed.events[0].event
    assert state_event["type"] == "handoff.state" and state_event["holder"] == "坐席001"
    assert "坐席001已接入" in state_event["message"]["text"]
    assert handoff.holder("s-claim") == "坐席001"
    with pytest.raises(AlreadyClaimed) as exc:
        handoff.claim(cid, agents["a2"])
    assert exc.value.code == "already_claimed" and exc.value.detail["holder"] == "坐席001"
    assert "坐席001" in exc.value.message
    assert handoff.claim(cid, agents["a1"]).events == ()           # claiming your own again changes nothing
    with pytest.raises(NotAllowed):
        handoff.claim(cid, agents["editor"])
    with pytest.raises(NotFound):
        handoff.claim(999999, agents["a2"])
    with session_scope() as session:
        assert [e.target_id for e in audit_entries(session, action="handoff.claim")] == [str(cid)]


def test_capacity_per_agent(staff_db, agents, monkeypatch):
    monkeypatch.setenv("HANDOFF_MAX_PER_AGENT", "2")
    get_settings.cache_clear()
    ids = [enqueue(f"s-cap{i}")["id"] for i in range(3)]
    handoff.claim(ids[0], agents["a1"])
    handoff.claim(ids[1], agents["a1"])
    with pytest.raises(CapacityReached) as exc:
        handoff.claim(ids[2], agents["a1"])
    assert exc.value.detail["limit"] == 2 and row(ids[2]).state == "queued"
    # a call-back to make is not a live chat: it does not count
    cb = handoff.request_callback("s-cap-cb", "13900001111", "想问社保").view["id"]
    assert handoff.claim(cb, agents["a1"]).view["state"] == "callback_requested"
    handoff.release(ids[0], agents["a1"])
    assert handoff.claim(ids[2], agents["a1"]).view["state"] == "connected"


def test_release_returns_the_conversation_to_the_assistant(staff_db, agents):
    cid = enqueue("s-rel")["id"]
    with pytest.raises(NotHolder):
        handoff.release(cid, agents["a1"])
    handoff.claim(cid, agents["a1"])
    with pytest.raises(NotHolder):
        handoff.release(cid, agents["a2"])
    released = handoff.release(cid, agents["a1"])
    assert released.view["state"] == "returned" and released.view["ended_by"] == "staff"
    assert released.events[0].event["holder"] is None and released.events[1].event["change"] == "released"
    assert handoff.holder("s-rel") is None
    with pytest.raises(InvalidState):
        handoff.release(cid, agents["a1"])
    # asking again later opens a new conversation
    again = enqueue("s-rel")
    assert again["created"] and again["id"] != cid


def test_close_with_wrap_up_codes(staff_db, agents):
    cid = enqueue("s-close")["id"]
    handoff.claim(cid, agents["a1"])
    with pytest.raises(InvalidInput):
        handoff.close(cid, agents["a1"], "done")
    with pytest.raises(NotHolder):
        handoff.close(cid, agents["a2"], "咨询已解答")
    closed = handoff.close(cid, agents["a1"], "咨询已解答", "已告知材料，电话13900001111")
    assert closed.view["state"] == "closed" and closed.view["wrap_up"] == "咨询已解答"
    assert "13900001111" not in closed.view["wrap_up_note"]
    caller_event = closed.events[0].event
    assert "咨询已解答" not in str(caller_event)                      # wrap-up codes are for staff only
    with pytest.raises(InvalidState):
        handoff.close(cid, agents["a1"], "其他")
    # a supervisor may close a waiting conversation (e.g. a prank), an agent may not
    junk = enqueue("s-junk")["id"]
    with pytest.raises(NotHolder):
        handoff.close(junk, agents["a1"], "无效来电")
    assert handoff.close(junk, agents["sup"], "无效来电").view["state"] == "closed"
    with session_scope() as session:
        assert {e.detail["wrap_up"] for e in audit_entries(session, action="handoff.close")} == {"咨询已解答", "无效来电"}


def test_transfer_to_an_agent_on_duty(staff_db, agents, monkeypatch):
    cid = enqueue("s-tr")["id"]
    handoff.claim(cid, agents["a1"])
    with pytest.raises(AgentUnavailable):                             # a2 has no console open
        handoff.transfer(cid, agents["a1"], agents["a2"].staff_id)
    with pytest.raises(AgentUnavailable):
        handoff.transfer(cid, agents["a1"], agents["editor"].staff_id)
    with pytest.raises(NotFound):
        handoff.transfer(cid, agents["a1"], 999999)
    handoff.heartbeat(agents["a2"].staff_id)
    with pytest.raises(NotHolder):
        handoff.transfer(cid, agents["a2"], agents["a2"].staff_id)
    moved = handoff.transfer(cid, agents["a1"], agents["a2"].staff_id)
    assert moved.view["agent_id"] == agents["a2"].staff_id and moved.view["state"] == "connected"
    assert moved.events[0].event["holder"] == "坐席002" and "已为您转接至坐席002" in moved.events[0].event["message"]["text"]
    assert moved.events[1].event["from_agent_id"] == agents["a1"].staff_id
    assert handoff.holder("s-tr") == "坐席002"
    with pytest.raises(NotAllowed):                                   # a1 no longer holds it
        handoff.transcript(cid, agents["a1"])
    # the target's capacity counts
    monkeypatch.setenv("HANDOFF_MAX_PER_AGENT", "1")
    get_settings.cache_clear()
    other = enqueue("s-tr2")["id"]
    handoff.claim(other, agents["a1"])
    with pytest.raises(CapacityReached):
        handoff.transfer(other, agents["a1"], agents["a2"].staff_id)


# -- transcript, messages ---------------------------------------------------------------------------------------
def test_transcript_access_rule_and_internal_notes(staff_db, agents):
    cid = enqueue("s-tx")["id"]
    handoff.add_message(cid, "caller", "我的身份证是150102199003071234")
    assert handoff.transcript(cid, agents["a2"])["conversation"]["state"] == "queued"   # queued: any agent
    with pytest.raises(NotAllowed):
        handoff.transcript(cid, agents["editor"])
    handoff.claim(cid, agents["a1"])
    with pytest.raises(NotAllowed):
        handoff.transcript(cid, agents["a2"])                         # held by someone else
    reply = handoff.add_message(cid, "agent", "您好，请问还有什么可以帮您？", staff=agents["a1"])
    assert reply.events[0].topic == "conversation:s-tx"
    assert reply.events[0].event["message"]["staff_name"] == "坐席001"
    assert "staff_id" not in reply.events[0].event["message"]          # callers never see staff ids
    note = handoff.add_message(cid, "agent", "市民情绪激动", staff=agents["sup"], internal=True)
    assert note.events[0].topic == "conversation:s-tx:staff"
    with pytest.raises(NotHolder):
        handoff.add_message(cid, "agent", "插话", staff=agents["sup"])   # supervisors note, holders reply
    with pytest.raises(InvalidInput):
        handoff.add_message(cid, "caller", "想问点事", internal=True)
    with pytest.raises(InvalidInput):
        handoff.add_message(cid, "caller", "长" * 2001)
    for viewer in (agents["a1"], agents["sup"]):
        messages = handoff.transcript(cid, viewer)["messages"]
        assert [m["role"] for m in messages] == ["system", "caller", "system", "agent", "agent"]
        assert messages[-1]["internal"] is True and messages[3]["internal"] is False
        assert "150102199003071234" not in messages[1]["text"] and "1501" in messages[1]["text"]
    handoff.close(cid, agents["a1"], "咨询已解答")
    assert handoff.transcript(cid, agents["a1"])["conversation"]["state"] == "closed"  # held last: still readable
    with pytest.raises(InvalidState):
        handoff.add_message(cid, "caller", "还在吗")


def test_cancel_by_the_caller(staff_db, agents):
    with pytest.raises(NotFound):
        handoff.cancel("s-nobody")
    cid = enqueue("s-cancel")["id"]
    cancelled = handoff.cancel("s-cancel")
    assert cancelled.view["state"] == "closed" and cancelled.view["ended_by"] == "caller"
    assert cancelled.events[1].event == {**cancelled.events[1].event, "change": "cancelled", "queue_length": 0}
    assert handoff.queue() == [] and row(cid).wrap_up is None
    live = enqueue("s-cancel")["id"]
    handoff.claim(live, agents["a1"])
    with pytest.raises(InvalidState):
        handoff.cancel("s-cancel")


# -- call-backs and reveal --------------------------------------------------------------------------------------
def test_callback_validates_the_phone_and_keeps_it_masked_outside_the_row(staff_db, agents, caplog):
    cid = enqueue("s-cb")["id"]
    with pytest.raises(InvalidInput) as exc:
        handoff.request_callback("s-cb", "1390000111", "社保卡挂失")
    assert exc.value.detail["field"] == "phone" and "11位" in exc.value.message
    with caplog.at_level(logging.INFO, logger="hotline.handoff"):
        outcome = handoff.request_callback("s-cb", "139 0000 1111", "社保卡挂失，身份证150102199003071234")
    assert outcome.view["id"] == cid and outcome.view["state"] == "callback_requested"
    assert outcome.view["callback_phone"] == "139****1111"
    assert "13900001111" not in caplog.text and "139****1111" in caplog.text
    assert "13900001111" not in str([e.event for e in outcome.events])
    stored = row(cid)
    assert stored.callback_phone == "13900001111" and "150102199003071234" not in stored.callback_note
    assert handoff.queue() == [] and [c["id"] for c in handoff.callbacks()] == [cid]
    assert "13900001111" not in str(handoff.transcript(cid, agents["a1"]))
    # asking again updates the same request
    assert handoff.request_callback("s-cb", "0471-6612345").view["id"] == cid
    assert row(cid).callback_phone == "04716612345"
    # a call-back straight away, with nobody queued before
    fresh = handoff.request_callback("s-cb2", "13900002222", channel="voice").view
    assert fresh["id"] != cid and fresh["state"] == "callback_requested"


def test_reveal_needs_a_reason_the_holder_and_is_audited(staff_db, agents):
    cid = handoff.request_callback("s-rv", "13900001111", "").view["id"]
    with pytest.raises(NotHolder):
        handoff.reveal(cid, agents["a1"], "callback_phone", "回拨市民")    # claim it first
    handoff.claim(cid, agents["a1"])
    with pytest.raises(InvalidInput):
        handoff.reveal(cid, agents["a1"], "callback_phone", " ")
    with pytest.raises(InvalidInput):
        handoff.reveal(cid, agents["a1"], "summary", "回拨市民")
    with pytest.raises(NotHolder):
        handoff.reveal(cid, agents["a2"], "callback_phone", "回拨市民")
    assert handoff.reveal(cid, agents["a1"], "callback_phone", "回拨市民") == "13900001111"
    assert handoff.reveal(cid, agents["sup"], "callback_phone", "质检抽查") == "13900001111"
    with session_scope() as session:
        entries = audit_entries(session, action="handoff.reveal")
    assert [e.detail["reason"] for e in entries] == ["质检抽查", "回拨市民"]
    assert all(e.target_type == "handoff" and e.target_id == str(cid) for e in entries)
    assert "13900001111" not in str([e.detail for e in entries])
    closed = handoff.close(cid, agents["a1"], "已回拨")
    assert closed.view["state"] == "closed" and closed.view["wrap_up"] == "已回拨"


# -- honest estimates ---------------------------------------------------------------------------------------------
def _history(agent, durations: list[int], now) -> None:
    """Closed conversations handled by `agent`, with the given handling times, ended an hour ago."""
    for i, seconds in enumerate(durations):
        end = now - timedelta(hours=1)
        start = end - timedelta(seconds=seconds)
        cid = enqueue(f"s-hist{i}", now=start)["id"]
        handoff.claim(cid, agent, now=start)
        handoff.close(cid, agent, "咨询已解答", now=end)


def test_no_agent_on_duty_is_said_plainly(staff_db, agents):
    t = enqueue("s-alone")
    assert t["agents_on_duty"] == 0 and t["estimated_wait_seconds"] is None and t["offer_callback"] is True
    now = utcnow()
    handoff.heartbeat(agents["a1"], now=now - timedelta(seconds=61))      # a console gone quiet
    assert handoff.ticket("s-alone", now=now)["agents_on_duty"] == 0
    with pytest.raises(NotAllowed):
        handoff.heartbeat(agents["editor"], now=now)                    # editors are never on duty
    handoff.heartbeat(agents["a1"], now=now - timedelta(seconds=30))
    assert handoff.ticket("s-alone", now=now)["agents_on_duty"] == 1
    handoff.sign_off(agents["a1"])
    assert handoff.agents_on_duty(now=now) == 0


def test_estimate_from_recent_handling_time_and_agents_on_duty(staff_db, agents, monkeypatch):
    monkeypatch.setenv("HANDOFF_MAX_WAIT_SECONDS", "150")
    get_settings.cache_clear()
    now = utcnow()
    _history(agents["a2"], [300, 600, 900], now)                       # average 600 s
    handoff.sign_off(agents["a2"])
    handoff.heartbeat(agents["a1"], now=now)                            # one agent, 3 at a time
    base = now - timedelta(minutes=5)
    tickets = [enqueue(f"s-w{i}", now=base + timedelta(seconds=i)) for i in range(5)]
    fresh = [handoff.ticket(f"s-w{i}", now=now) for i in range(5)]
    assert [t["position"] for t in fresh] == [1, 2, 3, 4, 5]
    assert [t["estimated_wait_seconds"] for t in fresh[:3]] == [0, 0, 0]   # three free slots
    assert fresh[0]["estimate_basis"] == "free_agent"
    # 4th: the next of 3 slots frees every 600/3 s; 5th: two slots later
    assert [t["estimated_wait_seconds"] for t in fresh[3:]] == [200, 400]
    assert fresh[3]["estimate_basis"] == "recent" and fresh[3]["agents_on_duty"] == 1
    assert [t["offer_callback"] for t in fresh] == [False, False, False, True, True]   # over HANDOFF_MAX_WAIT
    assert tickets[4]["queue_length"] == 5
    # the agent takes two: one slot left, so the 3rd waits no longer and the 4th waits for a slot
    handoff.claim(tickets[0]["id"], agents["a1"], now=now)
    handoff.claim(tickets[1]["id"], agents["a1"], now=now)
    assert handoff.ticket("s-w2", now=now)["estimated_wait_seconds"] == 0
    assert handoff.ticket("s-w3", now=now)["estimated_wait_seconds"] == 200
    # a second agent on duty doubles the slots
    handoff.heartbeat(agents["a2"], now=now)
    assert handoff.ticket("s-w4", now=now)["estimated_wait_seconds"] == 0


def test_estimate_without_history_uses_the_configured_default(staff_db, agents, monkeypatch):
    monkeypatch.setenv("HANDOFF_DEFAULT_HANDLE_SECONDS", "240")
    monkeypatch.setenv("HANDOFF_MAX_PER_AGENT", "1")
    get_settings.cache_clear()
    handoff.heartbeat(agents["a1"])
    first, second = enqueue("s-d1"), enqueue("s-d2")
    assert first["estimated_wait_seconds"] == 0
    assert second["estimated_wait_seconds"] == 240 and second["estimate_basis"] == "default"


# -- events through the bus ---------------------------------------------------------------------------------------
def test_perform_publishes_after_the_change(staff_db, agents):
    cid = enqueue("s-bus")["id"]

    async def scenario():
        bus = InProcessBus()
        async with bus.subscribe("conversation:s-bus", "agents") as sub:
            view = await handoff.perform(handoff.claim, cid, agents["a1"], bus=bus)
            assert view["state"] == "connected"
            first, second = await sub.get(timeout=2), await sub.get(timeout=2)
            assert await handoff.perform(handoff.queue, bus=bus) == []   # plain results pass through
            with pytest.raises(AlreadyClaimed):
                await handoff.perform(handoff.claim, cid, agents["a2"], bus=bus)
            with pytest.raises(TimeoutError):
                await sub.get(timeout=0.05)                                 # a refused claim publishes nothing
        return first, second

    first, second = asyncio.run(scenario())
    assert first.topic == "conversation:s-bus" and first.event["state"] == "connected"
    assert second.topic == "agents" and second.event["type"] == "queue.changed"
    assert second.event["agent_name"] == "坐席001" and second.event["conversation"] is None   # held: no summary


# -- schema and layering ------------------------------------------------------------------------------------------
def test_migration_matches_the_models(staff_db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    tables = {"handoff_conversations", "handoff_messages", "handoff_agent_presence"}
    with get_engine().connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()

    def touches(diff) -> bool:
        item = diff[0] if isinstance(diff, list) else diff     # modify_* diffs come as lists of tuples
        for part in item:
            table = part if isinstance(part, str) else \
                getattr(getattr(part, "table", None), "name", None) or getattr(part, "name", None)
            if table in tables:
                return True
        return False

    assert [d for d in diffs if touches(d)] == []
    assert version >= "0004"


def test_messages_are_stored_in_order(staff_db, agents):
    cid = enqueue("s-order")["id"]
    for i in range(3):
        handoff.add_message(cid, "assistant", f"第{i}条")
    with session_scope() as session:
        texts = list(session.scalars(select(HandoffMessage.text).where(HandoffMessage.conversation_id == cid,
                                                                       HandoffMessage.role == "assistant")
                                     .order_by(HandoffMessage.id)))
    assert texts == ["第0条", "第1条", "第2条"]
