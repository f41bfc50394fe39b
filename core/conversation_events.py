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
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timezone
from typing import Any

from sqlalchemy import select
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


def event(kind: str, sender: str, *, channel: str = "web", at: datetime | None = None,
          answered_by: str | None = None, kinds: Iterable[str] = (), guide: str | None = None,
          value: int | None = None, staff_id: int | None = None,
          detail: dict[str, Any] | None = None) -> ConversationEvent:
    """A new event row (not added to any session)."""
    if kind not in KINDS:
        raise ValueError(f"unknown conversation event kind: {kind}")
    if answered_by is not None and answered_by not in ANSWERED_BY:
        raise ValueError(f"unknown answered_by: {answered_by}")
    at = at or utcnow()
    kinds = [str(k)[:32] for k in kinds][:20]
    return ConversationEvent(
        at=at, day=local_day(at), kind=kind, conversation=conversation_key(sender),
        channel=(channel or "web")[:16], answered_by=answered_by, kinds=kinds,
        guide=(guide or None) and str(guide)[:128],
        fallback=any(k in FALLBACK_KINDS for k in kinds), declined=any(k in DECLINED_KINDS for k in kinds),
        value=value, staff_id=staff_id, detail=_detail(detail))


def record(session: Session, kind: str, sender: str, **fields: Any) -> ConversationEvent:
    """Add one event to an open session (same transaction as the change it records)."""
    row = event(kind, sender, **fields)
    session.add(row)
    return row


def _columns(row: ConversationEvent) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in ConversationEvent.__table__.columns
            if not column.primary_key}


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
    """Several events (kind, sender, fields) in one transaction (a turn and what it filed); failures logged."""
    if not rows:
        return True
    try:
        table = ConversationEvent.__table__
        values = [_columns(event(kind, sender, **fields)) for kind, sender, fields in rows]
        with get_engine().begin() as conn:  # one plain INSERT: this runs on every turn of every caller
            conn.execute(table.insert(), values)
        return True
    except Exception as exc:  # noqa: BLE001
        log.warning("conversation events not recorded: %s", type(exc).__name__)
        return False


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
