"""The ticket desk (工单台): what hotline staff do with tickets after they are filed.

    list_tickets       filters (state, level1, department, overdue, classification pending, appeal type, text)
                       and paging; each ticket with how many callers raised it (tickets linked by duplicate_of)
    ticket_view        one ticket for staff: every event (internal notes too), phone and name masked
    reveal             the full phone number or name, with a reason (audited `ticket.reveal`)
    reclassify         level1/level2/level3 from the taxonomy; department from routing unless given; manual
    reassign           another department (承办单位)
    reply / note       a reply the caller sees in progress checks / an internal note staff only
    advance            accepted -> dispatched -> in_progress -> resolved -> visited (TRANSITIONS; else an error)
    return_ticket      a department rejects it as not theirs (退回), with a reason: state returned, back to the
                       manual-classification queue; reclassify or reassign, then dispatch again
    unlink             a ticket wrongly linked to another (duplicate_of) becomes a ticket of its own again
    hot_issues         clusters of similar recent tickets (same place, or similar text) ranked by size
    forward / sync     hand a dispatched ticket to a city's 12345 工单 platform and pull its state and replies
                       back (core/tickets/platforms.py); with TICKET_PLATFORM_URL set, dispatching forwards

Every staff write is one transaction with its `core.staff.audit` entry (`ticket.*` actions) and a TicketEvent.
State changes are conditional updates, so two staff members acting at once get one change and one clear error.
Functions taking `staff` accept a StaffPrincipal (core/staff/sessions.py) or None (automation).
No HTTP here: connectors/desk/api.py maps DeskError to answers.
"""
from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from core.db import session_scope
from core.models import StaffAccount, Ticket, TicketEvent, utcnow
from core.privacy import mask_name, mask_phone, mask_text
from core.settings import get_settings
from core.staff.audit import audit
from core.tickets.places import problem_pairs, same_place
from core.tickets.routing import RoutingError, load_routing
from core.tickets import service as tickets
from core.tickets.service import APPEAL_TYPES, OPEN_STATES, STATES, add_event, normalize_number
from core.tickets.taxonomy import load_taxonomy
from core.validators import TZ, today_local
from core.verification import aware
from core.workdays import working_days_between

log = logging.getLogger("hotline.tickets.desk")

FLOW = ("accepted", "dispatched", "in_progress", "resolved", "visited")
# state -> the states `advance` may move it to (returning is `return_ticket`, not an advance)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "accepted": ("dispatched",),
    "dispatched": ("in_progress",),
    "in_progress": ("resolved",),
    "resolved": ("visited",),
    "visited": (),
    "returned": ("dispatched",),
}
RETURNABLE = ("dispatched", "in_progress")        # only a department that has the ticket can return it
DONE_STATES = ("resolved", "visited")
REVEALABLE_FIELDS = ("phone", "caller_name")
MAX_TEXT = 2000
MAX_REASON = 500
MAX_PER_PAGE = 100
HOT_MAX_TICKETS = 1500           # the most recent tickets of the window that hot issues look at
HOT_TEXT_ALIKE = 0.5             # descriptions this alike are the same issue wherever they happened ...
HOT_TEXT_SAME_LEVEL3 = 0.35      # ... or this alike within the same level-3 category
EVENT_LABELS = {"created": "受理", "linked": "同一问题", "state": "状态变更", "reply": "答复市民", "note": "内部备注",
                "reclassify": "重新分类", "reassign": "改派", "return": "退回", "unlink": "取消合并",
                "forwarded": "转工单平台", "platform_error": "工单平台", "platform_sync": "工单平台同步"}
STATE_TEXT = {"dispatched": "已派单至{department}", "in_progress": "{department}正在办理", "resolved": "已办结",
              "visited": "已回访"}


# -- errors ------------------------------------------------------------------------------------------------------
class DeskError(Exception):
    """A refused desk action; `message` is for the staff member (Simplified Chinese)."""

    code = "desk_error"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class TicketNotFound(DeskError):
    code = "ticket_not_found"


class InvalidTransition(DeskError):
    """Not possible in the ticket's state; `detail["state"]`, `detail["allowed"]`."""

    code = "ticket_invalid_state"


class InvalidInput(DeskError):
    """A value was refused; `detail["field"]`."""

    code = "ticket_invalid_input"


class PlatformNotConfigured(DeskError):
    code = "platform_not_configured"


class PlatformFailed(DeskError):
    """The 工单 platform did not take the request (down, or refused it); the ticket keeps its local state."""

    code = "platform_unavailable"


# -- helpers -----------------------------------------------------------------------------------------------------
def _staff_id(staff: Any) -> int | None:
    return getattr(staff, "staff_id", None) if staff is not None else None


def _actor(staff: Any) -> str:
    if staff is None:
        return "system"
    return getattr(staff, "actor", None) or f"staff:{getattr(staff, 'username', '')}"[:64]


def _iso(value: datetime | None) -> str | None:
    return aware(value).astimezone(TZ).isoformat(timespec="seconds") if value else None


