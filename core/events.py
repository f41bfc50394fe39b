"""Live events between processes: one publish/subscribe interface, in-process by default, Redis for scale-out.

    bus = get_event_bus()                       # EVENT_BUS_URL: empty = in-process, redis://... = Redis
    await bus.publish("conversation:web-1a2b", {"type": "handoff.state", "state": "connected"})

    async with bus.subscribe("conversation:web-1a2b", "agents") as sub:
        async for topic, event in sub:          # or: topic, event = await sub.get(timeout=30)
            ...

Guarantees, the same for both implementations:

- A subscription receives every event published on its topics after `async with bus.subscribe(...)` has
  been entered (the Redis subscription is confirmed by the server before the block starts), in the order
  each publisher published them. Nothing published earlier is replayed: state that must outlive a process
  lives in the database, and a subscriber reads it there first, then follows the events.
- Events are JSON objects (dicts of JSON values); `publish` refuses anything else with TypeError, and every
  subscriber gets its own decoded copy, so in-process and Redis behave alike.
- Leaving the block, by any path including task cancellation, ends the subscription and frees what it held
  (its queue, or its Redis connection).
- When a subscriber cannot keep up (more than `max_pending` undelivered events) or its Redis connection
  drops, events may have been missed: its next `get()` raises `SubscriptionLost`, and the subscriber
  re-reads the state from the database and subscribes again.

Topics in use: `conversation:<sender>` (messages and state changes of one conversation, for the caller's
socket and the agent holding it), `conversation:<sender>:staff` (internal agent notes, staff consoles
only) and `agents` (queue changes for every agent console). See core/handoff.

The in-process bus only reaches subscribers in the same process: with more than one gateway process, or
when the action server changes handoff state, set EVENT_BUS_URL to a Redis server.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from core.settings import get_settings

log = logging.getLogger("hotline.events")

DEFAULT_PREFIX = "hotline:"
DEFAULT_MAX_PENDING = 1000
MAX_TOPIC_LENGTH = 200
SUBSCRIBE_CONFIRM_SECONDS = 5.0


class EventBusError(Exception):
    """Base of the event bus errors."""


class BusUnavailable(EventBusError):
    """The bus backend (Redis) cannot be reached; nothing was published or subscribed."""


class SubscriptionLost(EventBusError):
    """Events may have been missed (subscriber too slow, or the connection dropped): re-read and resubscribe."""


class Envelope(NamedTuple):
    """One received event: the topic it was published on and its (decoded, private) copy."""

    topic: str
    event: dict[str, Any]


def check_topic(topic: str) -> str:
    if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_LENGTH or topic != topic.strip():
        raise ValueError(f"invalid topic {topic!r}: a non-empty string of at most {MAX_TOPIC_LENGTH} characters")
    return topic


def encode_event(event: dict[str, Any]) -> str:
    """The JSON text of `event`; TypeError when it is not a JSON object of JSON values."""
    if not isinstance(event, dict):
        raise TypeError(f"an event is a dict, not {type(event).__name__}")
    try:
        return json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"event is not JSON-serialisable: {exc}") from exc


class Subscription(ABC):
    """One subscriber's view of some topics. Use it as `async with`; iterate it or call `get()` inside."""

    def __init__(self, topics: tuple[str, ...]) -> None:
        if not topics:
            raise ValueError("subscribe to at least one topic")
        self.topics = tuple(dict.fromkeys(check_topic(t) for t in topics))
        self._entered = False
        self._closed = False

    async def __aenter__(self) -> Subscription:
        if self._entered:
            raise RuntimeError("a subscription can be entered only once")
        self._entered = True
        try:
            await self._open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """End the subscription (idempotent, safe to call while cancelled)."""
        if self._closed:
            return
        self._closed = True
        await self._close()

    async def get(self, timeout: float | None = None) -> Envelope:
        """The next event; TimeoutError after `timeout` seconds, SubscriptionLost when events were missed."""
        if not self._entered or self._closed:
            raise RuntimeError("use `async with bus.subscribe(...) as sub:` and call get() inside the block")
        if timeout is None:
            return await self._next()
        async with asyncio.timeout(timeout):
            return await self._next()

    def __aiter__(self) -> AsyncIterator[Envelope]:
        if self._entered:
            return self._iterate()
        return self._iterate_owned()

    async def _iterate(self) -> AsyncIterator[Envelope]:
        while True:
            yield await self.get()

    async def _iterate_owned(self) -> AsyncIterator[Envelope]:
        # `async for ... in bus.subscribe(...)` without `async with`: subscribes on the first step, and the
        # generator's finally (run on cancellation, or when the generator is closed) unsubscribes.
        async with self:
            while True:
                yield await self.get()

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _next(self) -> Envelope: ...


