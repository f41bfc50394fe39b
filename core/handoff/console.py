"""What the agent console and the supervisor overview read and do beyond the life cycle in service.py.

    brief(summary, reason, priority_reasons)  the caller's situation in lines an agent reads in ten seconds
    board(staff)                              queue, call-backs and the agent's own conversations
    conversation(id, viewer)                  transcript + brief + what the viewer may do (`can`)
    guide_card(guide, items, situation)       the same guide_answer (一次告知) the assistant gives
    send_guide(id, staff, guide, ...)         that card sent by the agent holding the conversation
    agent_typing(id, staff, on)               the "agent is typing" event (holder only)
    watch_target(id, viewer)                  the sender whose topics a console may follow live
    colleagues(staff)                         agents on duty with their load (for transfers)
    overview(staff)                           the supervisor's view: live conversations, waits, agents and load

Like service.py: synchronous, no HTTP, nothing from connectors/ or actions/; changes return an Outcome.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from core.db import session_scope
from core.handoff.errors import InvalidInput, InvalidState, NotAllowed, NotHolder
from core.handoff.notify import Outcome
from core.handoff.service import (
    CALLBACK,
    CLOSED,
    CONNECTED,
    QUEUED,
    RETURNED,
    WRAP_UP_CODES,
    _agent_account,
    _conversation_view,
    _get,
    _held,
    _is_supervisor,
    _iso,
    _may_read,
    _names,
    _now,
    _on_duty_ids,
    _public_name,
    _seconds,
    add_message,
    held_by,
    transcript,
    typing_event,
)
from core.models import AgentPresence, HandoffConversation, StaffAccount
from core.settings import get_settings
from core.staff.roles import has_role
from core.validators import TZ   # Asia/Shanghai: "today" for the supervisor

log = logging.getLogger("hotline.handoff")

REASON_LABELS = {
    "caller_request": "市民要求转人工",
    "repeated_fallback": "智能助手多次未能理解",
    "form_failures": "填表多次出错",
    "voice": "语音来电转人工",
}
PRIORITY_LABELS = {"special_group": "帮办代办", "large_text": "长辈模式", "repeated_failures": "多次受挫"}
STATE_LABELS = {QUEUED: "排队中", CONNECTED: "人工接待中", RETURNED: "已交还智能助手", CLOSED: "已结束",
                CALLBACK: "待回拨"}
FORM_STATES = {"filling": "填写中", "confirmed": "已确认待提交", "submitted": "已提交", "paused": "已暂停"}
MAX_BRIEF_ITEMS = 10
MAX_BRIEF_CHARS = 200


# -- the summary in ten seconds --------------------------------------------------------------------------------
def _text(value: Any, limit: int = MAX_BRIEF_CHARS) -> str:
    if value is None or isinstance(value, (dict, list, tuple, bool)):
        return ""
    return str(value).strip()[:limit]


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return []
    out = []
    for item in value:
        if isinstance(item, dict):   # {"number": ..., "guide": ...} as well as plain strings
            item = " ".join(t for t in (_text(item.get("number")), _text(item.get("guide")),
                                        _text(item.get("status"))) if t)
        text = _text(item)
        if text and text not in out:
            out.append(text)
    return out[:MAX_BRIEF_ITEMS]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float) and value.is_integer():
        return max(0, int(value))
    return None


def _guide(name: str):
    """The published guide, or None (a renamed guide, or the catalogue unreadable: the brief still works)."""
    if not name:
        return None
    try:
        from knowledge.catalog import get_catalog

        return get_catalog().get(name)
    except Exception:  # noqa: BLE001 - labels are a nicety; the raw values are shown instead
        log.debug("guide %s not readable for the brief", name, exc_info=True)
        return None


def _situation(value: Any, guide) -> list[dict[str, str]]:
    """[{"id", "value", "question", "label"}]: the guide's question and option label where known."""
    if not isinstance(value, dict):
        return []
    out = []
    for sid, chosen in list(value.items())[:MAX_BRIEF_ITEMS]:
        sid, chosen = _text(sid, 50), _text(chosen, 100)
        known = next((s for s in guide.situations if s.id == sid), None) if guide else None
        label = next((o.label for o in known.options if o.value == chosen), chosen) if known else chosen
        out.append({"id": sid, "value": chosen, "question": known.question if known else sid, "label": label})
    return out