def _text(value: Any, field: str, *, label: str, limit: int = MAX_TEXT, minimum: int = 1) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if len(text) < minimum:
        raise InvalidInput(f"请填写{label}。", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{label}请精简到{limit}字以内。", field=field)
    return text


def _get(session: Session, number: str) -> Ticket:
    ticket = session.scalar(select(Ticket).where(Ticket.number == normalize_number(number)[:32]))
    if ticket is None:
        raise TicketNotFound("没有找到这个工单。")
    return ticket


def _not_linked(session: Session, ticket: Ticket) -> None:
    if ticket.duplicate_of:
        original = session.get(Ticket, ticket.duplicate_of)
        raise InvalidTransition(f"该工单已并入工单{original.number if original else ''}统一办理，请在原工单上操作"
                                "（如合并有误，可先取消合并）。", state=ticket.state,
                                original=original.number if original else None)


def _departments() -> tuple[str, ...]:
    try:
        return load_routing().departments
    except RoutingError as exc:
        log.error("routing table unusable: %s", exc)
        raise InvalidInput("派单表（承办单位）当前不可用，请联系管理员。", field="department") from exc


def _check_department(name: Any) -> str:
    department = name.strip() if isinstance(name, str) else ""
    if not department:
        raise InvalidInput("请选择承办单位。", field="department")
    if department not in _departments():
        raise InvalidInput(f"承办单位“{department[:64]}”不在派单表中。", field="department")
    return department


def _set_state(session: Session, ticket: Ticket, expected: str, new: str) -> None:
    """Conditional update: somebody else changing the state first makes this one fail clearly."""
    result = session.execute(update(Ticket).where(Ticket.id == ticket.id, Ticket.state == expected)
                             .values(state=new, updated_at=utcnow()))
    if not result.rowcount:
        session.refresh(ticket)
        raise InvalidTransition(f"工单状态刚刚变为“{STATES.get(ticket.state, ticket.state)}”，请刷新后再试。",
                                state=ticket.state)
    session.refresh(ticket)


def _overdue(ticket: Ticket, today: date) -> bool:
    return ticket.state not in DONE_STATES and ticket.due < today


def callers_counts(session: Session, ids: list[int]) -> dict[int, int]:
    """{ticket id: callers who raised it} = the ticket itself + the tickets linked to it (duplicate_of)."""
    if not ids:
        return {}
    rows = session.execute(select(Ticket.duplicate_of, func.count()).where(Ticket.duplicate_of.in_(ids))
                           .group_by(Ticket.duplicate_of)).all()
    linked = {original: count for original, count in rows}
    return {i: 1 + int(linked.get(i, 0)) for i in ids}


def _numbers(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    return dict(session.execute(select(Ticket.id, Ticket.number).where(Ticket.id.in_(wanted))).all())


def _summary(ticket: Ticket, today: date, callers: int, original: str | None) -> dict[str, Any]:
    overdue = _overdue(ticket, today)
    days_left = working_days_between(today, ticket.due) if not overdue and ticket.state not in DONE_STATES else None
    return {
        "number": ticket.number, "appeal_type": ticket.appeal_type, "state": ticket.state,
        "state_label": STATES.get(ticket.state, ticket.state), "level1": ticket.level1, "level2": ticket.level2,
        "level3": ticket.level3, "department": ticket.department, "classification": ticket.classification,
        "confidence": round(float(ticket.confidence or 0.0), 3), "urgent": bool(ticket.urgent),
        "due": ticket.due.isoformat(), "overdue": overdue,
        "overdue_working_days": working_days_between(ticket.due, today) if overdue else 0,
        "working_days_left": days_left,
        "description": ticket.description if len(ticket.description) <= 120 else ticket.description[:119] + "…",
        "address": ticket.address, "channel": ticket.channel, "callers": callers, "duplicate_of": original,
        "phone": mask_phone(ticket.phone) if ticket.phone else None,
        "caller_name": mask_name(ticket.caller_name) if ticket.caller_name else None,
        "anonymous": bool(ticket.anonymous), "reply_wanted": bool(ticket.reply_wanted),
        "external_id": ticket.external_id,
        "created_at": _iso(ticket.created_at), "updated_at": _iso(ticket.updated_at),
    }


def _allowed(ticket: Ticket) -> dict[str, Any]:
    linked = bool(ticket.duplicate_of)
    open_ = ticket.state not in DONE_STATES
    advance = [] if linked else [s for s in TRANSITIONS.get(ticket.state, ())
                                 if not (s == "dispatched" and (ticket.classification == "pending"
                                                                or not ticket.department))]
    return {"advance": advance, "return": not linked and ticket.state in RETURNABLE,
            "reclassify": not linked and open_, "reassign": not linked and open_ and bool(ticket.level1),
            "reply": not linked, "note": True, "unlink": linked,
            "forward": not linked and ticket.state in ("dispatched", "in_progress") and not ticket.external_id,
            "sync": bool(ticket.external_id)}


# -- reading -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    state: str | None = None          # a state, "open" or "done"
    level1: str | None = None
    department: str | None = None
    overdue: bool | None = None
    pending: bool | None = None       # classification pending = the manual-classification queue
    appeal_type: str | None = None
    q: str | None = None              # number, description or address contains
    urgent: bool | None = None
    duplicates: bool = False          # also tickets linked to another one


def _filtered(query: Select, f: Filters, today: date) -> Select:
    if f.state:
        if f.state == "open":
            query = query.where(Ticket.state.in_(OPEN_STATES))
        elif f.state == "done":
            query = query.where(Ticket.state.in_(DONE_STATES))
        elif f.state in STATES:
            query = query.where(Ticket.state == f.state)
        else:
            raise InvalidInput(f"未知的工单状态：{f.state[:16]}。", field="state")
    if f.level1:
        query = query.where(Ticket.level1 == f.level1)
    if f.department:
        query = query.where(Ticket.department == f.department)
    if f.appeal_type:
        if f.appeal_type not in APPEAL_TYPES:
            raise InvalidInput("诉求类型应为咨询、求助、投诉、举报或建议之一。", field="appeal_type")
        query = query.where(Ticket.appeal_type == f.appeal_type)
    if f.overdue is not None:
        late = (Ticket.due < today) & Ticket.state.not_in(DONE_STATES)
        query = query.where(late if f.overdue else ~late)
    if f.pending is not None:
        query = query.where((Ticket.classification == "pending") if f.pending
                            else (Ticket.classification != "pending"))
    if f.urgent is not None:
        query = query.where(Ticket.urgent.is_(bool(f.urgent)))
    if not f.duplicates:
        query = query.where(Ticket.duplicate_of.is_(None))
    if f.q and f.q.strip():
        words = [w for w in re.split(r"\s+", f.q.strip()[:100]) if w][:5]
        for word in words:
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(Ticket.number.ilike(like, escape="\\"),
                                    Ticket.description.ilike(like, escape="\\"),
                                    Ticket.address.ilike(like, escape="\\")))
    return query


def list_tickets(filters: Filters | None = None, *, page: int = 1, per_page: int = 20, order: str = "due",
                 today: date | None = None) -> dict[str, Any]:
    """One page of tickets: `order` "due" (nearest deadline first, the default), "new" or "old"."""
    f = filters or Filters()
    today = today or today_local()
    page = max(1, int(page))
    per_page = min(MAX_PER_PAGE, max(1, int(per_page)))
    orders = {"due": (Ticket.due, Ticket.id), "new": (Ticket.created_at.desc(), Ticket.id.desc()),
              "old": (Ticket.created_at, Ticket.id)}
    if order not in orders:
        raise InvalidInput("排序方式应为 due、new 或 old。", field="order")
    with session_scope() as session:
        total = session.scalar(_filtered(select(func.count()).select_from(Ticket), f, today)) or 0
        rows = list(session.scalars(_filtered(select(Ticket), f, today).order_by(*orders[order])
                                    .offset((page - 1) * per_page).limit(per_page)))
        counts = callers_counts(session, [t.id for t in rows])
        originals = _numbers(session, {t.duplicate_of for t in rows})
        items = [_summary(t, today, counts[t.id], originals.get(t.duplicate_of)) for t in rows]
        return {"tickets": items, "total": int(total), "page": page, "per_page": per_page,
                "pages": max(1, -(-int(total) // per_page)), "today": today.isoformat()}


def manual_queue(*, page: int = 1, per_page: int = 20, today: date | None = None) -> dict[str, Any]:
    """The manual-classification queue: open tickets the classifier was unsure of, and returned ones; oldest first."""
    return list_tickets(Filters(state="open", pending=True), page=page, per_page=per_page, order="old", today=today)


def counts(*, today: date | None = None) -> dict[str, int]:
    """Figures for the desk's header: per state, pending classification, overdue (linked tickets not counted)."""
    today = today or today_local()
    with session_scope() as session:
        base = select(Ticket.state, func.count()).where(Ticket.duplicate_of.is_(None)).group_by(Ticket.state)
        out = {state: 0 for state in STATES}
        out.update({state: int(n) for state, n in session.execute(base).all()})
        out["pending"] = int(session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.duplicate_of.is_(None), Ticket.classification == "pending", Ticket.state.in_(OPEN_STATES))) or 0)
        out["overdue"] = int(session.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.duplicate_of.is_(None), Ticket.due < today, Ticket.state.not_in(DONE_STATES))) or 0)
        return out


