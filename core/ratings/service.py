"""Ratings (好差评): invitations, one rating per subject, follow-ups of bad ratings, appeals.

Life cycle of a follow-up (回访, table rating_followups), opened by every rating of level 1 or 2:

    open ──call_back(findings, 整改, caller's response)──▶ called_back ──close──▶ closed
      │                                                     └─call_back again (another attempt) ─┘
      └── an upheld appeal closes it (outcome appeal_upheld)

`due` is RATING_FOLLOWUP_WORKING_DAYS working days (core/workdays.py) after the rating's local date.
An appeal (申诉复核, table rating_appeals) is filed by a supervisor and decided by another one; upheld, the
rating is kept with status `excluded` (left out of the figures), never deleted.
"""
from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.conversation_events import conversation_key, has_conversation, last_guide, local_day, record
from core.conversation_events import flush as flush_events
from core.db import session_scope
from core.models import (
    Application,
    ConversationEvent,
    HandoffConversation,
    Rating,
    RatingAppeal,
    RatingFollowup,
    RatingInvitation,
    StaffAccount,
    Ticket,
    utcnow,
)
from core.privacy import mask_text
from core.ratings.errors import AlreadyRated, InvalidRating, InvalidState, NotAllowed, NotFound, SubjectNotFound
from core.settings import get_settings
from core.staff.audit import audit
from core.staff.roles import has_role
from core.validators import today_local as today
from core.workdays import add_working_days, working_days_between

log = logging.getLogger("hotline.ratings")

LEVELS: dict[int, str] = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
BAD_LEVELS = (1, 2)                       # 差评: a follow-up is opened
GOOD_LEVELS = (3, 4, 5)                   # 好评 in the national scheme
# keypad keys for a voice line: the best first, as hotlines read them out
KEYPAD = {5: "1", 4: "2", 3: "3", 2: "4", 1: "5"}
TAGS = ("答案不准确", "办事指南不准确", "没听懂我的问题", "等待太久", "服务态度不好", "问题没有解决", "其他")
INACCURACY_TAGS = ("办事指南不准确", "答案不准确")
MAX_COMMENT = 300
MAX_NOTE = 1000
# what ends a service, so the caller is invited to rate it: trigger -> subject
END_TRIGGERS = {"goodbye": "conversation", "handoff_closed": "conversation",
                "application_submitted": "application", "ticket_created": "ticket"}
RATE_PAYLOAD = "/rate"
FOLLOWUP_STATES = ("open", "called_back", "closed")
CALLER_RESPONSES = ("满意", "基本满意", "不满意", "未接通")
APPEAL_REASONS = {"mistake": "误评", "malicious": "恶意差评", "other": "其他"}
APPEAL_STATES = ("pending", "upheld", "rejected")
NUMBER_MAX = 32
FIELD_LABELS = {"findings": "核实情况", "note": "说明", "rectification": "整改情况", "caller_note": "市民意见",
                "comment": "评价内容"}


# -- small helpers ---------------------------------------------------------------------------------------------
def _subject_key(subject: str, sender: str, number: str | None) -> str:
    return f"conversation:{sender}" if subject == "conversation" else f"{subject}:{number}"


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _staff_id(staff: object) -> int | None:
    if isinstance(staff, bool):
        return None
    if isinstance(staff, int):
        return staff
    if isinstance(staff, StaffAccount):
        return staff.id
    return getattr(staff, "staff_id", None)


def _supervisor(session: Session, staff: object) -> StaffAccount:
    staff_id = _staff_id(staff)
    account = session.get(StaffAccount, staff_id) if staff_id is not None else None
    if account is None or account.disabled:
        raise NotAllowed("需要以有效的班长账号登录。")
    if not has_role(account, "supervisor"):
        raise NotAllowed("只有班长（质检）账号可以处理评价回访和申诉。")
    return account


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidRating(f"{FIELD_LABELS.get(field, field)}应为文字。", field=field)
    value = value.strip()
    if required and not value:
        raise InvalidRating(f"请填写{FIELD_LABELS.get(field, field)}。", field=field)
    if len(value) > limit:
        raise InvalidRating(f"{FIELD_LABELS.get(field, field)}过长（最多{limit}个字）。", field=field)
    return mask_text(value)


