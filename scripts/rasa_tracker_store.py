"""Rasa's SQL tracker store with the privacy rules of core/tracker_privacy.py (runs in Rasa's Python 3.10).

endpoints.yml names it (`type: scripts.rasa_tracker_store.PrivacySQLTrackerStore`). Each save writes the new
events with the caller's and the bot's text masked, and masks the earlier values of every slot the turn
replaced (all of them after a reset), in the same transaction.

It also keeps, per process, the conversations it has recently read or written (`TrackerCache`), so a turn does
not read back and replay its whole conversation from the database: Rasa's own store does both on every turn,
and its cost grows with the conversation. A kept conversation is exactly what reading it back would give: it is
built from the events as stored (masked), so it holds no more personal data than the database does. It is used
only while the database still holds the same rows for that caller (the number of rows and the last row id are
checked on every read and every save, one small indexed query), so a turn taken by another Rasa process, a
deleted conversation or an earlier failed save sends the read back to the database. Conversations are kept for
RASA_TRACKER_CACHE_SECONDS (300; 0 turns this off, and it is always well below the retention job's idle period,
which masks rows in place without adding any), at most RASA_TRACKER_CACHE_SIZE (1000) of them.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Any, List, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from core import tracker_privacy

log = logging.getLogger("hotline.tracker_store")
Stamp = Tuple[int, int]  # (rows stored for the caller, id of the last one)
_STAMP = sa.text(f"SELECT count(id), max(id) FROM {SQLTrackerStore.SQLEvent.__tablename__} "
                 "WHERE sender_id = :sender_id")
_BASE = "_hotline_base"  # on a tracker handed out from the cache: (stamp, number of its events then)


class PrivacySQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore that never keeps raw personal data longer than the conversation needs it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = TrackerCache.from_environment()
        if self.engine.dialect.name == "sqlite":
            self._reuse_sqlite_connections()

    def _reuse_sqlite_connections(self) -> None:
        """The embedded SQLite file: one kept connection instead of a new one for every read and write (Rasa's
        engine opens the file anew each time), in WAL mode without a disk flush at every commit: a commit then
        survives any crash of the process (kill -9 included), and only a crash of the machine itself can
        undo the last ones. The scale-out mode stores conversations in PostgreSQL."""
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=2,
                                       connect_args={"check_same_thread": False, "timeout": 15})

        @sa.event.listens_for(self.engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        self.sessionmaker = sessionmaker(bind=self.engine)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        if not self.cache.enabled:
            return await super().retrieve(sender_id)
        with self.session_scope() as session:
            stamp = self._stamp(session, sender_id)  # read first: rows added meanwhile make the entry stale
        kept = self.cache.get(sender_id, stamp, self.domain)
        if kept is not None:
            tracker = clone_tracker(kept)
            setattr(tracker, _BASE, (stamp, len(tracker.events)))
            return tracker
        tracker = await super().retrieve(sender_id)
        if tracker is not None and stamp[0]:
            self.cache.put(sender_id, stamp, self.domain, clone_tracker(tracker))
            setattr(tracker, _BASE, (stamp, len(tracker.events)))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        base: Optional[Tuple[Stamp, int]] = tracker.__dict__.pop(_BASE, None)
        with self.session_scope() as session:
            # only a tracker handed out by the cache has a base; any other is read from the database next time
            if base is not None and self._stamp(session, tracker.sender_id) == base[0]:  # nothing stored since
                new = list(tracker.events)[base[1]:]
            else:
                new = list(self._additional_events(session, tracker))
                base = None
            if not new:
                if base is not None:
                    setattr(tracker, _BASE, base)
                return
            before = list(tracker.events)[: len(tracker.events) - len(new)]
            asked = _last_bot_asked_personal(before)
            raw = [event.as_dict() for event in new]
            rows = tracker_privacy.mask_superseded(tracker_privacy.stored_events(raw, asked))
            names, reset = tracker_privacy.superseded(raw)
            if names or reset:
                self._mask_earlier_slots(session, tracker.sender_id, names, reset)
            stored = [json.dumps(data) for data in rows]
            session.execute(self.SQLEvent.__table__.insert(), [{
                "sender_id": tracker.sender_id, "type_name": data.get("event"), "timestamp": data.get("timestamp"),
                "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                "action_name": data.get("name"), "data": text} for data, text in zip(rows, stored)])
            after = self._stamp(session, tracker.sender_id) if base is not None else None
            session.commit()
        try:
            self._remember(tracker, base, after, stored, names, reset)
        except Exception:  # the turn is stored; only the kept copy is in doubt: the next read goes to the database
            self.cache.drop(tracker.sender_id)
            log.exception("tracker cache: could not keep the conversation after saving it")

    def _remember(self, tracker: DialogueStateTracker, base: Optional[Tuple[Stamp, int]], after: Optional[Stamp],
                  stored: List[str], names: set, reset: bool) -> None:
        """Move the kept conversation on by the events just stored, exactly as reading them back would."""
        sender = tracker.sender_id
        kept = self.cache.take(sender, base[0], self.domain) if base is not None else None
        if kept is None or after is None:
            return  # not read through the cache (a new conversation, another process's turn): read it next time
        if after[0] != base[0][0] + len(stored):
            return  # someone else stored rows for this caller during this save (a lock that expired): read it again
        events = [Event.from_parameters(json.loads(data)) for data in stored]
        started = max((e.timestamp for e in kept.events if isinstance(e, SessionStarted)), default=None)
        if any(isinstance(event, SessionStarted) or (started is not None and event.timestamp < started)
               for event in events):
            return  # Rasa reads events stamped from the session's start on: the next read goes to the database
        if names or reset:
            mask_kept_slots(kept, names, reset)
        for event in events:
            kept.update(event)
        self.cache.put(sender, after, self.domain, kept)
        setattr(tracker, _BASE, (after, len(tracker.events)))

    def _stamp(self, session: Any, sender_id: str) -> Stamp:
        count, last = session.execute(_STAMP, {"sender_id": sender_id}).one()
        return int(count or 0), int(last or 0)

    def _mask_earlier_slots(self, session: Any, sender_id: str, names: set, reset: bool) -> None:
        """Mask the stored values each replaced slot had until now (every slot's, after a reset).

        For a replaced slot only its last stored row can still hold a raw value: every save masks the earlier
        ones (and `mask_superseded` those within the save), so only that row is read. A reset (cancelling, a
        restart: rare) reads and masks every slot row of the conversation, whatever wrote them. A slot event's
        row keeps the slot's name in action_name."""
        table = self.SQLEvent.__table__
        rows = sa.select(table.c.id, table.c.data).where(table.c.sender_id == sender_id, table.c.type_name == "slot")
        if not reset:
            last = sa.select(sa.func.max(table.c.id)).where(
                table.c.sender_id == sender_id, table.c.type_name == "slot",
                table.c.action_name.in_(sorted(names))).group_by(table.c.action_name)
            rows = sa.select(table.c.id, table.c.data).where(table.c.id.in_(last))
        changed = []
        for row_id, data in session.execute(rows):
            masked = json.dumps(tracker_privacy.mask_slot_event(json.loads(data)))
            if masked != data:
                changed.append({"row_id": row_id, "masked": masked})
        if changed:
            session.execute(table.update().where(table.c.id == sa.bindparam("row_id"))
                            .values(data=sa.bindparam("masked")), changed)


class ExpiringStore:
    """One value per conversation, valid for the stamp and the model it was kept with, at most `size` of them.
    Entries leave after `seconds` even if the process serves no turn (a sweeper thread): nothing kept here
    outlives that in memory."""

    def __init__(self, size: int, seconds: float, name: str = "expiring-store") -> None:
        self.size, self.seconds, self.name = size, seconds, name
        self.enabled = size > 0 and seconds > 0
        self._kept: "OrderedDict[str, Tuple[Any, Any, float, Any]]" = OrderedDict()  # put order
        self._lock = threading.Lock()
        self._sweeper: Optional[threading.Thread] = None

    def get(self, sender: str, stamp: Any, model: Any) -> Any:
        with self._lock:
            self._expire()
            entry = self._kept.get(sender)
            if entry is None:
                return None
            if entry[0] != stamp or entry[1] is not model:
                del self._kept[sender]
                return None
            return entry[3]

    def take(self, sender: str, stamp: Any, model: Any) -> Any:
        kept = self.get(sender, stamp, model)
        self.drop(sender)
        return kept

    def drop(self, sender: str) -> None:
        with self._lock:
            self._kept.pop(sender, None)

    def put(self, sender: str, stamp: Any, model: Any, value: Any) -> None:
        with self._lock:
            self._kept.pop(sender, None)
            self._kept[sender] = (stamp, model, time.monotonic(), value)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
            self._expire()
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep, name=self.name, daemon=True)
            self._sweeper.start()

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._kept)

    def _expire(self) -> None:
        deadline = time.monotonic() - self.seconds
        while self._kept:
            sender, entry = next(iter(self._kept.items()))
            if entry[2] > deadline:
                break
            del self._kept[sender]

    def _sweep(self) -> None:
        while True:
            time.sleep(max(0.05, min(60.0, self.seconds / 4)))
            with self._lock:
                self._expire()