def _event_view(event: TicketEvent, names: dict[int, str]) -> dict[str, Any]:
    return {"id": event.id, "kind": event.kind, "kind_label": EVENT_LABELS.get(event.kind, event.kind),
            "state": event.state, "state_label": STATES.get(event.state or "", ""), "text": event.text,
            "public": bool(event.public), "data": event.data or {}, "actor": event.actor,
            "staff_name": names.get(event.staff_id) if event.staff_id else None, "at": _iso(event.created_at)}


def _staff_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    rows = session.execute(select(StaffAccount.id, StaffAccount.display_name, StaffAccount.username)
                           .where(StaffAccount.id.in_(wanted))).all()
    return {i: display or username for i, display, username in rows}


def _full_view(session: Session, ticket: Ticket, today: date) -> dict[str, Any]:
    original = session.get(Ticket, ticket.duplicate_of) if ticket.duplicate_of else None
    view = _summary(ticket, today, callers_counts(session, [ticket.id])[ticket.id],
                    original.number if original else None)
    events = list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                  .order_by(TicketEvent.id)))
    names = _staff_names(session, {e.staff_id for e in events})
    linked = list(session.execute(select(Ticket.number, Ticket.created_at, Ticket.channel)
                                  .where(Ticket.duplicate_of == ticket.id).order_by(Ticket.id)).all())
    returned_by = [e.data.get("department") for e in events if e.kind == "return" and (e.data or {}).get("department")]
    view.update(description=ticket.description, occurred=ticket.occurred, place_key=ticket.place_key,
                events=[_event_view(e, names) for e in events],
                linked=[{"number": n, "created_at": _iso(at), "channel": ch} for n, at, ch in linked],
                original=({"number": original.number, "state": original.state,
                           "state_label": STATES.get(original.state, original.state),
                           "department": original.department} if original else None),
                returned_by=returned_by, can=_allowed(ticket))
    return view