class EventBus(ABC):
    """publish(topic, event) and subscribe(*topics); see the module docstring for the guarantees."""

    @abstractmethod
    async def publish(self, topic: str, event: dict[str, Any]) -> int:
        """Send `event` to the current subscribers of `topic`; returns how many the backend reached."""

    @abstractmethod
    def subscribe(self, *topics: str) -> Subscription:
        """A subscription to `topics`; it starts when its `async with` block is entered."""

    async def ping(self) -> bool:
        """True when the bus can be used (for /health)."""
        return True

    async def close(self) -> None:
        """Release the backend connections of this bus (subscriptions end on their own)."""


# -- in-process ------------------------------------------------------------------------------------------------
class _LocalSubscription(Subscription):
    def __init__(self, bus: InProcessBus, topics: tuple[str, ...], max_pending: int) -> None:
        super().__init__(topics)
        self._bus = bus
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=max_pending)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lost = False

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._bus._add(self)

    async def _close(self) -> None:
        self._bus._remove(self)
        while not self._queue.empty():  # drop what is left; nothing else refers to the queue
            self._queue.get_nowait()

    def _put(self, topic: str, payload: str) -> None:
        if self._closed or self.lost:
            return
        try:
            self._queue.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self.lost = True
            log.warning("event subscriber on %s fell %d events behind; it must resubscribe",
                        ",".join(self.topics), self._queue.maxsize)
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(("", ""))  # wakes a waiting get(), which then raises SubscriptionLost

    def deliver(self, topic: str, payload: str) -> None:
        """Called by publish, possibly from another event loop or thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._put(topic, payload)
        else:
            loop.call_soon_threadsafe(self._put, topic, payload)

    async def _next(self) -> Envelope:
        if self.lost:
            raise SubscriptionLost("subscriber fell behind; events were dropped")
        topic, payload = await self._queue.get()
        if self.lost:
            raise SubscriptionLost("subscriber fell behind; events were dropped")
        return Envelope(topic, json.loads(payload))


class InProcessBus(EventBus):
    """Publish/subscribe inside one process (asyncio queues). The default; needs nothing installed."""

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.max_pending = max(1, max_pending)
        self._subscribers: dict[str, set[_LocalSubscription]] = {}
        self._lock = threading.Lock()

    def _add(self, sub: _LocalSubscription) -> None:
        with self._lock:
            for topic in sub.topics:
                self._subscribers.setdefault(topic, set()).add(sub)

    def _remove(self, sub: _LocalSubscription) -> None:
        with self._lock:
            for topic in sub.topics:
                subs = self._subscribers.get(topic)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subscribers[topic]

    def subscriber_count(self, topic: str | None = None) -> int:
        """Live subscriptions (on `topic`, or on any topic); for tests and /health."""
        with self._lock:
            if topic is not None:
                return len(self._subscribers.get(topic, ()))
            return len({sub for subs in self._subscribers.values() for sub in subs})

    async def publish(self, topic: str, event: dict[str, Any]) -> int:
        check_topic(topic)
        payload = encode_event(event)
        with self._lock:
            targets = list(self._subscribers.get(topic, ()))
        for sub in targets:
            sub.deliver(topic, payload)
        return len(targets)

    def subscribe(self, *topics: str) -> Subscription:
        return _LocalSubscription(self, topics, self.max_pending)


# -- Redis -------------------------------------------------------------------------------------------------------
class _RedisSubscription(Subscription):
    def __init__(self, bus: RedisBus, topics: tuple[str, ...]) -> None:
        super().__init__(topics)
        self._bus = bus
        self._pubsub = None
        self._connection = None
        self._buffer: deque[dict] = deque()
        self._reconnected = False

    def _on_connect(self, _connection: object) -> None:
        # redis-py reconnects and resubscribes on its own; events published meanwhile are gone
        self._reconnected = True

    async def _open(self) -> None:
        from redis.exceptions import RedisError

        channels = [self._bus.prefix + t for t in self.topics]
        client = self._bus._client(subscriber=True)
        self._pubsub = client.pubsub()
        try:
            await self._pubsub.subscribe(*channels)
            pending = set(channels)
            async with asyncio.timeout(SUBSCRIBE_CONFIRM_SECONDS):
                while pending:  # the server has subscribed us once it confirmed every channel
                    message = await self._pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        pending.discard(message["channel"])
                    elif message["type"] == "message":
                        self._buffer.append(message)
        except (RedisError, OSError, TimeoutError) as exc:
            raise BusUnavailable(f"cannot subscribe on Redis: {type(exc).__name__}: {exc}") from exc
        self._connection = self._pubsub.connection
        self._connection.register_connect_callback(self._on_connect)

    async def _close(self) -> None:
        if self._pubsub is None:
            return
        pubsub, self._pubsub = self._pubsub, None
        if self._connection is not None:
            self._connection.deregister_connect_callback(self._on_connect)
        try:
            # disconnects the connection (no half-read reply can be reused) and returns it to the pool
            await asyncio.shield(pubsub.aclose())
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the connection is being thrown away anyway
            log.debug("closing a Redis subscription failed", exc_info=True)

    def _decode(self, message: dict) -> Envelope:
        return Envelope(message["channel"][len(self._bus.prefix):], json.loads(message["data"]))

    async def _next(self) -> Envelope:
        from redis.exceptions import RedisError

        while True:
            if self._reconnected:
                raise SubscriptionLost("the Redis connection was re-established; events may have been missed")
            if self._buffer:
                return self._decode(self._buffer.popleft())
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            except (RedisError, OSError) as exc:
                raise SubscriptionLost(f"Redis subscription dropped: {type(exc).__name__}") from exc
            if message is not None and message.get("type") == "message":
                self._buffer.append(message)


class RedisBus(EventBus):
    """Publish/subscribe through Redis channels named `prefix + topic`, so several processes share events.

    Uses redis-py's asyncio client. Connections belong to the event loop that opened them, so the bus keeps
    one publishing client per running loop; each subscription holds one pooled connection of its own.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, client_name: str = "hotline-events") -> None:
        self.url = url
        self.prefix = prefix
        self.client_name = client_name   # shown by CLIENT LIST as <name>-pub / <name>-sub
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, Any]] = \
            weakref.WeakKeyDictionary()

    def _client(self, *, subscriber: bool = False):
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff, NoBackoff

        loop = asyncio.get_running_loop()
        clients = self._clients.setdefault(loop, {})
        if subscriber not in clients:
            # subscribers never retry silently: a reconnect could hide lost events (SubscriptionLost instead)
            retry = Retry(NoBackoff(), 0) if subscriber else Retry(ExponentialBackoff(cap=1.0, base=0.05), 3)
            clients[subscriber] = aioredis.Redis.from_url(
                self.url, decode_responses=True, socket_connect_timeout=3, socket_keepalive=True, retry=retry,
                socket_timeout=None if subscriber else 5,
                client_name=f"{self.client_name}-{'sub' if subscriber else 'pub'}")
        return clients[subscriber]

    async def publish(self, topic: str, event: dict[str, Any]) -> int:
        from redis.exceptions import RedisError

        check_topic(topic)
        payload = encode_event(event)
        try:
            return int(await self._client().publish(self.prefix + topic, payload))
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"cannot publish on Redis: {type(exc).__name__}: {exc}") from exc

    def subscribe(self, *topics: str) -> Subscription:
        return _RedisSubscription(self, topics)

    async def ping(self) -> bool:
        try:
            return bool(await self._client().ping())
        except Exception:  # noqa: BLE001 - health check: any failure means "not usable"
            return False

    async def close(self) -> None:
        """Close the clients of the running loop (other loops' clients go with their loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for client in (self._clients.pop(loop, None) or {}).values():
            await client.aclose()


# -- the process-wide bus -----------------------------------------------------------------------------------------
_buses: dict[str, EventBus] = {}
_buses_lock = threading.Lock()


def make_event_bus(url: str, *, prefix: str = DEFAULT_PREFIX) -> EventBus:
    """A new bus for `url`: empty or memory:// = InProcessBus, redis:// rediss:// unix:// = RedisBus."""
    url = (url or "").strip()
    if not url or url == "memory://":
        return InProcessBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(url, prefix=prefix)
    raise ValueError("EVENT_BUS_URL must be empty (in-process) or a redis://, rediss:// or unix:// URL")


def get_event_bus() -> EventBus:
    """The bus of this process, chosen by EVENT_BUS_URL (created on first use, then shared)."""
    url = get_settings().event_bus_url
    with _buses_lock:
        bus = _buses.get(url)
        if bus is None:
            bus = _buses[url] = make_event_bus(url)
        return bus


def reset_event_buses() -> None:
    """Forget the shared buses (tests; after changing EVENT_BUS_URL)."""
    with _buses_lock:
        _buses.clear()
