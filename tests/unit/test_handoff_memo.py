"""The gateway remembers callers without a handoff (connectors/gateway/handoff_memo.py) and never routes a turn
wrongly because of it: what a caller sees is who answers their next turn, an agent or the assistant."""
from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager

import pytest

from connectors.gateway import handoff_bridge
from connectors.gateway.handoff_bridge import HandoffBridge
from connectors.gateway.handoff_memo import NoHandoffMemo
from core.events import BusUnavailable, InProcessBus
from core.handoff import AGENTS_TOPIC

SENDER = "web-memo-caller"


class DatabaseFake:
    """Stands in for core.handoff.current: counts the queries and answers what the test set."""

    def __init__(self) -> None:
        self.state: dict | None = None
        self.queries = 0
        self.hold: threading.Event | None = None
        self.started = threading.Event()

    def __call__(self, sender: str) -> dict | None:
        self.queries += 1
        self.started.set()
        if self.hold is not None:
            self.hold.wait(5)
        return self.state


@pytest.fixture
def database(monkeypatch) -> DatabaseFake:
    fake = DatabaseFake()
    monkeypatch.setattr(handoff_bridge.handoff, "current", fake)
    return fake


@asynccontextmanager
async def following(bus: InProcessBus, memo: NoHandoffMemo | None = None):
    """A bridge whose memo follows `bus` (live before the block starts); closed after it."""
    bridge = HandoffBridge("http://rasa.invalid", memo=memo or NoHandoffMemo(lambda: bus))
    bridge.start()
    try:
        await asyncio.wait_for(bridge.memo.following.wait(), 5)
        yield bridge
    finally:
        await bridge.close()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def queued_event(sender: str) -> dict:
    return {"type": "queue.changed", "change": "queued", "conversation_id": 7, "sender": sender, "state": "queued"}


def test_a_caller_without_handoff_is_asked_about_once_until_a_handoff_event_names_them(database):
    async def run() -> None:
        bus = InProcessBus()
        async with following(bus) as bridge:
            assert await bridge.current(SENDER) is None
            assert await bridge.current(SENDER) is None
            assert database.queries == 1
            await bus.publish(AGENTS_TOPIC, queued_event("web-someone-else"))
            await settle()
            assert await bridge.current(SENDER) is None and database.queries == 1
            # another gateway put this caller in the queue: the next turn reads it, and keeps reading it
            database.state = {"id": 7, "state": "queued"}
            await bus.publish(AGENTS_TOPIC, queued_event(SENDER))
            await settle()
            assert await bridge.current(SENDER) == {"id": 7, "state": "queued"}
            assert await bridge.current(SENDER) == {"id": 7, "state": "queued"}
            assert database.queries == 3

    asyncio.run(run())


def test_an_event_without_a_caller_forgets_everyone(database):
    async def run() -> None:
        bus = InProcessBus()
        async with following(bus) as bridge:
            await bridge.current(SENDER)
            await bus.publish(AGENTS_TOPIC, {"type": "agents.changed"})
            await settle()
            await bridge.current(SENDER)
            assert database.queries == 2

    asyncio.run(run())


def test_a_query_under_way_when_the_event_arrives_is_not_remembered(database):
    async def run() -> None:
        bus = InProcessBus()
        async with following(bus) as bridge:
            database.hold = threading.Event()
            turn = asyncio.create_task(bridge.current(SENDER))
            await asyncio.to_thread(database.started.wait, 5)
            await bus.publish(AGENTS_TOPIC, queued_event(SENDER))   # committed after the query read, before it returned
            await settle()
            database.hold.set()
            assert await turn is None
            database.hold = None
            database.state = {"id": 7, "state": "connected"}
            assert await bridge.current(SENDER) == {"id": 7, "state": "connected"}   # asked again, not remembered

    asyncio.run(run())


def test_nothing_is_remembered_without_a_live_subscription(database):
    async def run() -> None:
        unstarted = HandoffBridge("http://rasa.invalid", memo=NoHandoffMemo(InProcessBus))
        for _ in range(3):
            await unstarted.current(SENDER)
        assert database.queries == 3

        bus = InProcessBus(max_pending=2)
        async with following(bus) as bridge:
            await bridge.current(SENDER)
            assert bridge.memo.has_none(SENDER)
            for n in range(3):   # more than the memo may fall behind: its subscription is lost
                await bus.publish(AGENTS_TOPIC, queued_event(f"web-other-{n}"))
            await settle()
            assert not bridge.memo.following.is_set()
            await bridge.current(SENDER)
            await bridge.current(SENDER)
            assert database.queries == 6   # asked on every turn until the memo follows the topic again
            await asyncio.wait_for(bridge.memo.following.wait(), 5)
            await bridge.current(SENDER)
            await bridge.current(SENDER)
            assert database.queries == 7

    asyncio.run(run())


def test_remembered_callers_expire_and_the_memory_is_bounded(database):
    async def run() -> None:
        bus = InProcessBus()
        memo = NoHandoffMemo(lambda: bus, max_age=0.05, max_entries=2)
        async with following(bus, memo) as bridge:
            await bridge.current(SENDER)
            await asyncio.sleep(0.1)
            await bridge.current(SENDER)
            assert database.queries == 2
            for sender in ("web-a", "web-b"):
                await bridge.current(sender)
            assert not memo.has_none(SENDER) and memo.has_none("web-a") and memo.has_none("web-b")

    asyncio.run(run())


def test_a_query_started_before_the_subscription_was_live_is_not_remembered(database):
    """The memo could not hear events until its subscription was confirmed: what the database said before then
    may already be out of date."""
    async def run() -> None:
        bus, calls = InProcessBus(), []

        def flaky_bus() -> InProcessBus:
            calls.append(1)
            if len(calls) == 1:
                raise BusUnavailable("redis restarting")
            return bus

        bridge = HandoffBridge("http://rasa.invalid", memo=NoHandoffMemo(flaky_bus))
        bridge.start()
        try:
            database.hold = threading.Event()
            turn = asyncio.create_task(bridge.current(SENDER))
            await asyncio.to_thread(database.started.wait, 5)
            await asyncio.wait_for(bridge.memo.following.wait(), 5)   # live again after the back-off
            database.hold.set()
            assert await turn is None
            database.hold = None
            await bridge.current(SENDER)
            assert database.queries == 2   # asked again: the first answer was not trusted
        finally:
            await bridge.close()

    asyncio.run(run())