def ticket_view(number: str, *, today: date | None = None) -> dict[str, Any]:
    """One ticket for staff: all its events (internal notes too), linked tickets, what may be done now."""
    with session_scope() as session:
        return _full_view(session, _get(session, number), today or today_local())


def options() -> dict[str, Any]:
    """What the desk's pickers offer: the taxonomy tree, the departments of the routing table, states."""
    taxonomy = load_taxonomy()
    tree = {l1: {l2: taxonomy.level3s(l1, l2) for l2 in taxonomy.level2s(l1)} for l1 in taxonomy.level1s}
    try:
        departments, routing_error = list(load_routing().departments), None
    except RoutingError as exc:
        departments, routing_error = [], str(exc)[:300]
    return {"taxonomy": tree, "departments": departments, "routing_error": routing_error,
            "states": [{"state": s, "label": STATES[s]} for s in STATES], "transitions": TRANSITIONS,
            "appeal_types": list(APPEAL_TYPES), "reveal_fields": list(REVEALABLE_FIELDS),
            "hot_days": get_settings().ticket_hot_days}


# -- writing -------------------------------------------------------------------------------------------------------
def reveal(number: str, staff: Any, field: str, reason: str) -> str:
    """The unmasked phone number or name; needs a reason and writes `ticket.reveal` to the staff audit log."""
    if field not in REVEALABLE_FIELDS:
        raise InvalidInput(f"不能查看该字段：{str(field)[:32]}。", field="field")
    reason = _text(reason, "reason", label="查看原因", limit=200, minimum=2)
    with session_scope() as session:
        ticket = _get(session, number)
        value = getattr(ticket, field)
        if not value:
            raise InvalidInput("该工单没有登记这一信息（匿名或未留）。", field="field")
        audit(session, _staff_id(staff), "ticket.reveal", "ticket", ticket.number, field=field, reason=reason)
        log.info("ticket reveal number=%s field=%s by=%s", ticket.number, field, _actor(staff))
        return value


def _change_department(session: Session, ticket: Ticket, department: str, staff: Any, *, kind: str,
                       text: str, **data: Any) -> None:
    """Set the department; a ticket with a department already at work goes to the new one (改派, public)."""
    old = ticket.department
    ticket.department = department
    public = False
    if old and old != department and ticket.state in ("dispatched", "in_progress"):
        if ticket.state == "in_progress":
            _set_state(session, ticket, "in_progress", "dispatched")
        text += f"；已改派至{department}"
        public = True
    add_event(session, ticket, kind, text, public=public, staff_id=_staff_id(staff), actor=_actor(staff),
              department_from=old, department_to=department, **data)


def reclassify(number: str, staff: Any, level1: str, level2: str, level3: str, *, department: str | None = None,
               today: date | None = None) -> dict[str, Any]:
    """Staff set the category (classification "manual"); the department comes from routing unless given.

    A returned ticket whose new category routes back to a department that returned it must name another one.
    """
    level1, level2, level3 = (str(v or "").strip() for v in (level1, level2, level3))
    taxonomy = load_taxonomy()
    if not taxonomy.contains(level1):
        raise InvalidInput("请选择一级分类。", field="level1")
    if not taxonomy.contains(level1, level2):
        raise InvalidInput("二级分类不属于所选一级分类。", field="level2")
    if not taxonomy.contains(level1, level2, level3):
        raise InvalidInput("三级分类不属于所选二级分类。", field="level3")
    chosen = _check_department(department) if department else None
    routed = ""
    if chosen is None:
        try:
            routed = load_routing().department(level1, level2, level3)
        except (RoutingError, KeyError) as exc:
            raise InvalidInput("派单表中没有该分类的承办单位，请手动选择承办单位。", field="department") from exc
    with session_scope() as session:
        ticket = _get(session, number)
        _not_linked(session, ticket)
        if ticket.state in DONE_STATES:
            raise InvalidTransition("已办结的工单不能重新分类。", state=ticket.state)
        new_department = chosen or routed
        if chosen is None and ticket.state == "returned":
            if new_department in _returned_by(session, ticket):
                raise InvalidInput(f"该分类对应的承办单位（{new_department}）已退回此工单，请另选承办单位。",
                                   field="department", department=new_department)
        before = {"level1": ticket.level1, "level2": ticket.level2, "level3": ticket.level3,
                  "classification": ticket.classification}
        ticket.level1, ticket.level2, ticket.level3 = level1, level2, level3
        ticket.classification = "manual"
        text = f"重新分类：{level1}/{level2}/{level3}，承办单位：{new_department}"
        _change_department(session, ticket, new_department, staff, kind="reclassify", text=text,
                           before=before, routed=chosen is None)
        audit(session, _staff_id(staff), "ticket.reclassify", "ticket", ticket.number, level1=level1,
              level2=level2, level3=level3, department=new_department, before=before)
        return _full_view(session, ticket, today or today_local())


