"""The handoff queue and live conversations with agents (tables in core/models.py, migration 0004).

Life cycle of a `handoff_conversations` row:

    request ──▶ queued ──claim──▶ connected ──release──▶ returned   (back to the assistant)
                  │                  │ └────close────▶ closed      (with a wrap-up code)
                  │                  └─transfer─▶ connected (another agent)
                  ├──cancel──▶ closed (ended_by caller)
                  └──request_callback──▶ callback_requested ──claim (agent_id set)──close──▶ closed

A sender has at most one live (queued or connected) conversation; a unique partial index enforces it, so
`request` is idempotent even when two requests race. Every change is one database transaction; functions that
change state return an `Outcome` (core/handoff/notify.py) whose events the caller publishes afterwards.
Functions taking `staff` accept a StaffPrincipal, a StaffAccount or a staff id; the account is re-read in the
same transaction (a disabled account or one without the agent role is refused).
"""
from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.conversation_events import record_safely as record_event
from core.db import get_engine, session_scope
from core.events import Envelope
from core.handoff.errors import (
    AgentUnavailable,
    AlreadyClaimed,
    CapacityReached,
    InvalidInput,
    InvalidState,
    NotAllowed,
    NotFound,
    NotHolder,
)
from core.handoff.notify import Outcome
from core.models import AgentPresence, HandoffConversation, HandoffMessage, StaffAccount, utcnow
from core.privacy import mask_phone, mask_text
from core.settings import get_settings
from core.staff.audit import audit
from core.staff.roles import ROLES, effective_roles, has_role
from core.validators import validate_phone

log = logging.getLogger("hotline.handoff")

QUEUED, CONNECTED, RETURNED, CLOSED, CALLBACK = "queued", "connected", "returned", "closed", "callback_requested"
STATES = (QUEUED, CONNECTED, RETURNED, CLOSED, CALLBACK)
LIVE_STATES = (QUEUED, CONNECTED)
REASONS = ("caller_request", "repeated_fallback", "form_failures", "voice")
WRAP_UP_CODES = ("咨询已解答", "已转工单", "已回拨", "无效来电", "其他")
MESSAGE_ROLES = ("caller", "assistant", "agent", "system")
REVEALABLE_FIELDS = ("callback_phone",)

# priority = sum of the weights that apply; higher first, then first come first served
PRIORITY_WEIGHTS = {"special_group": 40, "large_text": 20, "repeated_failures": 10}
REPEATED_FAILURES_THRESHOLD = 2

AGENTS_TOPIC = "agents"
AGENT_ROLES = tuple(r for r in ROLES if "agent" in effective_roles(r))   # agent, supervisor, admin
DEFAULT_AGENT_NAME = "人工客服"
MAX_TEXT_CHARS = 2000
MAX_NOTE_CHARS = 500
MAX_SUMMARY_CHARS = 8000
RECENT_SAMPLE = 50                    # closed conversations the handling-time average is taken over ...
RECENT_WINDOW = timedelta(days=7)     # ... among those that ended within this window
MIN_RECENT_SAMPLES = 3                # fewer: use HANDOFF_DEFAULT_HANDLE_SECONDS


# -- topics, times, small helpers ----------------------------------------------------------------------------
def conversation_topic(sender: str) -> str:
    """Messages and state changes of one conversation: the caller's socket and the agent holding it."""
    return f"conversation:{sender}"


def staff_topic(sender: str) -> str:
    """Internal agent notes of one conversation: staff consoles only, never the caller's socket."""
    return f"conversation:{sender}:staff"


def typing_event(sender: str, conversation_id: int | None, role: str, on: bool,
                 name: str | None = None) -> Envelope:
    """"Someone is typing" on one conversation: role "agent" (name = the agent's public name) or "caller"."""
    return Envelope(conversation_topic(sender), {"type": "handoff.typing", "conversation_id": conversation_id,
                                                 "sender": sender, "role": role, "on": bool(on), "name": name})


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive datetimes (stored as UTC)
        return value.replace(tzinfo=timezone.utc)
    return value


def _iso(value: datetime | None) -> str | None:
    value = _aware(value)
    return value.isoformat() if value is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, int((_aware(end) - _aware(start)).total_seconds()))


def _now(now: datetime | None) -> datetime:
    return _aware(now) or utcnow()


