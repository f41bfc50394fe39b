"""Conversation events: what happened in conversations, recorded as it happens, for the supervisor dashboard.

One row per fact (table `conversation_events`, migration 0006), never personal data: the conversation is a
keyed hash of the sender id (core/senders.py `conversation_key`, under SENDER_SECRET; voice senders
carry a phone number), and no text is stored at all.

    turn                   a caller's turn was answered: answered_by (assistant agent safety), the bot
                           message kinds, the guide answered from, fallback (not understood), declined (no guide)
    handoff_requested      the conversation entered the agent queue           (core/handoff)
    handoff_connected      an agent took it; value = seconds the caller waited (core/handoff)
    handoff_returned       handed back to the assistant; value = talk seconds (core/handoff)
    handoff_closed         closed by an agent; value = talk seconds, detail.wrap_up (core/handoff)
    handoff_cancelled      the caller stopped waiting; value = seconds waited  (core/handoff)
    callback_requested     the caller left a number instead of waiting        (core/handoff)
    rating                 a 好差评 rating; value = level                     (core/ratings)
    application_submitted  an application was submitted in the conversation   (turn hook, gateway)
    ticket_filed           a ticket (工单) was filed in the conversation       (turn hook, gateway)

Recording never breaks what it records: `record_safely` logs a failure and returns.

Turns are the bulk (one per caller message): `defer` keeps their rows in memory and a writer thread stores what
has gathered every FLUSH_SECONDS in one transaction, instead of one transaction and one worker-thread hop per
turn (docs/BENCHMARKS.md, session 11). Readers of these rows in this process (core/ratings `invite` and `rate`,
core/metrics) call `flush()` first, so they see every turn answered before; another process sees them within
FLUSH_SECONDS. A process killed with -9 loses at most the last FLUSH_SECONDS of turn rows (counts on the
dashboard, never a caller's data: applications, tickets and handoffs are stored where they happen).
"""
from __future__ import annotations

import atexit
import logging
import threading
import time as clock
from collections.abc import Iterable
from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.db import get_engine, session_scope
from core.models import ConversationEvent, utcnow
from core.senders import conversation_key
from core.validators import TZ

log = logging.getLogger("hotline.events")

KINDS = ("turn", "handoff_requested", "handoff_connected", "handoff_returned", "handoff_closed",
         "handoff_cancelled", "callback_requested", "rating", "application_submitted", "ticket_filed")
ANSWERED_BY = ("assistant", "agent", "safety")
FALLBACK_KINDS = frozenset({"fallback"})
DECLINED_KINDS = frozenset({"guide_not_found"})
DETAIL_KEYS = frozenset({"wrap_up", "subject", "reason", "category", "department", "appeal_type", "served_by",
                         "duplicate", "change"})


def local_day(at: datetime) -> date:
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(TZ).date()


def day_start(day: date) -> datetime:
    """The first instant of a local day, in UTC (for created_at ranges)."""
    return datetime.combine(day, time.min, tzinfo=TZ).astimezone(timezone.utc)


def _detail(detail: dict[str, Any] | None) -> dict[str, Any]:
    """Only known, non-personal keys with short scalar values."""
    out = {}
    for key, value in (detail or {}).items():
        if key in DETAIL_KEYS and (value is None or isinstance(value, (bool, int, float))
                                   or (isinstance(value, str) and len(value) <= 64)):
            out[key] = value
    return out


