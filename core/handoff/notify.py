"""Handing the events of a handoff change to the bus.

The functions of core/handoff are synchronous (SQLAlchemy) and never publish themselves: a state change
returns an `Outcome` with its `view` and the `events` to publish, produced only after the database
transaction committed. Publishing is the caller's job, with one of:

    view = await perform(handoff.claim, conversation_id, principal)      # in a thread, then publish
    outcome = handoff.claim(conversation_id, principal); await publish(outcome)

The database is the truth; a lost event (bus down) only delays a screen until it re-reads the state, so a
publishing failure is logged, not raised.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from core.events import BusUnavailable, Envelope, EventBus, get_event_bus

log = logging.getLogger("hotline.handoff")

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a state change returns: the view for its caller and the events to publish afterwards."""

    view: T
    events: tuple[Envelope, ...] = field(default_factory=tuple)


async def publish(events: Outcome | Iterable[Envelope], bus: EventBus | None = None) -> bool:
    """Publish in order; False (and a log line) when the bus could not take them all."""
    items = events.events if isinstance(events, Outcome) else tuple(events)
    if not items:
        return True
    bus = bus or get_event_bus()
    ok = True
    for topic, event in items:
        try:
            await bus.publish(topic, event)
        except BusUnavailable as exc:
            ok = False
            log.warning("handoff event %s on %s not published: %s", event.get("type"), topic.split(":")[0], exc)
    return ok


async def perform(fn: Callable[..., Any], *args: Any, bus: EventBus | None = None, **kwargs: Any) -> Any:
    """Run a handoff function in a worker thread, publish its events, return its view.

    Domain errors propagate unchanged; results that are not an Outcome (queue(), transcript(), ...) are
    returned as they are.
    """
    result = await asyncio.to_thread(fn, *args, **kwargs)
    if isinstance(result, Outcome):
        await publish(result, bus)
        return result.view
    return result