def _masked_json(value: Any, path: str = "summary") -> Any:
    """A JSON copy with ID and phone numbers masked in every string (defence in depth: callers mask too)."""
    if value is None or isinstance(value, (bool, int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"{path} 含有无效数字。", field=path)
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {str(k): _masked_json(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked_json(v, path) for v in value]
    raise InvalidInput(f"{path} 不是 JSON 值（{type(value).__name__}）。", field=path)


def _check_json_object(value: dict | None, name: str, *, mask: bool) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} 应为 JSON 对象。", field=name)
    cleaned = _masked_json(value, name) if mask else _json_copy(value, name)
    if len(json.dumps(cleaned, ensure_ascii=False)) > MAX_SUMMARY_CHARS:
        raise InvalidInput(f"{name} 过长（最多{MAX_SUMMARY_CHARS}个字符）。", field=name)
    return cleaned


def _json_copy(value: Any, path: str) -> Any:
    try:
        return json.loads(json.dumps(value, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{path} 不是 JSON 值。", field=path) from exc


def compute_priority(*, large_text: bool = False, repeated_failures: int = 0,
                     special_group: bool = False) -> tuple[int, list[str]]:
    """Priority and its reasons: 帮办代办 special groups, then large-text (elderly) mode, then repeated failures."""
    reasons = []
    if special_group:
        reasons.append("special_group")
    if large_text:
        reasons.append("large_text")
    if repeated_failures >= REPEATED_FAILURES_THRESHOLD:
        reasons.append("repeated_failures")
    return sum(PRIORITY_WEIGHTS[r] for r in reasons), reasons


# -- staff ---------------------------------------------------------------------------------------------------
def _staff_id(staff: object) -> int | None:
    if isinstance(staff, bool):
        return None
    if isinstance(staff, int):
        return staff
    if hasattr(staff, "staff_id"):        # StaffPrincipal (None for the service token)
        return staff.staff_id
    if isinstance(staff, StaffAccount):
        return staff.id
    return None


def _agent_account(session: Session, staff: object) -> StaffAccount:
    """The acting staff member's current account; refuses non-accounts, disabled accounts and non-agents."""
    staff_id = _staff_id(staff)
    account = session.get(StaffAccount, staff_id) if staff_id is not None else None
    if account is None or account.disabled:
        raise NotAllowed("需要以有效的坐席账号登录才能处理人工服务。")
    if not has_role(account, "agent"):
        raise NotAllowed("您的账号没有坐席权限。")
    return account


def _public_name(account: StaffAccount | None) -> str | None:
    if account is None:
        return None
    return account.display_name or DEFAULT_AGENT_NAME


def _is_supervisor(account: StaffAccount) -> bool:
    return has_role(account, "supervisor")


def _on_duty_since(now: datetime) -> datetime:
    return now - timedelta(seconds=get_settings().handoff_on_duty_seconds)


def _on_duty_ids(session: Session, now: datetime) -> list[int]:
    return list(session.scalars(
        select(AgentPresence.staff_id)
        .join(StaffAccount, StaffAccount.id == AgentPresence.staff_id)
        .where(AgentPresence.last_seen_at >= _on_duty_since(now), StaffAccount.disabled.is_(False),
               StaffAccount.role.in_(AGENT_ROLES))))


def _agents_on_duty(session: Session, now: datetime) -> int:
    return len(_on_duty_ids(session, now))


def _is_on_duty(session: Session, staff_id: int, now: datetime) -> bool:
    seen = session.scalar(select(AgentPresence.last_seen_at).where(AgentPresence.staff_id == staff_id))
    return seen is not None and _aware(seen) >= _on_duty_since(now)


def _touch_presence(session: Session, staff_id: int, now: datetime) -> None:
    """Record a heartbeat. A write first: it also serialises one agent's concurrent claims (row lock)."""
    result = session.execute(update(AgentPresence).where(AgentPresence.staff_id == staff_id)
                             .values(last_seen_at=now))
    if not result.rowcount:
        session.add(AgentPresence(staff_id=staff_id, last_seen_at=now))
        session.flush()


def _live_count(session: Session, staff_id: int) -> int:
    return session.scalar(select(func.count()).select_from(HandoffConversation)
                          .where(HandoffConversation.agent_id == staff_id,
                                 HandoffConversation.state == CONNECTED)) or 0


def _retrying(fn):
    """Run `fn` once more when a concurrent insert (first heartbeat, same sender) made it conflict."""
    try:
        return fn()
    except IntegrityError:
        return fn()


# -- views -----------------------------------------------------------------------------------------------------
def _queued_ids(session: Session) -> list[int]:
    return list(session.scalars(
        select(HandoffConversation.id).where(HandoffConversation.state == QUEUED)
        .order_by(HandoffConversation.priority.desc(), HandoffConversation.queued_at, HandoffConversation.id)))


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(StaffAccount.id, StaffAccount.display_name).where(StaffAccount.id.in_(ids)))
    return {i: (name or DEFAULT_AGENT_NAME) for i, name in rows}


def _conversation_view(conv: HandoffConversation, now: datetime, agent_name: str | None) -> dict[str, Any]:
    """What staff see of a conversation (the callback number masked; `reveal` shows it in full)."""
    waited_until = conv.connected_at or conv.ended_at or now
    return {
        "id": conv.id, "sender": conv.sender, "channel": conv.channel, "state": conv.state,
        "priority": conv.priority, "priority_reasons": list(conv.priority_reasons or []), "reason": conv.reason,
        "summary": conv.summary or {}, "large_text": bool(conv.large_text),
        "agent_id": conv.agent_id, "agent_name": agent_name,
        "queued_at": _iso(conv.queued_at), "connected_at": _iso(conv.connected_at), "ended_at": _iso(conv.ended_at),
        "ended_by": conv.ended_by, "wrap_up": conv.wrap_up, "wrap_up_note": conv.wrap_up_note or "",
        "waiting_seconds": _seconds(conv.queued_at, waited_until),
        "callback_phone": mask_phone(conv.callback_phone) if conv.callback_phone else None,
        "callback_note": conv.callback_note or "",
    }


def _view(session: Session, conv: HandoffConversation, now: datetime) -> dict[str, Any]:
    return _conversation_view(conv, now, _names(session, {conv.agent_id}).get(conv.agent_id))


def _message_view(msg: HandoffMessage, staff_name: str | None, *, for_staff: bool) -> dict[str, Any]:
    view = {"id": msg.id, "conversation_id": msg.conversation_id, "role": msg.role, "kind": msg.kind,
            "text": msg.text, "data": msg.data or {}, "staff_name": staff_name, "created_at": _iso(msg.created_at)}
    if for_staff:
        view.update(internal=bool(msg.internal), staff_id=msg.staff_id)
    return view


def _recent_handle_seconds(session: Session, now: datetime) -> tuple[float, str]:
    rows = session.execute(
        select(HandoffConversation.connected_at, HandoffConversation.ended_at)
        .where(HandoffConversation.state == CLOSED, HandoffConversation.connected_at.is_not(None),
               HandoffConversation.ended_at >= now - RECENT_WINDOW)
        .order_by(HandoffConversation.ended_at.desc()).limit(RECENT_SAMPLE)).all()
    durations = [_seconds(start, end) for start, end in rows]
    if len(durations) < MIN_RECENT_SAMPLES:
        return float(get_settings().handoff_default_handle_seconds), "default"
    return sum(durations) / len(durations), "recent"


def _ticket(session: Session, conv: HandoffConversation, now: datetime, *, created: bool) -> dict[str, Any]:
    """What the caller's side needs: position, an honest waiting estimate, who answers."""
    settings = get_settings()
    on_duty_ids = _on_duty_ids(session, now)
    on_duty = len(on_duty_ids)
    order = _queued_ids(session)
    position = order.index(conv.id) + 1 if conv.state == QUEUED and conv.id in order else None
    estimate, basis = None, None
    if conv.state == QUEUED and on_duty:
        slots = on_duty * settings.handoff_max_per_agent
        busy = session.scalar(select(func.count()).select_from(HandoffConversation)
                              .where(HandoffConversation.state == CONNECTED,
                                     HandoffConversation.agent_id.in_(on_duty_ids))) or 0
        free = max(0, slots - busy)
        ahead = (position or 1) - 1
        if ahead < free:
            estimate, basis = 0, "free_agent"
        else:
            # every slot finishes a conversation every `handle` seconds on average
            handle, basis = _recent_handle_seconds(session, now)
            estimate = math.ceil((ahead - free + 1) * handle / slots)
    holder = _names(session, {conv.agent_id}).get(conv.agent_id) if conv.state == CONNECTED else None
    return {
        "id": conv.id, "state": conv.state, "position": position, "queue_length": len(order),
        "estimated_wait_seconds": estimate, "estimate_basis": basis, "agents_on_duty": on_duty,
        "max_wait_seconds": settings.handoff_max_wait_seconds,
        "offer_callback": conv.state == QUEUED and (on_duty == 0
                                                    or (estimate or 0) > settings.handoff_max_wait_seconds),
        "holder": holder, "created": created,
        "callback_phone": mask_phone(conv.callback_phone) if conv.callback_phone else None,
    }


# -- events ------------------------------------------------------------------------------------------------
def _system_message(session: Session, conv: HandoffConversation, text: str, now: datetime, change: str,
                    **data: Any) -> HandoffMessage:
    msg = HandoffMessage(conversation_id=conv.id, role="system", staff_id=None, kind="handoff_state", text=text,
                         data={"change": change, "state": conv.state, **data}, internal=False, created_at=now)
    session.add(msg)
    session.flush()
    return msg


def _change_events(session: Session, conv: HandoffConversation, change: str, msg: HandoffMessage,
                   now: datetime, **extra: Any) -> tuple[Envelope, ...]:
    """One event for the conversation (the caller and its agent), one for every agent console.

    The console event carries the full conversation view (masked summary included) only while any agent may
    read it (waiting in the queue or an unclaimed call-back), as transcript() does.
    """
    view = _view(session, conv, now)
    holder = view["agent_name"] if conv.state == CONNECTED else None
    state_event = {"type": "handoff.state", "change": change, "conversation_id": conv.id, "sender": conv.sender,
                   "state": conv.state, "holder": holder,
                   "message": _message_view(msg, None, for_staff=False), "at": _iso(now)}
    open_to_all = conv.agent_id is None and conv.state in (QUEUED, CALLBACK)
    queue_event = {"type": "queue.changed", "change": change, "conversation_id": conv.id, "sender": conv.sender,
                   "state": conv.state, "agent_id": conv.agent_id, "agent_name": view["agent_name"],
                   "priority": conv.priority, "queue_length": len(_queued_ids(session)),
                   "conversation": view if open_to_all else None, "at": _iso(now), **extra}
    return (Envelope(conversation_topic(conv.sender), state_event), Envelope(AGENTS_TOPIC, queue_event))


def _get(session: Session, conversation_id: int) -> HandoffConversation:
    conv = session.get(HandoffConversation, conversation_id) if isinstance(conversation_id, int) else None
    if conv is None:
        raise NotFound("没有找到这个人工服务会话。")
    return conv


def _live(session: Session, sender: str) -> HandoffConversation | None:
    return session.scalar(select(HandoffConversation).where(HandoffConversation.sender == sender,
                                                            HandoffConversation.state.in_(LIVE_STATES)))


def _check_sender(sender: str) -> str:
    if not isinstance(sender, str) or not sender.strip() or len(sender) > 128:
        raise InvalidInput("会话标识无效。", field="sender")
    return sender


def _record(kind: str, conv: HandoffConversation, now: datetime, *, value: int | None = None,
            **detail: Any) -> None:
    """A conversation event for the dashboard (core/conversation_events.py), after the change committed;
    a failure is logged there and never undoes the handoff."""
    record_event(kind, conv.sender, channel=conv.channel, at=now, value=value, staff_id=conv.agent_id,
                 answered_by=None, detail={"reason": conv.reason, **detail})


# -- the caller's side -----------------------------------------------------------------------------------------
def request(sender: str, channel: str, reason: str, summary: dict | None, *, large_text: bool = False,
            repeated_failures: int = 0, special_group: bool = False,
            now: datetime | None = None) -> Outcome[dict[str, Any]]:
    """Put the caller in the queue (or return the conversation they already have) with an honest estimate.

    `summary` is built by the dialogue (what the caller asked, guide and items in focus, form progress,
    application numbers) and should already be masked; strings are masked again here. The view is the ticket:
    {id, state, position, queue_length, estimated_wait_seconds (None when nobody is on duty), estimate_basis,
    agents_on_duty, max_wait_seconds, offer_callback, holder, created, callback_phone}.
    """
    sender = _check_sender(sender)
    if reason not in REASONS:
        raise InvalidInput(f"转人工原因无效：{reason}。", field="reason")
    summary = _check_json_object(summary, "summary", mask=True)
    channel = (channel or "web")[:32]
    priority, reasons = compute_priority(large_text=large_text, repeated_failures=int(repeated_failures or 0),
                                         special_group=special_group)
    now = _now(now)

    def attempt() -> Outcome[dict[str, Any]]:
        with session_scope() as session:
            existing = _live(session, sender)
            if existing is not None:
                return Outcome(_ticket(session, existing, now, created=False))
            conv = HandoffConversation(sender=sender, channel=channel, state=QUEUED, priority=priority,
                                       priority_reasons=reasons, reason=reason, summary=summary,
                                       queued_at=now, updated_at=now, large_text=bool(large_text),
                                       wrap_up_note="", callback_note="")
            session.add(conv)
            session.flush()   # the unique partial index refuses a second live conversation here
            msg = _system_message(session, conv, "已为您转接人工客服，请稍候。", now, "queued")
            view = _ticket(session, conv, now, created=True)
            events = _change_events(session, conv, "queued", msg, now)
        log.info("handoff queued id=%s channel=%s reason=%s priority=%s", conv.id, channel, reason, priority)
        _record("handoff_requested", conv, now)
        return Outcome(view, events)

    return _retrying(attempt)


def _pending_callback(session: Session, sender: str, *, unclaimed: bool = False) -> HandoffConversation | None:
    """The sender's latest call-back request (optionally only one no agent has taken yet)."""
    query = select(HandoffConversation).where(HandoffConversation.sender == sender,
                                              HandoffConversation.state == CALLBACK)
    if unclaimed:
        query = query.where(HandoffConversation.agent_id.is_(None))
    return session.scalar(query.order_by(HandoffConversation.id.desc()).limit(1))


def ticket(sender: str, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The sender's current ticket (live, or a pending call-back) with a fresh position; None when none."""
    now = _now(now)
    with session_scope() as session:
        conv = _live(session, sender) or _pending_callback(session, sender)
        return _ticket(session, conv, now, created=False) if conv is not None else None


def holder(sender: str) -> str | None:
    """Who answers this sender now: the display name of the agent holding the conversation, None = the assistant."""
    with session_scope() as session:
        agent = session.scalar(
            select(StaffAccount).join(HandoffConversation, HandoffConversation.agent_id == StaffAccount.id)
            .where(HandoffConversation.sender == sender, HandoffConversation.state == CONNECTED))
        return _public_name(agent)


def cancel(sender: str, *, now: datetime | None = None) -> Outcome[dict[str, Any]]:
    """The caller no longer wants an agent (不用了): a waiting or call-back conversation is closed."""
    now = _now(now)
    with session_scope() as session:
        conv = _live(session, sender)
        if conv is not None and conv.state == CONNECTED:
            raise InvalidState("人工客服正在为您服务，如需结束，请直接告诉客服。", state=CONNECTED)
        if conv is None:
            conv = _pending_callback(session, sender)
        if conv is None:
            raise NotFound("您当前没有排队或待回拨的人工服务。")
        result = session.execute(update(HandoffConversation)
                                 .where(HandoffConversation.id == conv.id, HandoffConversation.state == conv.state)
                                 .values(state=CLOSED, ended_at=now, ended_by="caller", updated_at=now))
        if not result.rowcount:
            raise InvalidState("人工服务状态刚刚发生了变化，请稍后再试。", state=conv.state)
        session.refresh(conv)
        msg = _system_message(session, conv, "已为您取消人工服务。您可以继续向智能助手咨询。", now, "cancelled")
        view = _view(session, conv, now)
        events = _change_events(session, conv, "cancelled", msg, now)
    _record("handoff_cancelled", conv, now, value=_seconds(conv.queued_at, now))
    return Outcome(view, events)


def request_callback(sender: str, phone: str, description: str = "", *, channel: str = "web",
                     reason: str = "caller_request", summary: dict | None = None, large_text: bool = False,
                     now: datetime | None = None) -> Outcome[dict[str, Any]]:
    """Leave a number for staff to call back (typically when nobody is on duty or the wait is too long).

    A waiting conversation becomes `callback_requested`; without one a new call-back conversation is made.
    The full number stays only in the row (staff see it through `reveal`, audited); logs, events and the
    transcript carry it masked. The request is also filed as a ticket (core/tickets/callbacks.py): the view's
    `ticket_number` names it (None if that failed; the call-back stands anyway).
    """
    sender = _check_sender(sender)
    check = validate_phone(phone)
    if not check.ok:
        raise InvalidInput(check.error, field="phone")
    number = check.value
    masked = mask_phone(number)
    note = mask_text((description or "").strip())[:MAX_NOTE_CHARS]
    if reason not in REASONS:
        raise InvalidInput(f"转人工原因无效：{reason}。", field="reason")
    summary = _check_json_object(summary, "summary", mask=True)
    now = _now(now)
    with session_scope() as session:
        conv = _live(session, sender)
        if conv is not None and conv.state == CONNECTED:
            raise InvalidState("人工客服正在为您服务，无需登记回拨。", state=CONNECTED)
        if conv is None:
            conv = _pending_callback(session, sender, unclaimed=True)
        if conv is None:
            priority, reasons = compute_priority(large_text=large_text)
            conv = HandoffConversation(sender=sender, channel=(channel or "web")[:32], state=CALLBACK,
                                       priority=priority, priority_reasons=reasons, reason=reason, summary=summary,
                                       queued_at=now, updated_at=now, large_text=bool(large_text),
                                       wrap_up_note="", callback_note="")
            session.add(conv)
            session.flush()
        elif conv.state == QUEUED:
            result = session.execute(update(HandoffConversation)
                                     .where(HandoffConversation.id == conv.id, HandoffConversation.state == QUEUED)
                                     .values(state=CALLBACK, updated_at=now))
            if not result.rowcount:   # claimed a moment ago: the caller is being answered
                raise InvalidState("人工客服刚刚接入了您的会话。", state=CONNECTED)
            session.refresh(conv)
        conv.callback_phone, conv.callback_note, conv.updated_at = number, note, now
        msg = _system_message(session, conv, f"已登记回拨：工作人员将尽快致电{masked}，请保持电话畅通。", now,
                              "callback_requested", phone=masked)
        view = _ticket(session, conv, now, created=False)
        events = _change_events(session, conv, "callback_requested", msg, now)
        log.info("handoff callback requested id=%s phone=%s", conv.id, masked)
    _record("callback_requested", conv, now)
    view["ticket_number"] = _callback_ticket(conv, number, description)
    return Outcome(view, events)


def _callback_ticket(conv: HandoffConversation, phone: str, description: str) -> str | None:
    """A call-back request is also a ticket (core/tickets/callbacks.py), filed after the call-back committed;
    a failure is logged and never loses the call-back."""
    try:
        from core.tickets.callbacks import ticket_for_callback

        return ticket_for_callback(handoff_id=conv.id, sender=conv.sender, channel=conv.channel, phone=phone,
                                   description=description or "", summary=conv.summary or {})
    except Exception:  # noqa: BLE001 - the ticket is extra; the call-back itself must stay
        log.exception("handoff callback id=%s: filing its ticket failed", conv.id)
        return None


# -- the agents' side ----------------------------------------------------------------------------------------
def heartbeat(staff: object, *, now: datetime | None = None) -> None:
    """The agent console is open (send every ~20 s); on duty = a heartbeat within HANDOFF_ON_DUTY_SECONDS."""
    now = _now(now)

    def attempt() -> None:
        with session_scope() as session:
            account = _agent_account(session, staff)
            _touch_presence(session, account.id, now)

    _retrying(attempt)


def sign_off(staff: object) -> None:
    """The agent closed the console: off duty at once (conversations they hold stay theirs)."""
    staff_id = _staff_id(staff)
    with session_scope() as session:
        session.execute(delete(AgentPresence).where(AgentPresence.staff_id == staff_id))


def agents_on_duty(*, now: datetime | None = None) -> int:
    with session_scope() as session:
        return _agents_on_duty(session, _now(now))


def queue(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Waiting conversations, highest priority first, then oldest; with position, waiting_seconds, overdue."""
    now = _now(now)
    max_wait = get_settings().handoff_max_wait_seconds
    with session_scope() as session:
        rows = list(session.scalars(
            select(HandoffConversation).where(HandoffConversation.state == QUEUED)
            .order_by(HandoffConversation.priority.desc(), HandoffConversation.queued_at, HandoffConversation.id)))
        items = []
        for position, conv in enumerate(rows, start=1):
            item = _conversation_view(conv, now, None)
            item.update(position=position, overdue=item["waiting_seconds"] > max_wait)
            items.append(item)
        return items


def callbacks(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Call-back requests still to be made, highest priority first, then oldest."""
    now = _now(now)
    with session_scope() as session:
        rows = list(session.scalars(
            select(HandoffConversation).where(HandoffConversation.state == CALLBACK)
            .order_by(HandoffConversation.priority.desc(), HandoffConversation.queued_at, HandoffConversation.id)))
        names = _names(session, {c.agent_id for c in rows})
        return [_conversation_view(c, now, names.get(c.agent_id)) for c in rows]


def held_by(staff: object, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Live conversations (and claimed call-backs) the staff member holds, oldest first."""
    now = _now(now)
    staff_id = _staff_id(staff)
    with session_scope() as session:
        rows = list(session.scalars(
            select(HandoffConversation).where(HandoffConversation.agent_id == staff_id,
                                              HandoffConversation.state.in_((CONNECTED, CALLBACK)))
            .order_by(HandoffConversation.connected_at, HandoffConversation.id)))
        names = _names(session, {staff_id})
        return [_conversation_view(c, now, names.get(c.agent_id)) for c in rows]


def claim(conversation_id: int, staff: object, *, now: datetime | None = None) -> Outcome[dict[str, Any]]:
    """Take a waiting conversation (or a call-back to make). Claiming your own again changes nothing.

    AlreadyClaimed when another agent holds it; CapacityReached when the agent already holds
    HANDOFF_MAX_PER_AGENT live conversations (call-backs do not count); InvalidState once it is over.
    """
    now = _now(now)
    limit = get_settings().handoff_max_per_agent

    def attempt() -> Outcome[dict[str, Any]]:
        with session_scope() as session:
            account = _agent_account(session, staff)
            _touch_presence(session, account.id, now)
            conv = _get(session, conversation_id)
            if conv.agent_id == account.id and conv.state in (CONNECTED, CALLBACK):
                return Outcome(_view(session, conv, now))
            if conv.state in (CONNECTED, CALLBACK) and conv.agent_id is not None:
                name = _names(session, {conv.agent_id}).get(conv.agent_id)
                raise AlreadyClaimed(f"该会话已由{name}接入。", holder=name)
            if conv.state == QUEUED:
                if _live_count(session, account.id) >= limit:
                    raise CapacityReached(f"您已同时接待{limit}位市民，请先结束或转出一个会话。", limit=limit)
                values = dict(state=CONNECTED, agent_id=account.id, connected_at=now, updated_at=now)
            elif conv.state == CALLBACK:
                values = dict(agent_id=account.id, updated_at=now)
            else:
                raise InvalidState("该会话已结束。", state=conv.state)
            result = session.execute(update(HandoffConversation)
                                     .where(HandoffConversation.id == conv.id, HandoffConversation.state == conv.state,
                                            HandoffConversation.agent_id.is_(None))
                                     .values(**values))
            if not result.rowcount:   # someone else was faster
                session.rollback()
                current = _get(session, conversation_id)
                name = _names(session, {current.agent_id}).get(current.agent_id)
                if current.agent_id is not None:
                    raise AlreadyClaimed(f"该会话已由{name}接入。", holder=name)
                raise InvalidState("该会话的状态刚刚发生了变化。", state=current.state)
            session.refresh(conv)
            name = _public_name(account)
            if conv.state == CONNECTED:
                text = f"{name}已接入，为您服务。"
            else:
                text = "工作人员已受理您的回拨请求，将尽快与您联系。"
            msg = _system_message(session, conv, text, now, "claimed", agent_name=name)
            audit(session, account.id, "handoff.claim", "handoff", conv.id, state=conv.state)
            view = _view(session, conv, now)
            events = _change_events(session, conv, "claimed", msg, now)
        log.info("handoff claimed id=%s staff=%s", conv.id, account.id)
        if conv.state == CONNECTED:
            _record("handoff_connected", conv, now, value=_seconds(conv.queued_at, conv.connected_at))
        return Outcome(view, events)

    return _retrying(attempt)


def _held(session: Session, conversation_id: int, staff: object) -> tuple[HandoffConversation, StaffAccount]:
    """The conversation and the acting account, which must hold it (supervisors and admins may act on any)."""
    account = _agent_account(session, staff)
    conv = _get(session, conversation_id)
    if conv.agent_id != account.id and not _is_supervisor(account):
        raise NotHolder("只有接入该会话的坐席（或班长）可以这样操作。")
    return conv, account


def release(conversation_id: int, staff: object, *, now: datetime | None = None) -> Outcome[dict[str, Any]]:
    """Hand the conversation back to the assistant (state returned); the caller talks to the bot again."""
    now = _now(now)
    with session_scope() as session:
        conv, account = _held(session, conversation_id, staff)
        if conv.state != CONNECTED:
            raise InvalidState("只有正在接待的会话可以交回智能助手。", state=conv.state)
        result = session.execute(update(HandoffConversation)
                                 .where(HandoffConversation.id == conv.id, HandoffConversation.state == CONNECTED,
                                        HandoffConversation.agent_id == conv.agent_id)
                                 .values(state=RETURNED, ended_at=now, ended_by="staff", updated_at=now))
        if not result.rowcount:
            raise InvalidState("该会话的状态刚刚发生了变化。", state=conv.state)
        session.refresh(conv)
        msg = _system_message(session, conv, "人工客服已结束接待，您可以继续向智能助手咨询。", now, "released")
        audit(session, account.id, "handoff.release", "handoff", conv.id, holder_id=conv.agent_id)
        view = _view(session, conv, now)
        events = _change_events(session, conv, "released", msg, now)
    _record("handoff_returned", conv, now, value=_seconds(conv.connected_at, now))
    return Outcome(view, events)


def transfer(conversation_id: int, staff: object, to_staff_id: int, *,
             now: datetime | None = None) -> Outcome[dict[str, Any]]:
    """Give a live conversation to another agent on duty (AgentUnavailable / CapacityReached otherwise)."""
    now = _now(now)
    limit = get_settings().handoff_max_per_agent
    with session_scope() as session:
        conv, account = _held(session, conversation_id, staff)
        if conv.state != CONNECTED:
            raise InvalidState("只有正在接待的会话可以转接。", state=conv.state)
        target = session.get(StaffAccount, to_staff_id) if isinstance(to_staff_id, int) else None
        if target is None:
            raise NotFound("没有这个坐席账号。")
        if target.id == conv.agent_id:
            raise InvalidInput("该会话已由这位坐席接待。", field="to_staff_id")
        if target.disabled or not has_role(target, "agent") or not _is_on_duty(session, target.id, now):
            raise AgentUnavailable(f"{_public_name(target)}当前不在线，无法转接。")
        session.scalar(select(AgentPresence.staff_id).where(AgentPresence.staff_id == target.id)
                       .with_for_update())   # PostgreSQL: one transfer at a time to the same agent
        if _live_count(session, target.id) >= limit:
            raise CapacityReached(f"{_public_name(target)}已同时接待{limit}位市民，无法转接。", limit=limit)
        previous = conv.agent_id
        result = session.execute(update(HandoffConversation)
                                 .where(HandoffConversation.id == conv.id, HandoffConversation.state == CONNECTED,
                                        HandoffConversation.agent_id == previous)
                                 .values(agent_id=target.id, updated_at=now))
        if not result.rowcount:
            raise InvalidState("该会话的状态刚刚发生了变化。", state=conv.state)
        session.refresh(conv)
        name = _public_name(target)
        msg = _system_message(session, conv, f"已为您转接至{name}。", now, "transferred", agent_name=name)
        audit(session, account.id, "handoff.transfer", "handoff", conv.id, from_staff_id=previous,
              to_staff_id=target.id)
        view = _view(session, conv, now)
        events = _change_events(session, conv, "transferred", msg, now, from_agent_id=previous)
    return Outcome(view, events)


def close(conversation_id: int, staff: object, wrap_up: str, note: str = "", *,
          now: datetime | None = None) -> Outcome[dict[str, Any]]:
    """End a live conversation or a claimed call-back with a wrap-up code (WRAP_UP_CODES).

    The holder closes it; a supervisor or admin may also close one still waiting (e.g. 无效来电).
    """
    if wrap_up not in WRAP_UP_CODES:
        raise InvalidInput(f"请选择结束类型：{'、'.join(WRAP_UP_CODES)}。", field="wrap_up")
    note = mask_text((note or "").strip())[:MAX_NOTE_CHARS]
    now = _now(now)
    with session_scope() as session:
        conv, account = _held(session, conversation_id, staff)
        if conv.state not in (CONNECTED, CALLBACK, QUEUED) or (conv.state == QUEUED and not _is_supervisor(account)):
            raise InvalidState("该会话当前不能结束。", state=conv.state)
        result = session.execute(update(HandoffConversation)
                                 .where(HandoffConversation.id == conv.id, HandoffConversation.state == conv.state)
                                 .values(state=CLOSED, ended_at=now, ended_by="staff", wrap_up=wrap_up,
                                         wrap_up_note=note, updated_at=now))
        if not result.rowcount:
            raise InvalidState("该会话的状态刚刚发生了变化。", state=conv.state)
        previous_state = conv.state
        session.refresh(conv)
        msg = _system_message(session, conv, "本次人工服务已结束，感谢您的耐心。如还有问题，可以继续向智能助手咨询。",
                              now, "closed")
        audit(session, account.id, "handoff.close", "handoff", conv.id, wrap_up=wrap_up, from_state=previous_state)
        view = _view(session, conv, now)
        events = _change_events(session, conv, "closed", msg, now)
    _record("handoff_closed", conv, now, value=_seconds(conv.connected_at, now) if conv.connected_at else None,
            wrap_up=wrap_up)
    return Outcome(view, events)


def _checked_line(role: str, text: str, kind: str, data: dict | None, internal: bool) -> tuple[str, dict]:
    """One transcript line's text and data, validated (and masked for the caller)."""
    if role not in MESSAGE_ROLES:
        raise InvalidInput(f"未知的消息角色：{role}。", field="role")
    if not isinstance(text, str):
        raise InvalidInput("消息内容应为文字。", field="text")
    text = text.strip()
    if not text and not data:
        raise InvalidInput("消息内容不能为空。", field="text")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"消息过长（最多{MAX_TEXT_CHARS}个字符）。", field="text")
    if internal and role != "agent":
        raise InvalidInput("只有坐席可以写内部备注。", field="internal")
    if not isinstance(kind, str) or not kind or len(kind) > 32:
        raise InvalidInput("消息类型无效。", field="kind")
    data = _check_json_object(data, "data", mask=(role == "caller"))
    # an agent's reply or note is a transcript line like the caller's: an ID or mobile number typed into it is
    # stored (and sent) masked too; the caller's call-back number is kept apart and revealed with a reason
    return (mask_text(text) if role in ("caller", "agent") else text), data


def _message_event(conv: HandoffConversation, msg: HandoffMessage, staff_name: str | None, *,
                   for_staff: bool) -> dict[str, Any]:
    """The live event that carries one transcript line."""
    return {"type": "handoff.message", "conversation_id": conv.id, "sender": conv.sender,
            "message": _message_view(msg, staff_name, for_staff=for_staff)}


def _store_line(session: Session, conv: HandoffConversation, role: str, text: str, kind: str, data: dict,
                internal: bool, account: StaffAccount | None, now: datetime) -> tuple[Envelope, dict[str, Any]]:
    msg = HandoffMessage(conversation_id=conv.id, role=role, staff_id=account.id if account else None,
                         kind=kind, text=text, data=data, internal=bool(internal), created_at=now)
    session.add(msg)
    session.flush()
    staff_name = _public_name(account)
    event = _message_event(conv, msg, staff_name, for_staff=internal)
    topic = staff_topic(conv.sender) if internal else conversation_topic(conv.sender)
    return Envelope(topic, event), _message_view(msg, staff_name, for_staff=True)


def add_message(conversation_id: int, role: str, text: str, *, staff: object = None, kind: str = "text",
                data: dict | None = None, internal: bool = False,
                now: datetime | None = None) -> Outcome[dict[str, Any]]:
    """Add a line to the transcript and return the event that carries it.

    caller: while queued or connected; the text is masked (core.privacy.mask_text) before it is stored.
    agent: `staff` must hold the connected conversation; `internal=True` makes a note for staff only
    (the holder or a supervisor, any state), published on `conversation:<sender>:staff`; masked like the caller's.
    assistant / system: what the assistant or the system said, stored as given.
    """
    text, data = _checked_line(role, text, kind, data, internal)
    now = _now(now)
    with session_scope() as session:
        account = None
        if role == "agent":
            conv, account = _held(session, conversation_id, staff)
            if not internal:
                if conv.agent_id != account.id:
                    raise NotHolder("只有接入该会话的坐席可以回复市民。")
                if conv.state != CONNECTED:
                    raise InvalidState("该会话已不在人工接待中。", state=conv.state)
        else:
            if staff is not None:
                raise InvalidInput("只有坐席消息带有坐席账号。", field="staff")
            conv = _get(session, conversation_id)
            if role == "caller" and conv.state not in LIVE_STATES:
                raise InvalidState("该会话已不在人工服务中。", state=conv.state)
        event, view = _store_line(session, conv, role, text, kind, data, internal, account, now)
    return Outcome(view, (event,))


def add_lines(conversation_id: int, lines: list[tuple[str, str, str, dict]], *,
              now: datetime | None = None) -> Outcome[list[dict[str, Any]]]:
    """Caller and assistant lines (role, text, kind, data) in one transaction: the history an agent reads.

    Lines that do not pass the checks of add_message are skipped, not fatal: this is a copy for the agent.
    """
    now = _now(now)
    checked = []
    for role, text, kind, data in lines:
        if role not in ("caller", "assistant"):
            continue
        try:
            checked.append((role, *_checked_line(role, text[:MAX_TEXT_CHARS], kind[:32], data, False), kind[:32]))
        except InvalidInput:
            continue
    events, views = [], []
    with session_scope() as session:
        conv = _get(session, conversation_id)
        for role, text, data, kind in checked:
            event, view = _store_line(session, conv, role, text, kind, data, False, None, now)
            events.append(event)
            views.append(view)
    return Outcome(views, tuple(events))


BACKLOG_LINES = 50


def caller_backlog(conversation_id: int) -> list[dict[str, Any]]:
    """What the agent side said to the caller since the caller's latest line, as the events that carried it live
    (`handoff.message` for agent replies, `handoff.state` for the changes): a channel without a live connection
    (plain HTTP), or a socket that reconnected, gets them on the caller's next turn or on connecting. Internal
    notes are never among them; each carries its message id, so a client that saw it live can skip it."""
    msg = HandoffMessage
    with session_scope() as session:
        conv = _get(session, conversation_id)
        last_caller = session.scalar(select(func.max(msg.id)).where(msg.conversation_id == conv.id,
                                                                    msg.role == "caller"))
        rows = session.scalars(select(msg).where(  # the newest BACKLOG_LINES, oldest first
            msg.conversation_id == conv.id, msg.id > (last_caller or 0), msg.internal.is_(False),
            msg.role.in_(("agent", "system"))).order_by(msg.id.desc()).limit(BACKLOG_LINES)).all()[::-1]
        names = _names(session, {row.staff_id for row in rows} | {conv.agent_id})
        events = []
        for row in rows:
            if row.role == "agent":
                events.append(_message_event(conv, row, names.get(row.staff_id), for_staff=False))
            else:
                events.append({"type": "handoff.state", "change": (row.data or {}).get("change"),
                               "conversation_id": conv.id, "sender": conv.sender,
                               "holder": names.get(conv.agent_id) if conv.state == CONNECTED else None,
                               "message": _message_view(row, None, for_staff=False)})
        return events


def current(sender: str) -> dict[str, Any] | None:
    """{"id", "state"} of the sender's live conversation, else of their latest call-back request, or None: one
    indexed query a turn, without the ORM (every turn of every caller asks this)."""
    conv = HandoffConversation
    with get_engine().connect() as conn:
        row = conn.execute(select(conv.id, conv.state)
                           .where(conv.sender == sender, conv.state.in_((*LIVE_STATES, CALLBACK)))
                           .order_by(conv.state == CALLBACK, conv.id.desc()).limit(1)).first()
    return {"id": row.id, "state": row.state} if row is not None else None


def _may_read(account: StaffAccount, conv: HandoffConversation) -> bool:
    """Agents read what waits for anyone (queue, unclaimed call-backs) and what they hold or held last."""
    if _is_supervisor(account):
        return True
    if conv.agent_id == account.id:
        return True
    return conv.agent_id is None and conv.state in (QUEUED, CALLBACK)


def transcript(conversation_id: int, viewer: object, *, now: datetime | None = None) -> dict[str, Any]:
    """The conversation and all its messages, internal notes included (staff only; see `_may_read`)."""
    now = _now(now)
    with session_scope() as session:
        account = _agent_account(session, viewer)
        conv = _get(session, conversation_id)
        if not _may_read(account, conv):
            raise NotAllowed("您只能查看排队中的会话和自己接待的会话。")
        rows = list(session.scalars(select(HandoffMessage).where(HandoffMessage.conversation_id == conv.id)
                                    .order_by(HandoffMessage.created_at, HandoffMessage.id)))
        names = _names(session, {m.staff_id for m in rows} | {conv.agent_id})
        return {"conversation": _conversation_view(conv, now, names.get(conv.agent_id)),
                "messages": [_message_view(m, names.get(m.staff_id), for_staff=True) for m in rows]}


def reveal(conversation_id: int, staff: object, field: str, reason: str) -> str:
    """The unmasked value of `field` (REVEALABLE_FIELDS) for the holder or a supervisor; audited with the reason."""
    if field not in REVEALABLE_FIELDS:
        raise InvalidInput(f"不能查看该字段：{field}。", field="field")
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if len(reason) < 2:
        raise InvalidInput("请填写查看原因。", field="reason")
    with session_scope() as session:
        conv, account = _held(session, conversation_id, staff)
        value = getattr(conv, field)
        if not value:
            raise NotFound("该会话没有登记这一信息。")
        audit(session, account.id, "handoff.reveal", "handoff", conv.id, field=field, reason=reason[:200])
    return value