class TrackerCache(ExpiringStore):
    """The last conversations read or written by this process, each with the stamp of the rows it was built from
    and the model (domain) it was built with; never kept as long as the retention job's idle period."""

    def __init__(self, size: int, seconds: float) -> None:
        super().__init__(size, seconds, name="tracker-cache-sweeper")

    @classmethod
    def from_environment(cls) -> "TrackerCache":
        seconds = float(os.environ.get("RASA_TRACKER_CACHE_SECONDS", "300") or 0)
        # the retention job masks rows of conversations idle for this long, in place: never keep one that long
        mask_after = float(os.environ.get("TRACKER_MASK_AFTER_HOURS", "24") or 0) * 3600
        return cls(int(os.environ.get("RASA_TRACKER_CACHE_SIZE", "1000") or 0),
                   min(seconds, mask_after / 2) if mask_after > 0 else 0)


def clone_tracker(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """A tracker in the same state, without replaying its events (Rasa's `copy()` replays them all).

    Events are not changed once they are in a tracker, so the copy shares them in its own deque; everything else
    (slot values, the active loop, the latest message...) is copied, so a turn on the copy leaves the original
    as it was."""
    new = object.__new__(type(tracker))
    for key, value in tracker.__dict__.items():
        if key.startswith("_hotline_"):
            continue  # what this process noted on the tracker (scripts/rasa_states.py): it belongs to the original
        if key == "events":
            value = type(value)(value, value.maxlen)
        elif key == "slots":
            slots = type(value)()
            for name, slot in value.items():
                slot = copy.copy(slot)
                slot._value = copy.deepcopy(slot._value)
                slots[name] = slot
            value = slots
        else:
            value = copy.deepcopy(value)
        new.__dict__[key] = value
    return new


def mask_kept_slots(tracker: DialogueStateTracker, names: set, reset: bool) -> None:
    """The earlier slot events of a kept conversation as `_mask_earlier_slots` leaves their rows: the last event
    of each slot replaced (the ones before it are masked already), every slot event after a reset."""
    for key in [key for key in tracker.__dict__ if key.startswith("_hotline_")]:
        del tracker.__dict__[key]  # an event is replaced below: nothing worked out from the old ones still holds
    events, done = tracker.events, set()
    for i in range(len(events) - 1, -1, -1):
        event = events[i]
        if getattr(event, "type_name", None) == "slot" and (reset or (event.key in names and event.key not in done)):
            done.add(event.key)
            data = event.as_dict()
            masked = tracker_privacy.mask_slot_event(data)
            if masked != data:
                events[i] = Event.from_parameters(json.loads(json.dumps(masked)))


def _last_bot_asked_personal(events: List[Any]) -> bool:
    for event in reversed(events):
        if getattr(event, "type_name", None) == "bot":
            return tracker_privacy.asks_personal(event.as_dict())
    return False