def _returned_by(session: Session, ticket: Ticket) -> set[str]:
    """The departments that have returned this ticket."""
    return {(data or {}).get("department") for data in session.scalars(
        select(TicketEvent.data).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "return"))}


def reassign(number: str, staff: Any, department: str, *, note: str = "", today: date | None = None) -> dict[str, Any]:
    """Another 承办单位 for a classified ticket (a returned one leaves the manual queue with it)."""
    department = _check_department(department)
    note = note.strip()[:MAX_REASON] if isinstance(note, str) else ""
    with session_scope() as session:
        ticket = _get(session, number)
        _not_linked(session, ticket)
        if ticket.state in DONE_STATES:
            raise InvalidTransition("已办结的工单不能改派。", state=ticket.state)
        if not ticket.level1:
            raise InvalidInput("请先为工单分类，再选择承办单位。", field="level1")
        if department == ticket.department and ticket.classification != "pending":
            raise InvalidInput(f"工单已由{department}承办。", field="department")
        if not note and department in _returned_by(session, ticket):  # sent back where it was refused: say why
            raise InvalidInput(f"{department}已退回此工单。如协调后仍由其承办，请在备注中写明理由；否则请另选承办单位。",
                               field="note", department=department)
        ticket.classification = "manual"
        old = ticket.department
        text = f"改派：{old or '（无）'} → {department}" + (f"（{mask_text(note)}）" if note else "")
        _change_department(session, ticket, department, staff, kind="reassign", text=text, note=mask_text(note))
        audit(session, _staff_id(staff), "ticket.reassign", "ticket", ticket.number, department=department,
              department_from=old, note=note)
        return _full_view(session, ticket, today or today_local())


def reply(number: str, staff: Any, text: str, *, today: date | None = None) -> dict[str, Any]:
    """A reply to the caller: a public event shown in their progress check (stored masked)."""
    text = _text(text, "text", label="答复内容")
    with session_scope() as session:
        ticket = _get(session, number)
        _not_linked(session, ticket)
        add_event(session, ticket, "reply", text, public=True, staff_id=_staff_id(staff), actor=_actor(staff))
        audit(session, _staff_id(staff), "ticket.reply", "ticket", ticket.number, chars=len(text))
        return _full_view(session, ticket, today or today_local())


def note(number: str, staff: Any, text: str, *, today: date | None = None) -> dict[str, Any]:
    """An internal note: staff only, never in the caller's progress check."""
    text = _text(text, "text", label="备注内容")
    with session_scope() as session:
        ticket = _get(session, number)
        add_event(session, ticket, "note", text, public=False, staff_id=_staff_id(staff), actor=_actor(staff))
        audit(session, _staff_id(staff), "ticket.note", "ticket", ticket.number, chars=len(text))
        return _full_view(session, ticket, today or today_local())


def _advance(session: Session, ticket: Ticket, state: str, staff: Any, note_text: str) -> None:
    if state not in STATES:
        raise InvalidInput(f"未知的工单状态：{str(state)[:16]}。", field="state")
    _not_linked(session, ticket)
    allowed = TRANSITIONS.get(ticket.state, ())
    current = STATES.get(ticket.state, ticket.state)
    if state not in allowed:
        if state == "returned":
            raise InvalidTransition("退回请使用“退回”操作并填写退回原因。", state=ticket.state, allowed=list(allowed))
        nxt = "、".join(STATES[s] for s in allowed) or "无（流程已结束）"
        raise InvalidTransition(f"工单当前为“{current}”，不能直接变为“{STATES[state]}”；下一步可以是：{nxt}。",
                                state=ticket.state, allowed=list(allowed))
    if state == "dispatched":
        if ticket.classification == "pending" or not ticket.level1:
            raise InvalidTransition("工单尚未分类，请先人工分类再派单。", state=ticket.state, allowed=list(allowed))
        if not ticket.department:
            raise InvalidTransition("请先选择承办单位再派单。", state=ticket.state, allowed=list(allowed))
    before = ticket.state
    _set_state(session, ticket, before, state)
    add_event(session, ticket, "state", STATE_TEXT[state].format(department=ticket.department or "承办单位"),
              public=True, staff_id=_staff_id(staff), actor=_actor(staff), state_from=before)
    if note_text:
        add_event(session, ticket, "note", note_text, public=False, staff_id=_staff_id(staff), actor=_actor(staff))
    audit(session, _staff_id(staff), "ticket.advance", "ticket", ticket.number, state_from=before, state=state,
          note=note_text)


