"""The event bus (core/events.py): the in-process bus and the Redis bus against a real Redis server.

Two RedisBus instances stand for two gateway processes; one test also publishes from a real second process.
Redis: TEST_REDIS_URL, default redis://127.0.0.1:6379/0; the Redis tests are skipped, saying why, only when
that server cannot be reached. Every test uses its own channel prefix, so a shared server is fine.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import pytest

from core.events import (
    BusUnavailable,
    InProcessBus,
    RedisBus,
    SubscriptionLost,
    get_event_bus,
    make_event_bus,
    reset_event_buses,
)
from core.settings import get_settings
from tests.services import service_missing

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_reachable() -> str | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
        return None
    except Exception as exc:  # noqa: BLE001 - report why
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()


@pytest.fixture(scope="module")
def redis_server() -> str:
    problem = _redis_reachable()
    if problem:
        service_missing(f"Redis not reachable at {REDIS_URL} ({problem}); start redis-server or set TEST_REDIS_URL")
    return REDIS_URL


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"hotline-test-{tag}:", f"hotline-test-{tag}"


@pytest.fixture(params=["memory", "redis"])
def make_bus(request):
    """make_bus() -> a new bus of the parametrised kind; Redis buses made by one test share a prefix."""
    if request.param == "memory":
        shared = InProcessBus()    # one process: every "instance" is the same bus
        yield lambda: shared
        return
    request.getfixturevalue("redis_server")
    prefix, name = _names()
    yield lambda: RedisBus(REDIS_URL, prefix=prefix, client_name=name)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def sync_redis():
    import redis

    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


def _clients_named(name: str) -> list[dict]:
    client = sync_redis()
    try:
        return [c for c in client.client_list() if c.get("name") == name]
    finally:
        client.close()


# -- the guarantees, for both kinds ---------------------------------------------------------------------------------
def test_subscriber_gets_every_event_published_after_it_subscribed(make_bus):
    async def scenario():
        publisher, listener = make_bus(), make_bus()
        await publisher.publish("conversation:web-1", {"n": 0})          # nobody listening yet: gone
        async with listener.subscribe("conversation:web-1", "agents") as sub:
            for n in range(1, 4):
                await publisher.publish("conversation:web-1", {"n": n, "text": "您好"})
            await publisher.publish("agents", {"type": "queue.changed"})
            await publisher.publish("conversation:web-2", {"n": 99})      # another conversation
            got = [await sub.get(timeout=5) for _ in range(4)]
            with pytest.raises(TimeoutError):
                await sub.get(timeout=0.2)
        for bus in {id(publisher): publisher, id(listener): listener}.values():
            await bus.close()
        return got

    got = run(scenario())
    assert [(e.topic, e.event.get("n")) for e in got] == [
        ("conversation:web-1", 1), ("conversation:web-1", 2), ("conversation:web-1", 3), ("agents", None)]
    assert got[0].event["text"] == "您好"


def test_each_subscriber_gets_its_own_copy(make_bus):
    async def scenario():
        bus_a, bus_b = make_bus(), make_bus()
        async with bus_a.subscribe("agents") as first, bus_b.subscribe("agents") as second:
            reached = await bus_a.publish("agents", {"items": [1, 2]})
            a = await first.get(timeout=5)
            a.event["items"].append(3)
            b = await second.get(timeout=5)
        await bus_a.close()
        await bus_b.close()
        return reached, b

    reached, b = run(scenario())
    assert reached == 2 and b.event == {"items": [1, 2]}


def test_only_json_objects_are_events(make_bus):
    async def scenario():
        bus = make_bus()
        with pytest.raises(TypeError):
            await bus.publish("agents", {"at": object()})
        with pytest.raises(TypeError):
            await bus.publish("agents", ["not", "a", "dict"])
        with pytest.raises(TypeError):
            await bus.publish("agents", {"x": float("nan")})
        with pytest.raises(ValueError):
            await bus.publish("", {})
        with pytest.raises(ValueError):
            bus.subscribe()
        await bus.close()

    run(scenario())


def test_cancelled_subscriber_leaks_nothing(make_bus):
    async def scenario():
        bus = make_bus()
        ready = asyncio.Event()

        async def listen():
            async with bus.subscribe("conversation:web-9") as sub:
                ready.set()
                await sub.get()                                            # waits forever

        task = asyncio.create_task(listen())
        await asyncio.wait_for(ready.wait(), 5)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the same again with `async for` straight on subscribe(), no `async with`
        seen = asyncio.Event()

        async def iterate():
            async for _ in bus.subscribe("conversation:web-9"):
                seen.set()

        task = asyncio.create_task(iterate())
        for _ in range(100):                                                # until it is subscribed
            await bus.publish("conversation:web-9", {"ping": 1})
            if seen.is_set():
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Redis frees a closed connection's subscriptions when it reads the close, which may come after a publish
        # sent just then on another connection: ask again for a moment; a leaked subscription stays counted
        left = await bus.publish("conversation:web-9", {"after": True})
        deadline = time.monotonic() + 3
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            left = await bus.publish("conversation:web-9", {"after": True})
        await bus.close()
        return bus, left

    bus, left = run(scenario())
    assert left == 0                                                        # nobody subscribed any more
    if isinstance(bus, InProcessBus):
        assert bus.subscriber_count() == 0
    else:
        deadline = time.monotonic() + 3
        while _clients_named(f"{bus.client_name}-sub") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _clients_named(f"{bus.client_name}-sub") == []               # the connection is closed too
        client = sync_redis()
        try:
            assert client.pubsub_numsub(bus.prefix + "conversation:web-9") == [(bus.prefix + "conversation:web-9", 0)]
        finally:
            client.close()


# -- in-process specifics --------------------------------------------------------------------------------------------
def test_slow_subscriber_is_told_it_lost_events():
    async def scenario():
        bus = InProcessBus(max_pending=3)
        async with bus.subscribe("agents") as sub:
            for n in range(5):
                await bus.publish("agents", {"n": n})
            with pytest.raises(SubscriptionLost):
                await sub.get(timeout=1)
        return bus

    assert run(scenario()).subscriber_count() == 0


def test_publish_from_another_thread_reaches_the_loop():
    async def scenario():
        bus = InProcessBus()
        async with bus.subscribe("agents") as sub:
            await asyncio.to_thread(asyncio.run, bus.publish("agents", {"from": "thread"}))
            return await sub.get(timeout=5)

    assert run(scenario()).event == {"from": "thread"}


def test_get_event_bus_follows_the_setting(monkeypatch, redis_server):
    monkeypatch.delenv("EVENT_BUS_URL", raising=False)
    get_settings.cache_clear()
    reset_event_buses()
    try:
        assert isinstance(get_event_bus(), InProcessBus) and get_event_bus() is get_event_bus()
        monkeypatch.setenv("EVENT_BUS_URL", redis_server)
        get_settings.cache_clear()
        bus = get_event_bus()
        assert isinstance(bus, RedisBus) and bus.prefix == "hotline:"

        async def ping_and_close():
            try:
                return await bus.ping()
            finally:
                await bus.close()

        assert run(ping_and_close()) is True
        with pytest.raises(ValueError):
            make_event_bus("http://127.0.0.1:6379")
    finally:
        get_settings.cache_clear()
        reset_event_buses()


# -- Redis specifics ------------------------------------------------------------------------------------------------
def test_two_processes_talk_through_redis(redis_server):
    """A caller's socket on one gateway process, an agent's console on another."""
    prefix, name = _names()

    async def scenario():
        gateway_a = RedisBus(redis_server, prefix=prefix, client_name=name)
        async with gateway_a.subscribe("conversation:web-42") as caller_socket:
            code = (
                "import asyncio, sys\n"
                "from core.events import RedisBus\n"
                "async def main():\n"
                f"    bus = RedisBus({redis_server!r}, prefix={prefix!r})\n"
                "    await bus.publish('conversation:web-42', {'type': 'handoff.message', 'text': '坐席001：您好'})\n"
                "    await bus.close()\n"
                "asyncio.run(main())\n"
            )
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, cwd=str(ROOT))
            assert await proc.wait() == 0
            got = await caller_socket.get(timeout=10)
        await gateway_a.close()
        return got

    got = run(scenario())
    assert got.topic == "conversation:web-42" and got.event["text"] == "坐席001：您好"


def test_redis_prefix_keeps_deployments_apart(redis_server):
    async def scenario():
        mine = RedisBus(redis_server, prefix=_names()[0])
        other = RedisBus(redis_server, prefix=_names()[0])
        async with mine.subscribe("agents") as sub:
            assert await other.publish("agents", {"other": True}) == 0
            await mine.publish("agents", {"mine": True})
            got = await sub.get(timeout=5)
        await mine.close()
        await other.close()
        return got

    assert run(scenario()).event == {"mine": True}


def test_dropped_redis_connection_is_reported_not_hidden(redis_server):
    prefix, name = _names()

    async def scenario():
        bus = RedisBus(redis_server, prefix=prefix, client_name=name)
        async with bus.subscribe("agents") as sub:
            await bus.publish("agents", {"n": 1})
            assert (await sub.get(timeout=5)).event == {"n": 1}
            killer = sync_redis()
            try:
                killed = await asyncio.to_thread(
                    lambda: sum(killer.client_kill_filter(_id=c["id"]) for c in _clients_named(f"{name}-sub")))
            finally:
                killer.close()
            assert killed == 1
            with pytest.raises(SubscriptionLost):
                await sub.get(timeout=5)
        await bus.close()

    run(scenario())


def test_unreachable_redis_is_a_clear_error():
    async def scenario():
        bus = RedisBus("redis://127.0.0.1:1/0")
        with pytest.raises(BusUnavailable):
            await bus.publish("agents", {})
        with pytest.raises(BusUnavailable):
            async with bus.subscribe("agents"):
                pass
        assert await bus.ping() is False
        await bus.close()

    run(scenario())