def _form(value: Any, guide_name: str, items: list[str]) -> dict[str, Any] | None:
    """{"guide", "filled", "total", "total_estimated", "field", "field_label", "state", "state_label"}."""
    if not isinstance(value, dict):
        return None
    name = _text(value.get("guide") or value.get("form")) or guide_name
    filled = _int(value.get("filled", value.get("done")))
    total = _int(value.get("total"))
    field = _text(value.get("field") or value.get("current"), 64)
    state = _text(value.get("state"), 32)
    if not name and filled is None and total is None:
        return None
    field_label, estimated = field, False
    guide = _guide(name)
    if guide is not None and guide.form:
        try:
            from core.application_forms import form_for

            form = form_for(guide, [i for i in items if i in {c.name for c in guide.items}])
        except Exception:  # noqa: BLE001 - as above
            form = None
        if form is not None:
            spec = form.get(field) if field else None
            field_label = spec.label if spec else field
            if total is None:   # the merged form's fields; some apply only after certain answers
                total, estimated = len(form.fields), True
    return {"guide": name, "filled": filled or 0, "total": total, "total_estimated": estimated, "field": field,
            "field_label": field_label, "state": state, "state_label": FORM_STATES.get(state, state)}


def brief(summary: dict | None, reason: str | None = None,
          priority_reasons: list[str] | None = None) -> dict[str, Any]:
    """The conversation's summary (built by the dialogue, already masked) in one predictable shape.

    Reads {"asked": [str] or str, "guide", "items", "situation": {id: value}, "form": {"guide", "filled",
    "total"?, "field"?, "state"?}, "applications": [str], "reason"} (actions/handoff.py) and tolerates
    anything missing or oddly typed. Situation ids, form field names and reason codes become the guide's
    Chinese labels. `lines` says the same in Chinese, one fact per line, in the order an agent needs them.
    """
    summary = summary if isinstance(summary, dict) else {}
    asked = _texts(summary.get("asked") or summary.get("question"))
    guide_name = _text(summary.get("guide"))
    guide = _guide(guide_name)
    items = _texts(summary.get("items"))
    situation = _situation(summary.get("situation"), guide)
    form = _form(summary.get("form"), guide_name, items)
    applications = _texts(summary.get("applications") or summary.get("application"))
    why_code = _text(summary.get("reason")) or _text(reason)
    why = REASON_LABELS.get(why_code, why_code)
    flags = [PRIORITY_LABELS.get(r, r) for r in (priority_reasons or []) if isinstance(r, str)]
    lines = []
    if asked:
        lines.append("市民诉求：" + " / ".join(asked))
    if guide_name:
        lines.append(f"关注指南：{guide_name}" + (f"（{'、'.join(items)}）" if items else ""))
    elif items:
        lines.append("关注事项：" + "、".join(items))
    if situation:
        lines.append("办理情形：" + "；".join(s["label"] for s in situation))
    if form:
        count = f"已填{form['filled']}项"
        if form["total"] is not None:
            count += f"（共{'约' if form['total_estimated'] else ''}{form['total']}项）"
        extra = [x for x in (form["state_label"], f"正在填写“{form['field_label']}”" if form["field_label"] else "")
                 if x]
        lines.append(f"一表申请：{form['guide'] or '（未知）'}，{count}" + ("，" + "，".join(extra) if extra else ""))
    if applications:
        lines.append("办件编号：" + "、".join(applications))
    if why:
        lines.append(f"转人工原因：{why}")
    if flags:
        lines.append("优先：" + "、".join(flags))
    return {"asked": asked, "guide": guide_name, "items": items, "situation": situation, "form": form,
            "applications": applications, "reason": why, "reason_code": why_code, "priority": flags,
            "lines": lines}