def advance(number: str, staff: Any, state: str, *, note: str = "", today: date | None = None,
            forward: bool | None = None) -> dict[str, Any]:
    """Move a ticket one step along its life cycle (TRANSITIONS); anything else is InvalidTransition.

    Dispatching forwards the ticket to the 工单 platform when one is configured (`forward` None) or asked
    (`forward` True); if the platform fails the ticket is still dispatched here and the view's `platform`
    says what went wrong (retry with `forward_ticket`).
    """
    note_text = note.strip()[:MAX_REASON] if isinstance(note, str) else ""
    with session_scope() as session:
        ticket = _get(session, number)
        _advance(session, ticket, state, staff, note_text)
    platform = None
    if state == "dispatched" and (forward if forward is not None else bool(get_settings().ticket_platform_url)):
        try:
            platform = {"ok": True, "external_id": forward_ticket(number, staff)["external_id"]}
        except DeskError as exc:
            platform = {"ok": False, "code": exc.code, "message": exc.message}
    view = ticket_view(number, today=today)
    if platform is not None:
        view["platform"] = platform
    return view


def return_ticket(number: str, staff: Any, reason: str, *, department: str | None = None,
                  today: date | None = None) -> dict[str, Any]:
    """A department rejects the ticket as not theirs (退回): state returned, back to manual classification."""
    reason = _text(reason, "reason", label="退回原因", limit=MAX_REASON, minimum=2)
    with session_scope() as session:
        ticket = _get(session, number)
        _not_linked(session, ticket)
        if ticket.state not in RETURNABLE:
            raise InvalidTransition(f"只有已派单或办理中的工单可以退回（当前为“{STATES.get(ticket.state)}”）。",
                                    state=ticket.state, allowed=[])
        by = (department.strip()[:64] if isinstance(department, str) and department.strip() else "") \
            or ticket.department
        before = ticket.state
        _set_state(session, ticket, before, "returned")
        ticket.classification = "pending"
        ticket.department = ""
        add_event(session, ticket, "return", "承办单位退回，工单正在重新确定承办单位。", public=True,
                  staff_id=_staff_id(staff), actor=_actor(staff), department=by, reason=mask_text(reason),
                  state_from=before)
        audit(session, _staff_id(staff), "ticket.return", "ticket", ticket.number, department=by, reason=reason)
        return _full_view(session, ticket, today or today_local())


def unlink(number: str, staff: Any, reason: str, *, today: date | None = None) -> dict[str, Any]:
    """A ticket linked to another by mistake (not the same problem) becomes a ticket of its own."""
    reason = _text(reason, "reason", label="取消合并的原因", limit=MAX_REASON, minimum=2)
    with session_scope() as session:
        ticket = _get(session, number)
        if not ticket.duplicate_of:
            raise InvalidTransition("该工单没有并入其他工单。", state=ticket.state)
        original = session.get(Ticket, ticket.duplicate_of)
        ticket.duplicate_of = None
        add_event(session, ticket, "unlink", f"已取消与工单{original.number if original else ''}的合并，单独办理。",
                  public=True, staff_id=_staff_id(staff), actor=_actor(staff), reason=mask_text(reason),
                  original=original.number if original else None)
        if original is not None:
            add_event(session, original, "unlink", f"工单{ticket.number}不是同一问题，已取消合并。",
                      staff_id=_staff_id(staff), actor=_actor(staff), linked=ticket.number)
        audit(session, _staff_id(staff), "ticket.unlink", "ticket", ticket.number,
              original=original.number if original else None, reason=reason)
        return _full_view(session, ticket, today or today_local())


# -- hot issues ----------------------------------------------------------------------------------------------------
def _hot_edge(a: Ticket, b: Ticket, alike: float) -> bool:
    if a.duplicate_of == b.id or b.duplicate_of == a.id:
        return True
    if same_place(a.place_key, b.place_key) and tickets.same_problem(alike, a.level2, a.level3, b):
        return True                                # the rule of duplicate detection (core/tickets/service.py)
    if a.level3 and a.level1 == b.level1 and a.level2 == b.level2 and a.level3 == b.level3:
        return alike >= HOT_TEXT_SAME_LEVEL3
    return alike >= HOT_TEXT_ALIKE


@lru_cache(maxsize=20000)
def _grams(text: str) -> frozenset[str]:
    """The pairs places.likeness compares (without place and time), cached: descriptions never change once filed."""
    return frozenset(problem_pairs(text))


