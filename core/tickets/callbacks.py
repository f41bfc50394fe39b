"""Call-back requests from the agent queue become tickets (工单), so they are worked and tracked like any appeal.

core/handoff/service.py `request_callback` calls `ticket_for_callback` after the call-back is stored; a failure
here is logged there and never loses the call-back itself. One call-back conversation gives one ticket: asking
again (e.g. with another number) updates the phone of the ticket already filed for it.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from core.db import session_scope
from core.models import Ticket, TicketEvent
from core.tickets.service import APPEAL_TYPES, OPEN_STATES, Appeal, phone_hash, add_event, file_ticket

log = logging.getLogger("hotline.tickets.callbacks")

DEFAULT_APPEAL_TYPE = "求助"


def appeal_type_of(summary: dict[str, Any] | None) -> str:
    """The appeal type the conversation already found (summary["appeal_type"] or summary["ticket"]), else 求助."""
    summary = summary if isinstance(summary, dict) else {}
    ticket = summary.get("ticket") if isinstance(summary.get("ticket"), dict) else {}
    for value in (summary.get("appeal_type"), ticket.get("appeal_type")):
        if isinstance(value, str) and value in APPEAL_TYPES:
            return value
    return DEFAULT_APPEAL_TYPE


def description_of(description: str, summary: dict[str, Any] | None) -> str:
    """What the caller said when leaving the number; else what they asked before; else that they want a call."""
    text = (description or "").strip()
    if len(text) >= 4:
        return text
    asked = (summary or {}).get("asked") if isinstance(summary, dict) else None
    asked = [asked] if isinstance(asked, str) else [a for a in asked or [] if isinstance(a, str) and a.strip()]
    lines = [a.strip() for a in asked][-3:]
    said = f"（{text}）" if text else ""
    if lines:
        return f"来电人请求工作人员回电{said}，此前咨询：" + "；".join(lines)
    return f"来电人请求工作人员回电{said}。"


def _existing(sender: str, handoff_id: int) -> Ticket | None:
    with session_scope() as session:
        rows = session.execute(select(Ticket, TicketEvent.data).join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
                               .where(Ticket.sender == sender, TicketEvent.kind == "created",
                                      Ticket.state.in_(OPEN_STATES))
                               .order_by(Ticket.id.desc()).limit(20)).all()
        for ticket, data in rows:
            if (data or {}).get("source") == "callback" and (data or {}).get("handoff_id") == handoff_id:
                return ticket
    return None


def ticket_for_callback(*, handoff_id: int, sender: str, channel: str, phone: str, description: str = "",
                        summary: dict[str, Any] | None = None) -> str:
    """File the ticket of a call-back request (or update its phone); the ticket number.

    `phone` is the validated call-back number; TicketError from file_ticket propagates.
    """
    existing = _existing(sender, handoff_id)
    if existing is not None:
        if existing.phone != phone:
            with session_scope() as session:
                ticket = session.get(Ticket, existing.id)
                ticket.phone, ticket.phone_hash = phone, phone_hash(phone)
                add_event(session, ticket, "note", "市民更新了回拨号码。", actor="callback")
        return existing.number
    filed = file_ticket(Appeal(appeal_type=appeal_type_of(summary), description=description_of(description, summary),
                               phone=phone, reply_wanted=True, channel=channel or "web", sender=sender,
                               source="callback", extra={"handoff_id": handoff_id}))
    log.info("call-back id=%s filed as ticket %s", handoff_id, filed.view["number"])
    return filed.view["number"]