def with_brief(view: dict[str, Any]) -> dict[str, Any]:
    """A conversation view (service._conversation_view) plus its `brief` and a Chinese `state_label`."""
    view["brief"] = brief(view.get("summary"), view.get("reason"), view.get("priority_reasons"))
    view["state_label"] = STATE_LABELS.get(view.get("state"), view.get("state"))
    return view


# -- what a console shows -------------------------------------------------------------------------------------------
def _views(session, rows, now: datetime) -> list[dict[str, Any]]:
    names = _names(session, {c.agent_id for c in rows})
    return [with_brief(_conversation_view(c, now, names.get(c.agent_id))) for c in rows]


def board(staff: object, *, now: datetime | None = None) -> dict[str, Any]:
    """The agent's console: the queue (with positions), call-backs to make, and what the agent holds."""
    now = _now(now)
    settings = get_settings()
    with session_scope() as session:
        account = _agent_account(session, staff)
        queued = list(session.scalars(
            select(HandoffConversation).where(HandoffConversation.state == QUEUED)
            .order_by(HandoffConversation.priority.desc(), HandoffConversation.queued_at, HandoffConversation.id)))
        calls = list(session.scalars(
            select(HandoffConversation).where(HandoffConversation.state == CALLBACK)
            .order_by(HandoffConversation.priority.desc(), HandoffConversation.queued_at, HandoffConversation.id)))
        mine = list(session.scalars(
            select(HandoffConversation).where(HandoffConversation.agent_id == account.id,
                                              HandoffConversation.state.in_((CONNECTED, CALLBACK)))
            .order_by(HandoffConversation.connected_at, HandoffConversation.id)))
        conversations = _views(session, queued, now)
        for position, item in enumerate(conversations, start=1):
            item.update(position=position, overdue=item["waiting_seconds"] > settings.handoff_max_wait_seconds)
        return {
            "conversations": conversations,
            "callbacks": _views(session, calls, now),
            "mine": _views(session, mine, now),
            "agents_on_duty": len(_on_duty_ids(session, now)),
            "capacity": settings.handoff_max_per_agent,
            "load": sum(1 for c in mine if c.state == CONNECTED),
            "max_wait_seconds": settings.handoff_max_wait_seconds,
            "wrap_up_codes": list(WRAP_UP_CODES),
            "at": _iso(now),
        }


def _permissions(conv: HandoffConversation, account: StaffAccount) -> dict[str, bool]:
    """What the viewer may do now; the functions of service.py check the same rules again when asked."""
    mine = conv.agent_id == account.id
    supervisor = _is_supervisor(account)
    live = conv.state in (QUEUED, CONNECTED, CALLBACK)
    return {
        "claim": (conv.state == QUEUED) or (conv.state == CALLBACK and conv.agent_id is None),
        "reply": mine and conv.state == CONNECTED,
        "note": mine or supervisor,
        "release": (mine or supervisor) and conv.state == CONNECTED,
        "transfer": (mine or supervisor) and conv.state == CONNECTED,
        "close": (mine and conv.state in (CONNECTED, CALLBACK)) or (supervisor and live),
        "reveal": (mine or supervisor) and bool(conv.callback_phone),
        "monitor": supervisor and not mine,
    }


def conversation(conversation_id: int, viewer: object, *, now: datetime | None = None) -> dict[str, Any]:
    """transcript() with the brief and `can`: agents read what waits for anyone and their own; supervisors all."""
    now = _now(now)
    result = transcript(conversation_id, viewer, now=now)
    with session_scope() as session:
        account = _agent_account(session, viewer)
        conv = _get(session, conversation_id)
        can = _permissions(conv, account)
    view = with_brief(result["conversation"])
    holder = view["agent_name"] if view["state"] in (CONNECTED, CALLBACK) else None
    return {"conversation": view, "messages": result["messages"], "summary": view["brief"], "state": view["state"],
            "holder": holder, "can": can}