def hot_issues(*, days: int | None = None, limit: int = 10, min_size: int = 2,
               now: datetime | None = None) -> dict[str, Any]:
    """Clusters of similar tickets filed in the last `days` (TICKET_HOT_DAYS), biggest first.

    Leader clustering in filing order: the first report of a problem starts a cluster, and a later ticket joins
    the cluster whose first report it matches best: it is linked to a member (duplicate_of), or it is at the same
    place and about the same problem (as duplicate detection decides), or its description is much alike (a
    problem many callers report from different places, e.g. heating across a district). Comparing with the
    first report only, not with every member, keeps unrelated problems from chaining together. Candidates come
    from shared character pairs, so the work grows with the tickets of the window, not with its square.
    """
    days = max(1, min(90, int(days or get_settings().ticket_hot_days)))
    limit = max(1, min(50, int(limit)))
    min_size = max(2, int(min_size))
    now = now or utcnow()
    since = now - timedelta(days=days)
    with session_scope() as session:
        rows = list(session.scalars(select(Ticket).where(Ticket.created_at >= since)
                                    .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(HOT_MAX_TICKETS)))
        rows.reverse()                                    # oldest first: the first report leads its cluster
        cluster_of: dict[int, int] = {}                   # ticket id -> index of its cluster's lead in `rows`
        members: dict[int, list[Ticket]] = defaultdict(list)
        grams = [_grams(t.description) for t in rows]
        postings: dict[str, list[int]] = defaultdict(list)   # bigram -> leads having it
        for i, ticket in enumerate(rows):
            lead = cluster_of.get(ticket.duplicate_of) if ticket.duplicate_of else None
            if lead is None:
                shared: Counter[int] = Counter()
                for gram in grams[i]:
                    for j in postings.get(gram, ()):
                        shared[j] += 1
                best = 0.0
                for j, common in shared.items():
                    alike = common / (min(len(grams[i]), len(grams[j])) or 1)
                    if alike > best and _hot_edge(ticket, rows[j], alike):
                        lead, best = j, alike
            if lead is None:                              # a problem not seen before in the window
                lead = i
                for gram in grams[i]:
                    postings[gram].append(i)
            cluster_of[ticket.id] = lead
            members[lead].append(ticket)
        clusters = [group for group in members.values() if len(group) >= min_size]
        clusters.sort(key=lambda m: (-len(m), -max(aware(t.created_at).timestamp() for t in m)))
        out = [_cluster_view(group, now) for group in clusters[:limit]]
        return {"days": days, "since": _iso(since), "tickets_seen": len(rows), "clusters": out}


def _most_common(values: list[str]) -> str:
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else ""


def _cluster_view(members: list[Ticket], now: datetime) -> dict[str, Any]:
    members = sorted(members, key=lambda t: t.id)
    first = members[0]
    lead = next((t for t in members if not t.duplicate_of and t.state in OPEN_STATES), first)
    states = Counter(STATES.get(t.state, t.state) for t in members)
    return {
        "size": len(members), "callers": len(members),
        "open": sum(1 for t in members if t.state in OPEN_STATES),
        "title": lead.description if len(lead.description) <= 60 else lead.description[:59] + "…",
        "lead": lead.number, "place": _most_common([t.address for t in members]),
        "level1": _most_common([t.level1 for t in members]), "level2": _most_common([t.level2 for t in members]),
        "departments": sorted({t.department for t in members if t.department}),
        "states": dict(states), "first_at": _iso(first.created_at),
        "last_at": _iso(max((t.created_at for t in members), key=lambda v: aware(v))),
        "tickets": [t.number for t in members][:30],
    }


# -- the outside 12345 工单 platform -----------------------------------------------------------------------------
def _platform():
    from core.tickets.platforms import get_platform

    platform = get_platform()
    if platform is None:
        raise PlatformNotConfigured("未配置外部工单平台（TICKET_PLATFORM_URL）。")
    return platform


def _platform_payload(ticket: Ticket) -> dict[str, Any]:
    return {"number": ticket.number, "appeal_type": ticket.appeal_type, "description": ticket.description,
            "address": ticket.address, "occurred": ticket.occurred, "level1": ticket.level1,
            "level2": ticket.level2, "level3": ticket.level3, "department": ticket.department,
            "due": ticket.due.isoformat(), "urgent": bool(ticket.urgent), "reply_wanted": bool(ticket.reply_wanted),
            "channel": ticket.channel, "created_at": _iso(ticket.created_at),
            "caller": None if ticket.anonymous else {"name": ticket.caller_name,
                                                     "phone": ticket.phone if ticket.reply_wanted else None}}


def _platform_failure(number: str, staff: Any, action: str, exc: Exception) -> None:
    """Record the failure on the ticket (staff see it); the ticket's own state is unchanged."""
    message = getattr(exc, "message", str(exc))[:300]
    with session_scope() as session:
        ticket = _get(session, number)
        add_event(session, ticket, "platform_error", f"工单平台{('转办' if action == 'forward' else '同步')}失败：{message}",
                  staff_id=_staff_id(staff), actor=_actor(staff), action=action)
        audit(session, _staff_id(staff), f"ticket.{action}", "ticket", ticket.number, ok=False, error=message)