def event_values(kind: str, sender: str, *, channel: str = "web", at: datetime | None = None,
           answered_by: str | None = None, kinds: Iterable[str] = (), guide: str | None = None,
           value: int | None = None, staff_id: int | None = None,
           detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """The columns of a new event row (ValueError for an unknown kind or answerer)."""
    if kind not in KINDS:
        raise ValueError(f"unknown conversation event kind: {kind}")
    if answered_by is not None and answered_by not in ANSWERED_BY:
        raise ValueError(f"unknown answered_by: {answered_by}")
    at = at or utcnow()
    kinds = [str(k)[:32] for k in kinds][:20]
    return dict(
        at=at, day=local_day(at), kind=kind, conversation=conversation_key(sender),
        channel=(channel or "web")[:16], answered_by=answered_by, kinds=kinds,
        guide=(guide or None) and str(guide)[:128],
        fallback=any(k in FALLBACK_KINDS for k in kinds), declined=any(k in DECLINED_KINDS for k in kinds),
        value=value, staff_id=staff_id, detail=_detail(detail))


def event(kind: str, sender: str, **fields: Any) -> ConversationEvent:
    """A new event row (not added to any session)."""
    return ConversationEvent(**event_values(kind, sender, **fields))


def record(session: Session, kind: str, sender: str, **fields: Any) -> ConversationEvent:
    """Add one event to an open session (same transaction as the change it records)."""
    row = event(kind, sender, **fields)
    session.add(row)
    return row


def record_safely(kind: str, sender: str, **fields: Any) -> bool:
    """Record one event in its own short transaction; a failure is logged, never raised."""
    try:
        with session_scope() as session:
            record(session, kind, sender, **fields)
        return True
    except Exception as exc:  # noqa: BLE001 - statistics must never cost a caller their answer
        log.warning("conversation event %s not recorded: %s", kind, type(exc).__name__)
        return False


def record_many_safely(rows: list[tuple[str, str, dict[str, Any]]]) -> bool:
    """Several events (kind, sender, fields) stored now, in one transaction with the deferred turns before them
    (a turn and what it filed, read at once by its rating invitation); False when the database refused them, and
    then they wait with the deferred rows for the next try."""
    taken = defer(rows)
    return flush() and taken


FLUSH_SECONDS = 0.25
MAX_DEFERRED_ROWS = 50_000   # while the database is down: about 20 minutes of 40 turns a second, then the oldest go
WARN_EVERY_SECONDS = 30.0


class _Deferred:
    """Rows waiting for the writer thread, each with the database it was meant for; `flush` stores them at once
    (from any thread). A batch the database refused is tried again with the next one, up to MAX_DEFERRED_ROWS."""

    def __init__(self) -> None:
        self._rows: list[tuple[Engine, dict[str, Any]]] = []
        self._lock = threading.Lock()     # guards _rows, _thread and the counters
        self._writing = threading.Lock()  # one transaction at a time, in the order the rows came
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self._warned = 0.0

    def add(self, engine: Engine, values: list[dict[str, Any]]) -> None:
        with self._lock:
            self._rows.extend((engine, v) for v in values)
            self._trim()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="conversation-events", daemon=True)
                self._thread.start()

    def _trim(self) -> None:
        over = len(self._rows) - MAX_DEFERRED_ROWS
        if over > 0:
            del self._rows[:over]
            self._dropped += over

    def flush(self) -> bool:
        with self._writing:
            with self._lock:
                rows, self._rows = self._rows, []
            by_engine: dict[Engine, list[dict[str, Any]]] = {}
            for engine, values in rows:
                by_engine.setdefault(engine, []).append(values)
            failed: list[tuple[Engine, dict[str, Any]]] = []
            error = None
            for engine, values in by_engine.items():
                try:
                    _insert(engine, values)
                except Exception as exc:  # noqa: BLE001 - kept for the next flush
                    error = exc
                    failed.extend((engine, v) for v in values)
            if failed:
                with self._lock:
                    self._rows[:0] = failed
                    self._trim()
                    self._warn(f"{len(self._rows)} conversation events waiting for the database: "
                               f"{type(error).__name__}")
            return not failed

    def _warn(self, message: str) -> None:
        now = clock.monotonic()
        if now - self._warned >= WARN_EVERY_SECONDS:
            self._warned = now
            dropped, self._dropped = self._dropped, 0
            log.warning("%s%s", message, f" ({dropped} oldest dropped)" if dropped else "")

    def _run(self) -> None:
        while True:
            clock.sleep(FLUSH_SECONDS)
            self.flush()


_deferred = _Deferred()
atexit.register(_deferred.flush)


def _insert(engine: Engine, values: list[dict[str, Any]]) -> None:
    if values:
        with engine.begin() as conn:  # one plain INSERT of many rows
            conn.execute(ConversationEvent.__table__.insert(), values)


def defer(rows: list[tuple[str, str, dict[str, Any]]]) -> bool:
    """Record these events (kind, sender, fields) within FLUSH_SECONDS, without waiting for the database; False
    when they are not valid events (logged, never raised)."""
    try:
        _deferred.add(get_engine(), [event_values(kind, sender, **fields) for kind, sender, fields in rows])
        return True
    except Exception as exc:  # noqa: BLE001 - statistics must never cost a caller their answer
        log.warning("conversation events not recorded: %s", type(exc).__name__)
        return False


def flush() -> bool:
    """Store the deferred events now (readers call this first); False when the database refused them."""
    return _deferred.flush()


def turn_rows(sender: str, channel: str, messages: list[dict[str, Any]], *, answered_by: str,
              at: datetime | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """The events of one answered turn: the turn itself, plus an application submitted / ticket filed in it.

    `messages` are bot messages as dicts ({kind, data, ...}); only kinds and guide names are kept.
    """
    kinds = [str(m.get("kind") or "text") for m in messages]
    guide = next((str(m.get("data", {}).get("guide")) for m in messages
                  if m.get("kind") in ("guide_answer", "guide_detail") and (m.get("data") or {}).get("guide")), None)
    common = {"channel": channel, "at": at}
    rows = [("turn", sender, {**common, "answered_by": answered_by, "kinds": kinds, "guide": guide})]
    for m in messages:
        data = m.get("data") or {}
        if m.get("kind") == "application_submitted" and not data.get("duplicate"):
            rows.append(("application_submitted", sender, {**common, "guide": data.get("guide")}))
        elif m.get("kind") == "ticket_created" and not data.get("duplicate"):
            rows.append(("ticket_filed", sender, {**common, "detail": {
                "category": data.get("level1") or data.get("category"), "department": data.get("department"),
                "appeal_type": data.get("appeal_type")}}))
    return rows


def has_conversation(session: Session, sender: str) -> bool:
    """True when the sender has had at least one recorded turn."""
    return session.scalar(select(ConversationEvent.id).where(
        ConversationEvent.conversation == conversation_key(sender), ConversationEvent.kind == "turn").limit(1)) \
        is not None


def last_guide(session: Session, sender: str) -> str | None:
    """The guide the assistant last answered this sender from (for attributing a rating)."""
    return session.scalar(select(ConversationEvent.guide).where(
        ConversationEvent.conversation == conversation_key(sender), ConversationEvent.kind == "turn",
        ConversationEvent.guide.is_not(None)).order_by(ConversationEvent.id.desc()).limit(1))