def watch_target(conversation_id: int, viewer: object) -> str:
    """The sender of a conversation the viewer may follow live (the transcript rule), else NotAllowed."""
    with session_scope() as session:
        account = _agent_account(session, viewer)
        conv = _get(session, conversation_id)
        if not _may_read(account, conv):
            raise NotAllowed("您只能查看排队中的会话和自己接待的会话。")
        return conv.sender


def held_senders(staff: object) -> dict[int, str]:
    """conversation id -> sender of what the staff member holds (the topics their console follows)."""
    return {c["id"]: c["sender"] for c in held_by(staff)}


# -- agent actions ---------------------------------------------------------------------------------------------
def guide_card(guide: str, items: list[str] | None = None, situation: dict[str, str] | None = None) -> dict:
    """compose() of the guide for these items and situation: {"text", "speech", "data"} (data = guide_answer).

    Unknown guide, items or situation options are InvalidInput (an agent picked them from a list, so a
    mismatch means the guide changed meanwhile and the console should search again).
    """
    from knowledge.catalog import get_catalog
    from knowledge.notice import Selection, compose

    found = get_catalog().get(guide) if isinstance(guide, str) else None
    if found is None:
        raise InvalidInput(f"没有找到办事指南：{guide}。", field="guide")
    items = list(items or [])
    known = [i.name for i in found.items]
    unknown = [i for i in items if i not in known]
    if unknown:
        raise InvalidInput(f"{'、'.join(map(str, unknown))}不属于{found.name}。", field="items")
    options = {s.id: {o.value for o in s.options} for s in found.situations}
    picked = {}
    for sid, value in (situation or {}).items():
        if value not in options.get(sid, ()):
            raise InvalidInput(f"办理情形无效：{sid}={value}。", field="situation")
        picked[sid] = value
    return compose(Selection(guide=found, items=items, situation=picked))


def send_guide(conversation_id: int, staff: object, guide: str, items: list[str] | None = None,
               situation: dict[str, str] | None = None, *, now: datetime | None = None) -> Outcome[dict[str, Any]]:
    """The agent sends the one-time notice card (kind guide_answer), exactly what the assistant would send."""
    card = guide_card(guide, items, situation)
    return add_message(conversation_id, "agent", card["text"], staff=staff, kind="guide_answer", data=card["data"],
                       now=now)


def agent_typing(conversation_id: int, staff: object, on: bool) -> Outcome[dict[str, Any]]:
    """The holder is (no longer) typing: a handoff.typing event on the conversation's topic for the caller."""
    with session_scope() as session:
        conv, account = _held(session, conversation_id, staff)
        if conv.agent_id != account.id:
            raise NotHolder("只有接入该会话的坐席可以回复市民。")
        if conv.state != CONNECTED:
            raise InvalidState("该会话已不在人工接待中。", state=conv.state)
        event = typing_event(conv.sender, conv.id, "agent", bool(on), name=_public_name(account))
    return Outcome({"conversation_id": conversation_id, "on": bool(on)}, (event,))


# -- agents and the supervisor ----------------------------------------------------------------------------------
def _loads(session) -> dict[int, list[int]]:
    rows = session.execute(select(HandoffConversation.agent_id, HandoffConversation.id)
                           .where(HandoffConversation.state == CONNECTED,
                                  HandoffConversation.agent_id.is_not(None))
                           .order_by(HandoffConversation.id))
    loads: dict[int, list[int]] = {}
    for agent_id, conv_id in rows:
        loads.setdefault(agent_id, []).append(conv_id)
    return loads


