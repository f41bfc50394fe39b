"""Tickets (工单): filing a citizen's appeal, its deadline, duplicates, and the caller's progress check.

Every channel files through `file_ticket` (the intake conversation, a call-back request from the agent
queue). It classifies the appeal (core/tickets/classifier.py) and routes it to a department
(core/tickets/routing.py); when the classifier is unsure the ticket waits in the manual-classification
queue (`classification == "pending"`) instead of going to a guessed department. A ticket about the same
problem at the same place as an open ticket filed recently is linked to it (`duplicate_of`).
Staff work on tickets lives in core/tickets/desk.py.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import validators
from core.db import session_scope
from core.models import Ticket, TicketEvent, utcnow
from core.privacy import mask_text
from core.settings import get_settings
from core.tickets.places import likeness, place_key, same_place
from core.validators import TZ, today_local
from core.verification import LockPolicy, StatusOutcome, aware, verified_lookup
from core.workdays import add_working_days

log = logging.getLogger(__name__)

APPEAL_TYPES = ("咨询", "求助", "投诉", "举报", "建议")
STATES = {"accepted": "已受理", "dispatched": "已派单", "in_progress": "办理中", "resolved": "已办结",
          "visited": "已回访", "returned": "退回"}
OPEN_STATES = ("accepted", "dispatched", "in_progress", "returned")
NUMBER_PATTERN = re.compile(r"GD[0-9]{8}[0-9A-Z]{6}")
NUMBER_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"   # no I or O: read out on the phone
MAX_DESCRIPTION = 2000
# At the same place, descriptions this much alike (core/tickets/places.likeness) are the same problem; less
# likeness is needed when the classifier put both in the same level-2 or level-3 category.
SAME_PROBLEM = 0.3
SAME_PROBLEM_SAME_LEVEL2 = 0.15
SAME_PROBLEM_SAME_LEVEL3 = 0.1
# A request for help (求助) naming a vulnerable person or a basic need cut off is urgent: replied to sooner.
URGENT_HELP = re.compile(r"老人|残疾|孩子|断水|断电|停暖|被困|没饭吃|生病")


class TicketError(Exception):
    """A ticket could not be filed or found; `message` is for the caller (Simplified Chinese)."""

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


@dataclass
class Appeal:
    """What a caller (or staff on their behalf) reports; the fields of the intake conversation."""

    appeal_type: str
    description: str
    address: str = ""
    occurred: str = ""
    caller_name: str | None = None
    phone: str | None = None
    reply_wanted: bool = True
    anonymous: bool = False
    channel: str = "web"
    sender: str = ""
    source: str = "conversation"          # conversation | callback
    urgent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Filed:
    view: dict[str, Any]
    created: bool                          # False: the same appeal was filed before (idempotent)
    duplicate: dict[str, Any] | None       # the open ticket this one was linked to


# -- settings -------------------------------------------------------------------------------------------------
def reply_days(appeal_type: str, urgent: bool = False) -> int:
    """Working days to reply, per appeal type (TICKET_REPLY_DAYS, e.g. "咨询=3,求助=2,投诉=5,举报=5,建议=10,urgent=1")."""
    table = parse_days(get_settings().ticket_reply_days)
    if urgent:
        return table.get("urgent", 1)
    return table.get(appeal_type, table.get("投诉", 5))


def parse_days(spec: str) -> dict[str, int]:
    table: dict[str, int] = {}
    for part in (spec or "").split(","):
        name, _, days = part.partition("=")
        if name.strip() and days.strip():
            try:
                table[name.strip()] = max(0, int(days))
            except ValueError as exc:
                raise ValueError(f"TICKET_REPLY_DAYS: {part!r} is not name=days") from exc
    return table


# -- numbers, keys, views -------------------------------------------------------------------------------------
def new_number(day: date | None = None) -> str:
    day = day or today_local()
    return "GD" + day.strftime("%Y%m%d") + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(6))


def normalize_number(raw: str | None) -> str:
    return re.sub(r"[\s\-－_]", "", raw or "").upper()


def _idempotency_key(appeal: Appeal) -> str:
    payload = json.dumps({"sender": appeal.sender, "type": appeal.appeal_type, "text": appeal.description.strip(),
                          "address": appeal.address.strip(), "phone": appeal.phone or "", "source": appeal.source},
                         ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def phone_hash(phone: str) -> str:
    return hashlib.sha256(("ticket-phone|" + phone).encode("utf-8")).hexdigest()


def due_text(value: date | str | None) -> str:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return ""
    return f"{value.year}年{value.month}月{value.day}日" if value else ""


def callers_count(session: Session, ticket_id: int) -> int:
    """How many callers raised this problem: the ticket itself and the tickets linked to it."""
    linked = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.duplicate_of == ticket_id)) or 0
    return 1 + int(linked)


def public_view(session: Session, ticket: Ticket) -> dict[str, Any]:
    """What the caller may see: no personal data, only public progress entries."""
    original = session.get(Ticket, ticket.duplicate_of) if ticket.duplicate_of else None
    progress = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == (original or ticket).id,
                                                         TicketEvent.public.is_(True))
                               .order_by(TicketEvent.id)).all()
    shown = original or ticket
    return {
        "number": ticket.number, "appeal_type": ticket.appeal_type,
        "level1": ticket.level1, "level2": ticket.level2, "level3": ticket.level3,
        "department": shown.department, "state": shown.state, "state_label": STATES.get(shown.state, shown.state),
        "due": ticket.due.isoformat(), "duplicate_of": original.number if original else None,
        "classification": ticket.classification, "urgent": ticket.urgent,
        "created_at": aware(ticket.created_at).astimezone(TZ).isoformat(timespec="minutes"),
        "progress": [{"at": aware(e.created_at).astimezone(TZ).isoformat(timespec="minutes"),
                      "state": e.state, "state_label": STATES.get(e.state or "", ""), "text": e.text}
                     for e in progress],
        "callers": callers_count(session, shown.id),
    }


def add_event(session: Session, ticket: Ticket, kind: str, text: str = "", *, state: str | None = None,
              public: bool = False, staff_id: int | None = None, actor: str = "system", **data: Any) -> TicketEvent:
    event = TicketEvent(ticket_id=ticket.id, kind=kind, state=state or ticket.state, text=mask_text(text),
                        public=public, data=data, staff_id=staff_id, actor=actor, created_at=utcnow())
    session.add(event)
    ticket.updated_at = utcnow()
    return event


# -- filing -----------------------------------------------------------------------------------------------------
def validate(appeal: Appeal) -> dict[str, str]:
    errors: dict[str, str] = {}
    if appeal.appeal_type not in APPEAL_TYPES:
        errors["appeal_type"] = "诉求类型应为咨询、求助、投诉、举报或建议之一。"
    text = (appeal.description or "").strip()
    if len(text) < 4:
        errors["description"] = "请具体说说遇到了什么问题。"
    elif len(text) > MAX_DESCRIPTION:
        errors["description"] = f"问题描述请精简到{MAX_DESCRIPTION}字以内。"
    if len(appeal.address or "") > 200:
        errors["address"] = "地址请精简到200字以内。"
    if appeal.phone:
        check = validators.validate_phone(appeal.phone)
        if not check.ok:
            errors["phone"] = check.error
    elif appeal.reply_wanted and appeal.source == "callback":
        errors["phone"] = "回电登记需要联系电话。"
    if appeal.caller_name and len(appeal.caller_name) > 64:
        errors["caller_name"] = "姓名过长。"
    return errors


def classify(text: str) -> dict[str, Any]:
    """The classifier's answer as a dict; an unavailable classifier sends the ticket to manual classification."""
    try:
        from core.tickets.classifier import classify as run

        result = run(text)
    except Exception:  # the model missing or broken must not lose the caller's appeal
        log.exception("ticket classifier failed; the ticket goes to manual classification")
        return {"level1": "", "level2": "", "level3": "", "department": "", "confidence": 0.0, "manual": True}
    return {"level1": result.level1, "level2": result.level2, "level3": result.level3,
            "department": result.department, "confidence": float(result.confidence), "manual": bool(result.manual)}


