"""Callers known to have no handoff, remembered per gateway process so most turns skip a database query.

Every turn first asks who answers it (HandoffBridge.current): the database's answer is "nobody but the
assistant" for nearly every turn of every caller, and that query with its worker-thread hop was about a quarter
of the gateway's CPU per turn (docs/BENCHMARKS.md, session 11). A conversation gets a handoff only when one is
created for it (core.handoff `request` or `request_callback`, both publishing a `queue.changed` event on the
`agents` topic that names the caller); after that its turns read the database again. So this process remembers
callers whose last query found nothing, and forgets one as soon as an event on the agents topic names it.

It stays correct with several gateway processes because:
- only "no handoff" is remembered; a live handoff or call-back is read from the database on every turn;
- nothing is remembered unless the subscription to the agents topic is live: until it is confirmed, and from the
  moment it is lost (the bus's SubscriptionLost or BusUnavailable) until it is back, the memory is empty;
- a query that was running when an event arrived (or the subscription dropped) is not remembered;
- entries expire after MAX_AGE_SECONDS, for an event that never reached the bus (its publisher could not
  publish, core/handoff/notify.py) or a Redis connection that died without a word (the subscriber does not
  notice until TCP does); an event without a caller forgets everyone.

With several gateway processes the bus must be Redis (EVENT_BUS_URL), as for every live handoff event.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from core.events import BusUnavailable, EventBus, SubscriptionLost, get_event_bus
from core.handoff import AGENTS_TOPIC

log = logging.getLogger("hotline.handoff")

MAX_AGE_SECONDS = 20.0   # bounds the harm of an event that never arrived (a caller asks again every few turns)
MAX_ENTRIES = 100_000
RESUBSCRIBE_BACKOFF = (0.5, 1, 2, 5)


class NoHandoffMemo:
    def __init__(self, bus: Callable[[], EventBus] = get_event_bus, *, max_age: float = MAX_AGE_SECONDS,
                 max_entries: int = MAX_ENTRIES) -> None:
        self._bus, self.max_age, self.max_entries = bus, max_age, max_entries
        self._none: OrderedDict[str, float] = OrderedDict()   # sender -> when the database said "no handoff"
        self._generation = 0                                  # +1 on every forget: a query older than it is stale
        self._task: asyncio.Task | None = None
        self.following = asyncio.Event()

    @property
    def generation(self) -> int:
        return self._generation

    def has_none(self, sender: str) -> bool:
        """True when this caller is known to have no handoff (so the database need not be asked)."""
        at = self._none.get(sender)
        if at is None:
            return False
        if not self.following.is_set() or time.monotonic() - at > self.max_age:
            del self._none[sender]
            return False
        return True

    def remember_none(self, sender: str, generation: int) -> None:
        """The database found no handoff for `sender` in a query started at `generation`."""
        if not self.following.is_set() or generation != self._generation:
            return
        self._none[sender] = time.monotonic()
        self._none.move_to_end(sender)
        while len(self._none) > self.max_entries:
            self._none.popitem(last=False)

    def forget(self, sender: str | None = None) -> None:
        """This caller (or, with None, everyone) may have a handoff now."""
        self._generation += 1
        if sender is None:
            self._none.clear()
        else:
            self._none.pop(sender, None)

    # -- following the agents topic ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="no-handoff-memo")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _follow(self) -> None:
        failures = 0
        while True:
            try:
                async with self._bus().subscribe(AGENTS_TOPIC) as sub:
                    self._generation += 1   # a query started before this moment may have missed an event
                    self.following.set()
                    failures = 0
                    while True:
                        _, event = await sub.get()
                        sender = event.get("sender")
                        self.forget(sender if isinstance(sender, str) else None)
            except (SubscriptionLost, BusUnavailable) as exc:
                log.info("handoff memo lost the agents topic (%s); asking the database until it is back",
                         type(exc).__name__)
            except Exception:  # noqa: BLE001 - whatever went wrong, the turns fall back to the database
                log.exception("handoff memo stopped following the agents topic; retrying")
            finally:
                self.following.clear()
                self.forget()
            await asyncio.sleep(RESUBSCRIBE_BACKOFF[min(failures, len(RESUBSCRIBE_BACKOFF) - 1)])
            failures += 1