def check_level(level: Any) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise InvalidRating("评价等级应为1到5的整数（5=非常满意，1=非常不满意）。", field="level")
    return level


def check_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidRating("tags 应为文字列表。", field="tags")
    unknown = [t for t in tags if t not in TAGS]
    if unknown:
        raise InvalidRating(f"不支持的评价标签：{'、'.join(unknown[:3])}。可选：{'、'.join(TAGS)}。", field="tags")
    return list(dict.fromkeys(tags))


def check_number(number: Any) -> str | None:
    if number is None or number == "":
        return None
    if not isinstance(number, str) or not number.strip() or len(number.strip()) > NUMBER_MAX \
            or not number.strip().isalnum():
        raise InvalidRating("办件编号格式不正确。", field="number")
    return number.strip().upper()


# -- attribution -----------------------------------------------------------------------------------------------
def _conversation_attribution(session: Session, sender: str, handoff_id: int | None = None) -> dict[str, Any]:
    """Who served this conversation: the agent of its latest handoff an agent took (or the given one), else
    the assistant; and the guide the assistant last answered from."""
    query = select(HandoffConversation).where(HandoffConversation.sender == sender,
                                              HandoffConversation.agent_id.is_not(None))
    if handoff_id is not None:
        query = query.where(HandoffConversation.id == handoff_id)
    conv = session.scalar(query.order_by(HandoffConversation.id.desc()).limit(1))
    guide = last_guide(session, sender)
    if conv is not None:
        agent = session.get(StaffAccount, conv.agent_id)
        return {"served_by": "agent", "agent_id": conv.agent_id, "handoff_id": conv.id, "guide": guide,
                "agent": (agent.display_name or "人工客服") if agent else "人工客服", "channel": conv.channel}
    return {"served_by": "assistant", "agent_id": None, "handoff_id": None, "guide": guide}


def _subject(session: Session, sender: str, number: str | None) -> tuple[str, dict[str, Any]]:
    """(subject, attribution) of what the caller rates; SubjectNotFound when it is not theirs or unknown."""
    if number is None:
        if not has_conversation(session, sender) and session.scalar(
                select(RatingInvitation.id).where(RatingInvitation.sender == sender).limit(1)) is None:
            raise SubjectNotFound("没有找到这次会话，无法评价。")
        return "conversation", _conversation_attribution(session, sender)
    app = session.scalar(select(Application).where(Application.number == number))
    if app is not None and app.sender == sender:
        return "application", {"served_by": "assistant", "agent_id": None, "handoff_id": None, "guide": app.guide,
                               "application_number": number, "channel": app.channel}
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    if ticket is not None and ticket.sender == sender:
        return "ticket", {"served_by": "assistant", "agent_id": None, "handoff_id": None, "guide": None,
                          "ticket_number": number, "channel": ticket.channel,
                          "category": ticket.level1, "department": ticket.department}
    raise SubjectNotFound("没有找到您的这件办件或工单，无法评价。")