def find_duplicate(session: Session, *, key: str, description: str, level2: str, level3: str = "",
                   since_days: int, exclude: int | None = None) -> Ticket | None:
    """The open ticket about the same problem at the same place, filed within the window, if any."""
    if not key:
        return None
    since = utcnow() - timedelta(days=since_days)
    candidates = session.scalars(
        select(Ticket).where(Ticket.state.in_(OPEN_STATES), Ticket.duplicate_of.is_(None), Ticket.place_key != "",
                             Ticket.created_at >= since)
        .order_by(Ticket.created_at.desc()).limit(500)).all()
    best, best_score = None, 0.0
    for ticket in candidates:
        if ticket.id == exclude or not same_place(key, ticket.place_key):
            continue
        score = likeness(description, ticket.description)
        if same_problem(score, level2, level3, ticket) and score > best_score:
            best, best_score = ticket, score
    return best


def same_problem(alike: float, level2: str, level3: str, other: Ticket) -> bool:
    """Whether a description `alike` (places.likeness) to `other`'s, at the same place, is the same problem:
    less likeness is needed when the classifier put both in the same level-2 or level-3 category."""
    needed = SAME_PROBLEM
    if level2 and level2 == other.level2:
        needed = SAME_PROBLEM_SAME_LEVEL3 if level3 and level3 == other.level3 else SAME_PROBLEM_SAME_LEVEL2
    return alike >= needed