def forward_ticket(number: str, staff: Any) -> dict[str, Any]:
    """Send a dispatched ticket to the 工单 platform; idempotent (the platform dedupes by our number)."""
    from core.tickets.platforms import PlatformError

    platform = _platform()
    with session_scope() as session:
        ticket = _get(session, number)
        _not_linked(session, ticket)
        if ticket.external_id:
            return {"number": ticket.number, "external_id": ticket.external_id, "created": False}
        if ticket.state not in ("dispatched", "in_progress"):
            raise InvalidTransition("只有已派单的工单可以转到工单平台。", state=ticket.state)
        payload = _platform_payload(ticket)
    try:
        external_id = platform.forward(payload)       # outside any transaction: the platform may be slow
    except PlatformError as exc:
        _platform_failure(number, staff, "forward", exc)
        raise PlatformFailed(exc.message, retryable=exc.retryable) from exc
    with session_scope() as session:
        ticket = _get(session, number)
        ticket.external_id = external_id[:64]
        add_event(session, ticket, "forwarded", f"已转至{platform.name}（编号{external_id[:64]}）",
                  staff_id=_staff_id(staff), actor=_actor(staff), external_id=external_id[:64])
        audit(session, _staff_id(staff), "ticket.forward", "ticket", ticket.number, ok=True,
              external_id=external_id[:64])
    log.info("ticket forwarded number=%s external_id=%s", number, external_id)
    return {"number": number, "external_id": external_id, "created": True}


def sync_ticket(number: str, staff: Any = None, *, today: date | None = None) -> dict[str, Any]:
    """Pull state and replies of a forwarded ticket from the platform and apply what is new here.

    A later state of the life cycle is taken over (the platform may skip steps, e.g. dispatched -> resolved);
    `returned` is taken over as a return with the platform's reason; an earlier or unknown state is ignored.
    Replies the platform marks public become replies to the caller, each once.
    """
    from core.tickets.platforms import PlatformError

    platform = _platform()
    with session_scope() as session:
        ticket = _get(session, number)
        if not ticket.external_id:
            raise InvalidTransition("该工单还没有转到工单平台。", state=ticket.state)
        external_id = ticket.external_id
    try:
        remote = platform.fetch(external_id)
    except PlatformError as exc:
        _platform_failure(number, staff, "sync", exc)
        raise PlatformFailed(exc.message, retryable=exc.retryable) from exc
    applied: list[str] = []
    with session_scope() as session:
        ticket = _get(session, number)
        seen = {str((d or {}).get("platform_reply_id")) for d in session.scalars(
            select(TicketEvent.data).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "reply"))}
        for item in remote.replies:
            if item.id in seen or not item.text.strip():
                continue
            add_event(session, ticket, "reply", item.text[:MAX_TEXT], public=item.public, staff_id=_staff_id(staff),
                      actor=f"platform:{platform.name}"[:64], platform_reply_id=item.id,
                      department=item.department or ticket.department)
            applied.append(f"reply:{item.id}")
        state = remote.state
        if state == "returned" and ticket.state in RETURNABLE:
            before = ticket.state
            _set_state(session, ticket, before, "returned")
            by = remote.department or ticket.department
            ticket.classification, ticket.department = "pending", ""
            add_event(session, ticket, "return", "承办单位退回，工单正在重新确定承办单位。", public=True,
                      staff_id=_staff_id(staff), actor=f"platform:{platform.name}"[:64], department=by,
                      reason=mask_text(remote.reason or "（工单平台未说明原因）"), state_from=before)
            ticket.external_id = None          # a re-dispatched ticket is forwarded anew
            applied.append("state:returned")
        elif state in FLOW and ticket.state in FLOW and FLOW.index(state) > FLOW.index(ticket.state):
            before = ticket.state
            _set_state(session, ticket, before, state)
            add_event(session, ticket, "state", STATE_TEXT[state].format(department=ticket.department or "承办单位"),
                      public=True, staff_id=_staff_id(staff), actor=f"platform:{platform.name}"[:64],
                      state_from=before)
            applied.append(f"state:{state}")
        if applied:
            add_event(session, ticket, "platform_sync", f"已从{platform.name}同步：{len(applied)}项更新",
                      staff_id=_staff_id(staff), actor=_actor(staff), applied=applied)
            audit(session, _staff_id(staff), "ticket.sync", "ticket", ticket.number, ok=True, applied=applied)
        view = _full_view(session, ticket, today or today_local())
    view["sync"] = {"applied": applied, "remote_state": remote.state}
    return view


def sync_open_tickets(staff: Any = None) -> dict[str, int]:
    """Sync every open forwarded ticket (for a periodic job); a platform outage stops at the first failure."""
    with session_scope() as session:
        numbers = list(session.scalars(select(Ticket.number).where(Ticket.external_id.is_not(None),
                                                                    Ticket.state.in_(("dispatched", "in_progress",
                                                                                      "resolved")))))
    done = changed = 0
    for number in numbers:
        result = sync_ticket(number, staff)
        done += 1
        changed += bool(result["sync"]["applied"])
    return {"checked": done, "changed": changed}