# -- invitations -----------------------------------------------------------------------------------------------
def rating_request_message(subject: str, number: str | None, attribution: dict[str, Any]) -> dict[str, Any]:
    """The `rating_request` bot message ({text, kind, data, buttons}); buttons carry `/rate{...}` payloads so a
    channel that only shows buttons still works, and data carries what a voice line needs (keypad keys)."""
    if subject == "application":
        text = f"您的申请（编号{number}）已提交。欢迎您对本次服务进行评价（自愿，不评价不影响办理）："
    elif subject == "ticket":
        text = f"您的诉求已登记（工单编号{number}）。欢迎您对本次服务进行评价（自愿）："
    elif attribution.get("served_by") == "agent":
        text = f"本次人工服务已结束。欢迎您对{attribution.get('agent') or '人工客服'}的服务进行评价（自愿）："
    else:
        text = "感谢您的咨询。欢迎您对本次服务进行评价（自愿）："
    base = {"number": number} if number else {}
    levels = [{"level": level, "label": label, "key": KEYPAD[level]} for level, label in LEVELS.items()]
    speech = "请您对本次服务进行评价：" + "，".join(f"{o['label']}请按{o['key']}" for o in levels) + "。"
    data = {"subject": subject, "number": number, "served_by": attribution.get("served_by", "assistant"),
            "agent": attribution.get("agent"), "guide": attribution.get("guide"),
            "levels": levels, "tags": list(TAGS), "comment_max": MAX_COMMENT, "post": "/api/ratings",
            "payload": RATE_PAYLOAD, "speech": speech, "optional": True}
    buttons = [{"title": o["label"], "payload": RATE_PAYLOAD + json.dumps({**base, "level": o["level"]},
                                                                          ensure_ascii=False)} for o in levels]
    return {"kind": "rating_request", "text": text, "data": data, "buttons": buttons}


def invite(sender: str, channel: str, trigger: str, *, number: str | None = None, handoff_id: int | None = None,
           now: datetime | None = None) -> dict[str, Any] | None:
    """The `rating_request` message for a service that just ended, or None when the caller was invited for
    this subject before, already rated it, or (for a goodbye) was invited for anything in this conversation.
    Never asks twice: one invitation per subject (unique in the database, so two processes cannot both)."""
    subject = END_TRIGGERS.get(trigger)
    if subject is None:
        raise ValueError(f"unknown rating trigger: {trigger}")
    if subject != "conversation":
        try:
            number = check_number(number)
        except InvalidRating:
            return None
        if number is None:
            return None
    key = _subject_key(subject, sender, number)
    flush_events()   # the turns this process answered so far (core/conversation_events.py `defer`)
    with session_scope() as session:
        if session.scalar(select(Rating.id).where(Rating.subject_key == key)) is not None:
            return None
        if session.scalar(select(RatingInvitation.id).where(RatingInvitation.subject_key == key)) is not None:
            return None
        if trigger == "goodbye" and session.scalar(
                select(RatingInvitation.id).where(RatingInvitation.sender == sender).limit(1)) is not None:
            return None   # already asked in this conversation (for an application, a ticket, an agent)
        if subject == "conversation":
            attribution = _conversation_attribution(session, sender, handoff_id)
        else:
            attribution = {"served_by": "assistant", "guide": None,
                           f"{subject}_number": number}
        attribution.pop("channel", None)
        session.add(RatingInvitation(subject_key=key, sender=sender, channel=(channel or "web")[:16],
                                     attribution=attribution, created_at=now or utcnow()))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            return None
    return rating_request_message(subject, number, attribution)