def file_ticket(appeal: Appeal) -> Filed:
    """File an appeal; the same appeal filed twice (a retried confirmation) returns the first ticket."""
    errors = validate(appeal)
    if errors:
        raise TicketError("工单信息不完整或有误：" + "；".join(errors.values()), errors)
    phone = validators.validate_phone(appeal.phone).value if appeal.phone else None
    key = _idempotency_key(appeal)
    with session_scope() as session:
        existing = session.scalar(select(Ticket).where(Ticket.idempotency_key == key))
        if existing is not None:
            return Filed(public_view(session, existing), created=False,
                         duplicate=_duplicate_view(session, existing))
    classes = classify(appeal.description + (" " + appeal.address if appeal.address else ""))
    settings = get_settings()
    today = today_local()
    urgent = appeal.urgent or (appeal.appeal_type == "求助" and bool(URGENT_HELP.search(appeal.description)))
    due = add_working_days(today, reply_days(appeal.appeal_type, urgent))
    pending = classes["manual"] or not classes["level1"]
    with session_scope() as session:
        key_place = place_key(appeal.address) or place_key(appeal.description)
        original = find_duplicate(session, key=key_place, description=appeal.description,
                                  level2=classes["level2"], level3=classes["level3"],
                                  since_days=settings.ticket_duplicate_days)
        ticket = Ticket(
            number=new_number(today), sender=appeal.sender[:128], channel=appeal.channel[:32],
            appeal_type=appeal.appeal_type, description=mask_text(appeal.description.strip()),
            address=mask_text(appeal.address.strip())[:200], place_key=key_place,
            occurred=(appeal.occurred or "").strip()[:64],
            caller_name=None if appeal.anonymous else ((appeal.caller_name or "").strip() or None),
            phone=phone, phone_hash=phone_hash(phone) if phone else None,
            reply_wanted=appeal.reply_wanted and bool(phone), anonymous=appeal.anonymous,
            level1=classes["level1"], level2=classes["level2"], level3=classes["level3"],
            department="" if pending else classes["department"], confidence=classes["confidence"],
            classification="pending" if pending else "auto", state="accepted", urgent=urgent, due=due,
            duplicate_of=original.id if original else None, idempotency_key=key,
            created_at=utcnow(), updated_at=utcnow())
        session.add(ticket)
        try:
            session.flush()
        except IntegrityError:  # the same appeal confirmed twice at once, or a number collision
            session.rollback()
            existing = session.scalar(select(Ticket).where(Ticket.idempotency_key == key))
            if existing is None:
                raise
            return Filed(public_view(session, existing), created=False, duplicate=_duplicate_view(session, existing))
        add_event(session, ticket, "created", "已受理" + (f"，转{ticket.department}办理" if ticket.department else ""),
                  public=True, source=appeal.source, channel=appeal.channel, **appeal.extra)
        if original is not None:
            add_event(session, original, "linked", f"又有市民反映同一问题（工单{ticket.number}）",
                      linked=ticket.number)
        log.info("ticket filed number=%s type=%s level1=%s department=%s duplicate_of=%s",
                 ticket.number, ticket.appeal_type, ticket.level1, ticket.department,
                 original.number if original else None)
        return Filed(public_view(session, ticket), created=True, duplicate=_duplicate_view(session, ticket))


def _duplicate_view(session: Session, ticket: Ticket) -> dict[str, Any] | None:
    if not ticket.duplicate_of:
        return None
    original = session.get(Ticket, ticket.duplicate_of)
    if original is None:
        return None
    return {"number": original.number, "state": original.state, "state_label": STATES.get(original.state, ""),
            "department": original.department, "due": original.due.isoformat(),
            "callers": callers_count(session, original.id)}


# -- the caller's progress check ----------------------------------------------------------------------------------
def check_progress(number: str | None, factor: str | None, *, requester: str,
                   policy: LockPolicy | None = None, client: str | None = None) -> StatusOutcome:
    """Progress by ticket number + last 4 digits of the phone given; unknown number = wrong digits."""
    number = normalize_number(number)
    digits = re.sub(r"\D", "", factor or "")
    digits = digits[-4:] if len(digits) in (4, 11) else ""

    def lookup() -> dict[str, Any] | None:
        if not NUMBER_PATTERN.fullmatch(number) or not digits:
            return None
        with session_scope() as session:
            ticket = session.scalar(select(Ticket).where(Ticket.number == number))
            if ticket is None or not ticket.phone or not hmac.compare_digest(ticket.phone[-4:], digits):
                return None
            return public_view(session, ticket)

    return verified_lookup(number, requester, lookup, policy=policy, client=client)


def progress_text(view: dict[str, Any]) -> str:
    lines = [f"工单{view['number']}（{view['appeal_type']}）当前状态：{view['state_label']}。"]
    if view.get("duplicate_of"):
        lines.append(f"该问题已并入工单{view['duplicate_of']}统一办理，共有{view['callers']}位市民反映。")
    if view.get("department"):
        lines.append(f"承办单位：{view['department']}；答复期限：{due_text(view['due'])}前。")
    else:
        lines.append(f"工单正在分类转办中；答复期限：{due_text(view['due'])}前。")
    for entry in view.get("progress", [])[-3:]:
        lines.append(f"• {entry['at'][:16].replace('T', ' ')} {entry['text']}")
    return "\n".join(lines)