def colleagues(staff: object, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Other agents on duty, with their load, least busy first: the targets of a transfer."""
    now = _now(now)
    limit = get_settings().handoff_max_per_agent
    with session_scope() as session:
        account = _agent_account(session, staff)
        ids = [i for i in _on_duty_ids(session, now) if i != account.id]
        names = _names(session, set(ids))
        loads = _loads(session)
        out = [{"id": i, "name": names.get(i), "load": len(loads.get(i, [])), "capacity": limit,
                "available": len(loads.get(i, [])) < limit} for i in ids]
    return sorted(out, key=lambda a: (a["load"], a["name"] or "", a["id"]))


def overview(staff: object, *, now: datetime | None = None) -> dict[str, Any]:
    """Every live conversation, queue length and waits, agents on duty (or holding something) and their load."""
    now = _now(now)
    settings = get_settings()
    with session_scope() as session:
        account = _agent_account(session, staff)
        if not _is_supervisor(account):
            raise NotAllowed("只有班长可以查看全部会话。")
        rows = list(session.scalars(
            select(HandoffConversation).where(HandoffConversation.state.in_((QUEUED, CONNECTED, CALLBACK)))
            .order_by(HandoffConversation.priority.desc(), HandoffConversation.queued_at, HandoffConversation.id)))
        conversations = _views(session, rows, now)
        for item, conv in zip(conversations, rows):
            item["talking_seconds"] = _seconds(conv.connected_at, now) if conv.state == CONNECTED else 0
        waits = [c["waiting_seconds"] for c in conversations if c["state"] == QUEUED]
        on_duty = set(_on_duty_ids(session, now))
        loads = _loads(session)
        seen = dict(session.execute(select(AgentPresence.staff_id, AgentPresence.last_seen_at)).all())
        agent_ids = on_duty | set(loads)
        accounts = list(session.scalars(select(StaffAccount).where(StaffAccount.id.in_(agent_ids)))) \
            if agent_ids else []
        agents = [{"id": a.id, "username": a.username, "name": _public_name(a), "role": a.role,
                   "on_duty": a.id in on_duty, "last_seen_at": _iso(seen.get(a.id)),
                   "load": len(loads.get(a.id, [])), "capacity": settings.handoff_max_per_agent,
                   "conversation_ids": loads.get(a.id, [])}
                  for a in accounts if has_role(a, "agent")]
        agents.sort(key=lambda a: (not a["on_duty"], -a["load"], a["name"] or "", a["id"]))
        since = now.astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
        ended: dict[str, int] = {}
        for state, by_caller, count in session.execute(
                select(HandoffConversation.state, HandoffConversation.ended_by == "caller", func.count())
                .where(HandoffConversation.state.in_((CLOSED, RETURNED)), HandoffConversation.ended_at >= since)
                .group_by(HandoffConversation.state, HandoffConversation.ended_by == "caller")):
            key = "cancelled" if state == CLOSED and by_caller else state  # the caller gave up waiting
            ended[key] = ended.get(key, 0) + count
        return {
            "conversations": conversations,
            "queue": {"length": len(waits), "longest_wait_seconds": max(waits, default=0),
                      "average_wait_seconds": round(sum(waits) / len(waits)) if waits else 0,
                      "overdue": sum(1 for w in waits if w > settings.handoff_max_wait_seconds),
                      "max_wait_seconds": settings.handoff_max_wait_seconds},
            "connected": sum(1 for c in conversations if c["state"] == CONNECTED),
            "callbacks": sum(1 for c in conversations if c["state"] == CALLBACK and c["agent_id"] is None),
            "agents": agents,
            "agents_on_duty": len(on_duty),
            "slots": len(on_duty) * settings.handoff_max_per_agent,
            "ended_today": {"closed": ended.get(CLOSED, 0), "returned": ended.get(RETURNED, 0),
                            "cancelled": ended.get("cancelled", 0), "since": _iso(since)},
            "at": _iso(now),
        }