def parse_rate_payload(text: str) -> dict[str, Any] | None:
    """`/rate{"level": 4, "number"?, "tags"?, "comment"?}` (rating buttons, a voice keypad) -> its fields;
    None when the text is not a rating payload; {} when it is one but not JSON."""
    if not isinstance(text, str) or not text.startswith(RATE_PAYLOAD):
        return None
    rest = text[len(RATE_PAYLOAD):]
    if rest and not rest.startswith("{"):
        return None
    try:
        body = json.loads(rest or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# -- rating ----------------------------------------------------------------------------------------------------
def _rating_view(rating: Rating, followup: RatingFollowup | None = None) -> dict[str, Any]:
    return {"id": rating.id, "subject": rating.subject, "number": rating.application_number or rating.ticket_number,
            "level": rating.level, "label": LEVELS[rating.level], "tags": list(rating.tags or []),
            "comment": rating.comment, "served_by": rating.served_by, "agent_id": rating.agent_id,
            "guide": rating.guide, "status": rating.status, "channel": rating.channel, "day": _iso(rating.day),
            "created_at": _iso(rating.created_at),
            "followup": {"id": followup.id, "due": _iso(followup.due), "state": followup.state} if followup else None}


def thanks_message(view: dict[str, Any]) -> dict[str, Any]:
    if view["level"] in BAD_LEVELS:
        days = get_settings().rating_followup_working_days
        text = (f"感谢您的评价，很抱歉这次没有让您满意。工作人员将在{days}个工作日内回访，了解情况并改进。")
    else:
        text = "感谢您的评价！我们会继续努力，为您提供更好的服务。"
    return {"kind": "rating_thanks", "text": text, "buttons": [],
            "data": {"rating_id": view["id"], "level": view["level"], "label": view["label"],
                     "subject": view["subject"], "number": view["number"],
                     "followup": view["followup"] is not None}}


def rate(sender: str, level: Any, *, tags: Any = None, comment: Any = "", number: Any = None,
         channel: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Record one rating; returns {"rating": view, "message": rating_thanks}.

    InvalidRating (bad level, tags, comment, number), SubjectNotFound (no such conversation, or the 办件 is
    not this sender's), AlreadyRated (this conversation / 办件 was rated before). A level 1-2 rating opens a
    follow-up due RATING_FOLLOWUP_WORKING_DAYS working days after today.
    """
    if not isinstance(sender, str) or not sender.strip() or len(sender) > 128:
        raise InvalidRating("会话标识无效。", field="sender")
    level = check_level(level)
    tags = check_tags(tags)
    comment = _text(comment, "comment", MAX_COMMENT)
    number = check_number(number)
    now = now or utcnow()
    day = local_day(now)
    flush_events()   # is there a conversation to rate, and its last guide (deferred turns included)
    with session_scope() as session:
        subject, attribution = _subject(session, sender, number)
        key = _subject_key(subject, sender, number)
        invitation = session.scalar(select(RatingInvitation).where(RatingInvitation.subject_key == key))
        if invitation is not None and subject == "conversation" and attribution["served_by"] == "assistant":
            attribution = {**attribution, **{k: v for k, v in (invitation.attribution or {}).items() if v}}
        channel = channel or (invitation.channel if invitation is not None else None) or \
            attribution.get("channel") or _last_channel(session, sender) or "web"
        rating = Rating(subject_key=key, subject=subject, sender=sender, channel=channel[:16], level=level,
                        tags=tags, comment=comment, served_by=attribution.get("served_by") or "assistant",
                        agent_id=attribution.get("agent_id"), guide=attribution.get("guide"),
                        application_number=attribution.get("application_number"),
                        ticket_number=attribution.get("ticket_number"), handoff_id=attribution.get("handoff_id"),
                        status="valid", day=day, created_at=now)
        session.add(rating)
        try:
            session.flush()   # one rating per subject: the unique subject_key decides, also between processes
        except IntegrityError:
            session.rollback()
            raise AlreadyRated("您已经评价过了，感谢您的反馈。" if subject == "conversation"
                               else "这件办件已经评价过了，感谢您的反馈。", subject=subject) from None
        followup = None
        if level in BAD_LEVELS:
            due = add_working_days(day, get_settings().rating_followup_working_days)
            followup = RatingFollowup(rating_id=rating.id, state="open", due=due, findings="", rectification="",
                                      caller_response="", caller_note="", outcome="", created_at=now, updated_at=now)
            session.add(followup)
            session.flush()
        record(session, "rating", sender, channel=channel, at=now, guide=rating.guide, value=level,
               staff_id=rating.agent_id, detail={"subject": subject, "served_by": rating.served_by})
        view = _rating_view(rating, followup)
    log.info("rating id=%s subject=%s level=%s followup=%s", view["id"], subject, level, bool(followup))
    return {"rating": view, "message": thanks_message(view)}


def _last_channel(session: Session, sender: str) -> str | None:
    return session.scalar(select(ConversationEvent.channel).where(
        ConversationEvent.conversation == conversation_key(sender)).order_by(ConversationEvent.id.desc()).limit(1))


def list_ratings(*, since: date | None = None, until: date | None = None, level: int | None = None,
                 limit: int = 200) -> list[dict[str, Any]]:
    """Ratings, newest first (for supervisors; the comment is stored masked)."""
    with session_scope() as session:
        query = select(Rating)
        if since is not None:
            query = query.where(Rating.day >= since)
        if until is not None:
            query = query.where(Rating.day <= until)
        if level is not None:
            query = query.where(Rating.level == level)
        rows = list(session.scalars(query.order_by(Rating.id.desc()).limit(max(1, min(limit, 1000)))))
        followups_by = {f.rating_id: f for f in session.scalars(
            select(RatingFollowup).where(RatingFollowup.rating_id.in_([r.id for r in rows])))} if rows else {}
        appeals_by = {a.rating_id: a for a in session.scalars(
            select(RatingAppeal).where(RatingAppeal.rating_id.in_([r.id for r in rows])))} if rows else {}
        out = []
        for r in rows:
            view = _rating_view(r, followups_by.get(r.id))
            appeal = appeals_by.get(r.id)
            view["appeal"] = {"id": appeal.id, "state": appeal.state} if appeal else None
            out.append(view)
        return out


# -- follow-ups (回访) --------------------------------------------------------------------------------------------
def followup_view(followup: RatingFollowup, rating: Rating, *, on: date | None = None,
                  names: dict[int, str] | None = None) -> dict[str, Any]:
    on = on or today()
    names = names or {}
    left = working_days_between(on, followup.due) if followup.state == "open" else None
    return {
        "id": followup.id, "rating_id": rating.id, "sender": rating.sender, "subject": rating.subject,
        "number": rating.application_number or rating.ticket_number, "level": rating.level,
        "label": LEVELS[rating.level], "tags": list(rating.tags or []), "comment": rating.comment,
        "served_by": rating.served_by, "agent_id": rating.agent_id, "agent_name": names.get(rating.agent_id),
        "guide": rating.guide, "channel": rating.channel, "rated_at": _iso(rating.created_at),
        "rating_status": rating.status, "due": _iso(followup.due), "state": followup.state,
        "overdue": followup.state == "open" and followup.due < on, "working_days_left": left,
        "findings": followup.findings, "rectification": followup.rectification,
        "caller_response": followup.caller_response, "caller_note": followup.caller_note,
        "outcome": followup.outcome, "called_back_at": _iso(followup.called_back_at),
        "closed_at": _iso(followup.closed_at), "created_at": _iso(followup.created_at),
    }


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {i: (n or u) for i, n, u in session.execute(
        select(StaffAccount.id, StaffAccount.display_name, StaffAccount.username).where(StaffAccount.id.in_(ids)))}


def followups(*, state: str | None = None, on: date | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Follow-up tasks, earliest due first; `state` None = not closed (open and called_back), "all" = every one."""
    if state not in (None, "all", *FOLLOWUP_STATES):
        raise InvalidRating(f"state 应为 {'、'.join(FOLLOWUP_STATES)} 或 all。", field="state")
    with session_scope() as session:
        query = select(RatingFollowup, Rating).join(Rating, Rating.id == RatingFollowup.rating_id)
        if state is None:
            query = query.where(RatingFollowup.state != "closed")
        elif state != "all":
            query = query.where(RatingFollowup.state == state)
        rows = session.execute(query.order_by(RatingFollowup.due, RatingFollowup.id).limit(limit)).all()
        names = _names(session, {r.agent_id for _, r in rows})
        return [followup_view(f, r, on=on, names=names) for f, r in rows]


def _followup(session: Session, followup_id: int) -> tuple[RatingFollowup, Rating]:
    row = session.execute(select(RatingFollowup, Rating).join(Rating, Rating.id == RatingFollowup.rating_id)
                          .where(RatingFollowup.id == followup_id)).first() if isinstance(followup_id, int) else None
    if row is None:
        raise NotFound("没有找到这条回访任务。")
    return row[0], row[1]


def call_back(followup_id: int, staff: object, *, findings: Any, rectification: Any = "",
              caller_response: Any = "", caller_note: Any = "", now: datetime | None = None) -> dict[str, Any]:
    """Record a call-back: what was found, what was fixed (整改), the caller's response. open/called_back ->
    called_back (a later attempt overwrites the record, e.g. after 未接通)."""
    findings = _text(findings, "findings", MAX_NOTE, required=True)
    rectification = _text(rectification, "rectification", MAX_NOTE)
    caller_note = _text(caller_note, "caller_note", MAX_NOTE)
    if caller_response not in CALLER_RESPONSES:
        raise InvalidRating(f"请选择市民反馈：{'、'.join(CALLER_RESPONSES)}。", field="caller_response")
    now = now or utcnow()
    with session_scope() as session:
        account = _supervisor(session, staff)
        followup, rating = _followup(session, followup_id)
        if followup.state == "closed":
            raise InvalidState("该回访任务已经办结。", state=followup.state)
        followup.state, followup.findings, followup.rectification = "called_back", findings, rectification
        followup.caller_response, followup.caller_note = caller_response, caller_note
        followup.called_back_by, followup.called_back_at, followup.updated_at = account.id, now, now
        audit(session, account.id, "rating.followup_call_back", "rating_followup", followup.id,
              caller_response=caller_response, rating_id=rating.id)
        session.flush()
        return followup_view(followup, rating, names=_names(session, {rating.agent_id}))


def close_followup(followup_id: int, staff: object, *, now: datetime | None = None) -> dict[str, Any]:
    """called_back -> closed (a follow-up is closed only after the caller was called back)."""
    now = now or utcnow()
    with session_scope() as session:
        account = _supervisor(session, staff)
        followup, rating = _followup(session, followup_id)
        if followup.state != "called_back":
            raise InvalidState("请先记录回访情况，再办结。" if followup.state == "open" else "该回访任务已经办结。",
                               state=followup.state)
        followup.state, followup.outcome = "closed", "called_back"
        followup.closed_by, followup.closed_at, followup.updated_at = account.id, now, now
        audit(session, account.id, "rating.followup_close", "rating_followup", followup.id, rating_id=rating.id)
        session.flush()
        return followup_view(followup, rating, names=_names(session, {rating.agent_id}))


# -- appeals (申诉复核) -------------------------------------------------------------------------------------------
def _appeal_view(appeal: RatingAppeal, rating: Rating, names: dict[int, str]) -> dict[str, Any]:
    return {"id": appeal.id, "rating_id": rating.id, "state": appeal.state, "reason": appeal.reason,
            "reason_label": APPEAL_REASONS.get(appeal.reason, appeal.reason), "note": appeal.note,
            "filed_by": appeal.filed_by, "filed_by_name": names.get(appeal.filed_by),
            "decided_by": appeal.decided_by, "decided_by_name": names.get(appeal.decided_by),
            "decision_note": appeal.decision_note, "created_at": _iso(appeal.created_at),
            "decided_at": _iso(appeal.decided_at), "rating": _rating_view(rating)}


def file_appeal(rating_id: int, staff: object, *, reason: Any, note: Any,
                now: datetime | None = None) -> dict[str, Any]:
    """A supervisor asks for a rating to be reviewed (误评, 恶意差评); one appeal per rating."""
    if reason not in APPEAL_REASONS:
        raise InvalidRating(f"请选择申诉理由：{'、'.join(APPEAL_REASONS)}。", field="reason")
    note = _text(note, "note", MAX_NOTE, required=True)
    now = now or utcnow()
    with session_scope() as session:
        account = _supervisor(session, staff)
        rating = session.get(Rating, rating_id) if isinstance(rating_id, int) else None
        if rating is None:
            raise NotFound("没有找到这条评价。")
        existing = session.scalar(select(RatingAppeal).where(RatingAppeal.rating_id == rating.id))
        if existing is not None:
            raise InvalidState("这条评价已经提出过申诉。", state=existing.state)
        appeal = RatingAppeal(rating_id=rating.id, state="pending", reason=reason, note=note, filed_by=account.id,
                              decision_note="", created_at=now)
        session.add(appeal)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise InvalidState("这条评价已经提出过申诉。", state="pending") from None
        audit(session, account.id, "rating.appeal_file", "rating", rating.id, reason=reason)
        return _appeal_view(appeal, rating, _names(session, {account.id}))


def decide_appeal(appeal_id: int, staff: object, *, uphold: Any, note: Any,
                  now: datetime | None = None) -> dict[str, Any]:
    """A second supervisor decides: upheld -> the rating is kept but `excluded` from the figures (and its
    open follow-up closed as appeal_upheld); rejected -> nothing changes. Never deletes the rating."""
    if not isinstance(uphold, bool):
        raise InvalidRating("请选择复核结论（维持评价或申诉成立）。", field="decision")
    note = _text(note, "note", MAX_NOTE, required=True)
    now = now or utcnow()
    with session_scope() as session:
        account = _supervisor(session, staff)
        appeal = session.get(RatingAppeal, appeal_id) if isinstance(appeal_id, int) else None
        if appeal is None:
            raise NotFound("没有找到这条申诉。")
        if appeal.state != "pending":
            raise InvalidState("这条申诉已经复核过了。", state=appeal.state)
        if appeal.filed_by == account.id:
            raise NotAllowed("申诉须由另一位班长复核，不能复核自己提出的申诉。")
        rating = session.get(Rating, appeal.rating_id)
        appeal.state = "upheld" if uphold else "rejected"
        appeal.decided_by, appeal.decision_note, appeal.decided_at = account.id, note, now
        if uphold:
            rating.status = "excluded"
            followup = session.scalar(select(RatingFollowup).where(RatingFollowup.rating_id == rating.id))
            if followup is not None and followup.state != "closed":
                followup.state, followup.outcome = "closed", "appeal_upheld"
                followup.closed_by, followup.closed_at, followup.updated_at = account.id, now, now
        audit(session, account.id, "rating.appeal_decide", "rating", rating.id, appeal_id=appeal.id,
              decision=appeal.state)
        session.flush()
        return _appeal_view(appeal, rating, _names(session, {appeal.filed_by, account.id}))


def list_appeals(*, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    if state not in (None, *APPEAL_STATES):
        raise InvalidRating(f"state 应为 {'、'.join(APPEAL_STATES)}。", field="state")
    with session_scope() as session:
        query = select(RatingAppeal, Rating).join(Rating, Rating.id == RatingAppeal.rating_id)
        if state is not None:
            query = query.where(RatingAppeal.state == state)
        rows = session.execute(query.order_by(RatingAppeal.id.desc()).limit(limit)).all()
        names = _names(session, {a.filed_by for a, _ in rows} | {a.decided_by for a, _ in rows})
        return [_appeal_view(a, r, names) for a, r in rows]


# -- the guide editor's queue -------------------------------------------------------------------------------------
def guides_with_inaccuracy_ratings(session: Session, since: date | datetime | None = None) -> list[dict[str, Any]]:
    """Guides whose ratings carry 办事指南不准确 or 答案不准确 (valid ratings only), most first:
    [{"guide", "count", "tags": {tag: n}, "levels": {level: n}, "last_at", "rating_ids"}]."""
    query = select(Rating).where(Rating.guide.is_not(None), Rating.status == "valid")
    if isinstance(since, datetime):
        query = query.where(Rating.created_at >= since)
    elif isinstance(since, date):
        query = query.where(Rating.day >= since)
    found: dict[str, dict[str, Any]] = {}
    for rating in session.scalars(query.order_by(Rating.id)):
        hits = [t for t in (rating.tags or []) if t in INACCURACY_TAGS]
        if not hits:
            continue
        entry = found.setdefault(rating.guide, {"guide": rating.guide, "count": 0, "tags": {}, "levels": {},
                                                "last_at": None, "rating_ids": []})
        entry["count"] += 1
        for tag in hits:
            entry["tags"][tag] = entry["tags"].get(tag, 0) + 1
        entry["levels"][rating.level] = entry["levels"].get(rating.level, 0) + 1
        entry["last_at"] = _iso(rating.created_at)
        entry["rating_ids"].append(rating.id)
    return sorted(found.values(), key=lambda e: (-e["count"], e["guide"]))
