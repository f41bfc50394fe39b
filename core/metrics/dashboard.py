"""The supervisor dashboard's figures for a range of local (Asia/Shanghai) days, both ends included.

Definitions (docs/API.md "Supervisor dashboard"):

    conversations     distinct conversations with at least one answered turn in the range
    turns             answered caller turns (assistant, agent, emergency rule, queue changes)
    handoff_rate      conversations that asked for a person (queue or call-back) / conversations
    containment_rate  conversations the assistant handled without a person (no handoff request) / conversations
    unanswered_rate   assistant turns not understood (fallback) or without a guide (guide_not_found) /
                      assistant turns
    ratings           valid ratings per level 1-5 (appeals upheld leave a rating out, never delete it)
    followup_rate     差评回访率: bad ratings (1-2) in the range whose follow-up was called back / bad ratings
    tickets           tickets created in the range by category (level1) and department, duplicates apart;
                      overdue = due before today and not resolved or visited (as of today, whatever the range)
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.orm import Session

from core.conversation_events import day_start, local_day
from core.conversation_events import flush as flush_events
from core.db import session_scope
from core.models import ConversationEvent, Rating, RatingFollowup, StaffAccount, Ticket
from core.ratings.service import BAD_LEVELS, GOOD_LEVELS, LEVELS
from core.validators import today_local as today
from core.workdays import working_days_between

MAX_RANGE_DAYS = 366
TOP_GUIDES = 10
OVERDUE_LIST = 50
FOLLOWUP_LIST = 50
TICKET_OPEN_STATES_EXCLUDED = ("resolved", "visited")
HANDOFF_REQUEST_KINDS = ("handoff_requested", "callback_requested")
WAIT_BUCKETS = ((30, "30秒内"), (60, "30秒-1分钟"), (120, "1-2分钟"), (300, "2-5分钟"), (None, "5分钟以上"))


def parse_range(since: str | None, until: str | None, *, on: date | None = None) -> tuple[date, date]:
    """YYYY-MM-DD strings (either may be empty: the last 7 days up to today) -> (since, until); ValueError with a
    Chinese message for a bad date, a reversed range or more than MAX_RANGE_DAYS days."""
    on = on or today()

    def parse(value: str | None, name: str) -> date | None:
        if value is None or not str(value).strip():
            return None
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"{name} 应为日期 YYYY-MM-DD（收到：{str(value)[:20]}）。") from None

    end = parse(until, "to") or on
    start = parse(since, "from") or end - timedelta(days=6)
    if start > end:
        raise ValueError("开始日期不能晚于结束日期。")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValueError(f"日期范围最长{MAX_RANGE_DAYS}天。")
    return start, end


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def _in_range(since: date, until: date):
    return and_(ConversationEvent.day >= since, ConversationEvent.day <= until)


# -- conversations, turns, channels, guides ------------------------------------------------------------------------
def _count_if(condition):
    """COUNT of the rows where `condition` holds (one pass, next to other counts)."""
    return func.count(case((condition, 1)))


def _conversation_figures(session: Session, since: date, until: date) -> dict[str, Any]:
    rng = _in_range(since, until)
    turn = and_(rng, ConversationEvent.kind == "turn")
    assistant = ConversationEvent.answered_by == "assistant"
    fallback = ConversationEvent.fallback.is_(True)
    unanswered = and_(assistant, fallback | ConversationEvent.declined.is_(True))
    # conversations, turns, assistant turns, unanswered assistant turns: for the range and per day
    counts = (func.count(distinct(ConversationEvent.conversation)), func.count(), _count_if(assistant),
              _count_if(unanswered))
    conversations, turns, assistant_turns, unanswered_turns, fallbacks = session.execute(
        select(*counts, _count_if(and_(assistant, fallback))).where(turn)).one()
    counts_by_day = {day: rest for day, *rest in session.execute(
        select(ConversationEvent.day, *counts).where(turn).group_by(ConversationEvent.day))}
    talked = select(ConversationEvent.conversation).where(turn)
    handed = session.scalar(select(func.count(distinct(ConversationEvent.conversation))).where(
        rng, ConversationEvent.kind.in_(HANDOFF_REQUEST_KINDS), ConversationEvent.conversation.in_(talked))) or 0
    handoffs_by_day = dict(session.execute(select(
        ConversationEvent.day, func.count(distinct(ConversationEvent.conversation))).where(
        rng, ConversationEvent.kind.in_(HANDOFF_REQUEST_KINDS)).group_by(ConversationEvent.day)).all())
    by_day_rows = session.execute(select(
        ConversationEvent.day, ConversationEvent.channel, func.count(distinct(ConversationEvent.conversation)))
        .where(turn).group_by(ConversationEvent.day, ConversationEvent.channel)).all()
    by_channel_rows = session.execute(select(
        ConversationEvent.channel, func.count(distinct(ConversationEvent.conversation)), func.count())
        .where(turn).group_by(ConversationEvent.channel).order_by(ConversationEvent.channel)).all()
    guides = session.execute(select(ConversationEvent.guide, func.count()).where(
        turn, ConversationEvent.guide.is_not(None)).group_by(ConversationEvent.guide)
        .order_by(func.count().desc(), ConversationEvent.guide).limit(TOP_GUIDES)).all()

    channels = sorted({channel for _, channel, _ in by_day_rows})
    per_day: dict[date, dict[str, Any]] = {}
    for day in _days(since, until):
        day_conversations, day_turns, day_assistant, day_unanswered = counts_by_day.get(day, (0, 0, 0, 0))
        per_day[day] = {"day": day.isoformat(), "conversations": int(day_conversations), "turns": int(day_turns),
                        "by_channel": {c: 0 for c in channels}, "handoffs": int(handoffs_by_day.get(day, 0)),
                        "assistant_turns": int(day_assistant), "unanswered": int(day_unanswered)}
    for day, channel, convs in by_day_rows:
        per_day[day]["by_channel"][channel] = int(convs)
    for entry in per_day.values():
        entry["handoff_rate"] = _rate(entry["handoffs"], entry["conversations"])
        entry["unanswered_rate"] = _rate(entry["unanswered"], entry["assistant_turns"])
    return {
        "conversations": int(conversations), "turns": int(turns), "assistant_turns": int(assistant_turns),
        "unanswered_turns": int(unanswered_turns), "fallback_turns": int(fallbacks),
        "handoff_conversations": int(handed), "contained_conversations": int(conversations - handed),
        "containment_rate": _rate(conversations - handed, conversations),
        "handoff_rate": _rate(handed, conversations), "unanswered_rate": _rate(unanswered_turns, assistant_turns),
        "channels": channels, "by_day": per_day,
        "by_channel": [{"channel": c, "conversations": int(n), "turns": int(t)} for c, n, t in by_channel_rows],
        "top_guides": [{"guide": g, "count": int(n)} for g, n in guides],
    }


# -- handoffs and waits -----------------------------------------------------------------------------------------
def _handoff_figures(session: Session, since: date, until: date) -> dict[str, Any]:
    rng = _in_range(since, until)
    counts = dict(session.execute(select(ConversationEvent.kind, func.count()).where(
        rng, ConversationEvent.kind.like("handoff_%") | (ConversationEvent.kind == "callback_requested"))
        .group_by(ConversationEvent.kind)).all())
    waits = session.execute(select(ConversationEvent.day, ConversationEvent.value).where(
        rng, ConversationEvent.kind == "handoff_connected", ConversationEvent.value.is_not(None))).all()
    values = sorted(int(v) for _, v in waits)
    buckets = []
    low = 0
    for high, label in WAIT_BUCKETS:
        n = sum(1 for v in values if v >= low and (high is None or v < high))
        buckets.append({"bucket": label, "count": n})
        low = high or low
    per_day: dict[date, list[int]] = defaultdict(list)
    for day, value in waits:
        per_day[day].append(int(value))
    return {
        "requested": int(counts.get("handoff_requested", 0)), "connected": int(counts.get("handoff_connected", 0)),
        "closed": int(counts.get("handoff_closed", 0)), "returned": int(counts.get("handoff_returned", 0)),
        "cancelled": int(counts.get("handoff_cancelled", 0)), "callbacks": int(counts.get("callback_requested", 0)),
        "wait_seconds": {
            "count": len(values), "average": round(statistics.fmean(values), 1) if values else None,
            "median": statistics.median(values) if values else None,
            "p90": values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))] if values else None,
            "max": values[-1] if values else None},
        "wait_buckets": buckets,
        "by_day": [{"day": d.isoformat(), "connected": len(per_day.get(d, [])),
                    "average_wait_seconds": round(statistics.fmean(per_day[d]), 1) if per_day.get(d) else None}
                   for d in _days(since, until)],
    }


# -- ratings and follow-ups ------------------------------------------------------------------------------------------
def _rating_figures(session: Session, since: date, until: date, on: date) -> dict[str, Any]:
    in_range = and_(Rating.day >= since, Rating.day <= until)
    valid = and_(in_range, Rating.status == "valid")
    counts = {str(level): 0 for level in sorted(LEVELS)}
    per_day: dict[tuple[date, int], int] = {}
    excluded = 0
    for d, level, status, n in session.execute(select(Rating.day, Rating.level, Rating.status, func.count())
                                               .where(in_range).group_by(Rating.day, Rating.level, Rating.status)):
        if status != "valid":
            excluded += int(n)
            continue
        counts[str(level)] += int(n)
        per_day[(d, int(level))] = int(n)
    total = sum(counts.values())
    good = sum(counts[str(level)] for level in GOOD_LEVELS)
    bad = sum(counts[str(level)] for level in BAD_LEVELS)
    trend = []
    for day in _days(since, until):
        levels = {level: per_day.get((day, level), 0) for level in LEVELS}
        n = sum(levels.values())
        trend.append({"day": day.isoformat(), "ratings": n,
                      "average_level": round(sum(k * v for k, v in levels.items()) / n, 2) if n else None,
                      "good_rate": _rate(sum(levels[k] for k in GOOD_LEVELS), n),
                      "bad": sum(levels[k] for k in BAD_LEVELS)})
    by_served = {s: int(n) for s, n in session.execute(select(Rating.served_by, func.count()).where(valid)
                                                       .group_by(Rating.served_by))}
    by_agent_rows = session.execute(select(Rating.agent_id, StaffAccount.display_name, StaffAccount.username,
                                           func.count(), func.avg(Rating.level))
                                    .join(StaffAccount, StaffAccount.id == Rating.agent_id)
                                    .where(valid, Rating.agent_id.is_not(None))
                                    .group_by(Rating.agent_id, StaffAccount.display_name, StaffAccount.username)
                                    .order_by(Rating.agent_id)).all()
    ratings_figure = {
        "total": total, "good": good, "bad": bad, "excluded": int(excluded),
        "satisfaction_rate": _rate(good, total),
        "average_level": round(sum(int(k) * v for k, v in counts.items()) / total, 2) if total else None,
        "by_served_by": by_served,
        "by_agent": [{"agent_id": i, "agent": name or user, "ratings": int(n), "average_level": round(float(a), 2)}
                     for i, name, user, n, a in by_agent_rows],
    }

    # follow-ups of the bad ratings given in the range (差评回访率), and every follow-up still due (as of `on`)
    created = session.execute(select(RatingFollowup.state, RatingFollowup.called_back_at, RatingFollowup.due)
                              .join(Rating, Rating.id == RatingFollowup.rating_id).where(valid)).all()
    called = [row for row in created if row.called_back_at is not None]
    on_time = [row for row in called if local_day(row.called_back_at) <= row.due]
    open_rows = session.execute(select(RatingFollowup, Rating).join(Rating, Rating.id == RatingFollowup.rating_id)
                                .where(RatingFollowup.state == "open").order_by(RatingFollowup.due,
                                                                                RatingFollowup.id)).all()
    states = dict(session.execute(select(RatingFollowup.state, func.count()).group_by(RatingFollowup.state)).all())
    due_list = [{"id": f.id, "rating_id": r.id, "sender": r.sender, "number": r.application_number or r.ticket_number,
                 "level": r.level, "label": LEVELS[r.level], "due": f.due.isoformat(), "state": f.state,
                 "overdue": f.due < on, "working_days_left": working_days_between(on, f.due)}
                for f, r in open_rows[:FOLLOWUP_LIST]]
    followups = {
        "bad_ratings": bad, "created": len(created), "called_back": len(called), "called_back_on_time": len(on_time),
        "followup_rate": _rate(len(called), bad), "on_time_rate": _rate(len(on_time), bad),
        "open": int(states.get("open", 0)), "in_progress": int(states.get("called_back", 0)),
        "closed": int(states.get("closed", 0)),
        "overdue": sum(1 for f, _ in open_rows if f.due < on),
        "due_by_end_of_range": sum(1 for f, _ in open_rows if f.due <= until),
        "due": due_list,
    }
    return {"ratings": counts, "ratings_summary": ratings_figure, "satisfaction_trend": trend,
            "followups": followups}


# -- tickets ------------------------------------------------------------------------------------------------------
def _ticket_figures(session: Session, since: date, until: date, on: date) -> dict[str, Any]:
    created = and_(Ticket.created_at >= day_start(since), Ticket.created_at < day_start(until + timedelta(days=1)))
    original = and_(created, Ticket.duplicate_of.is_(None))
    total = session.scalar(select(func.count()).select_from(Ticket).where(original)) or 0
    duplicates = session.scalar(select(func.count()).select_from(Ticket).where(
        created, Ticket.duplicate_of.is_not(None))) or 0
    by_category = session.execute(select(Ticket.level1, func.count()).where(original).group_by(Ticket.level1)
                                  .order_by(func.count().desc(), Ticket.level1)).all()
    by_department = session.execute(select(Ticket.department, func.count()).where(original)
                                    .group_by(Ticket.department)
                                    .order_by(func.count().desc(), Ticket.department)).all()
    overdue_where = and_(Ticket.due < on, Ticket.state.not_in(TICKET_OPEN_STATES_EXCLUDED),
                         Ticket.duplicate_of.is_(None))
    overdue_count = session.scalar(select(func.count()).select_from(Ticket).where(overdue_where)) or 0
    overdue_by_department = session.execute(select(Ticket.department, func.count()).where(overdue_where)
                                            .group_by(Ticket.department)
                                            .order_by(func.count().desc(), Ticket.department)).all()
    overdue_items = session.scalars(select(Ticket).where(overdue_where).order_by(Ticket.due, Ticket.id)
                                    .limit(OVERDUE_LIST)).all()
    return {
        "total": int(total), "duplicates": int(duplicates),
        "by_category": [{"category": c or "未分类", "count": int(n)} for c, n in by_category],
        "by_department": [{"department": d or "未分派", "count": int(n)} for d, n in by_department],
        "overdue": {
            "count": int(overdue_count),
            "by_department": [{"department": d or "未分派", "count": int(n)} for d, n in overdue_by_department],
            "items": [{"number": t.number, "category": t.level1 or "未分类", "department": t.department or "未分派",
                       "state": t.state, "due": t.due.isoformat(), "working_days_overdue":
                           working_days_between(t.due, on)} for t in overdue_items],
        },
    }


# -- all of it ------------------------------------------------------------------------------------------------------
def metrics(since: date, until: date, *, on: date | None = None) -> dict[str, Any]:
    """Every figure of the dashboard for local days since..until (inclusive); `on` = today (overdue, due)."""
    on = on or today()
    flush_events()   # turns this process answered a moment ago count too (core/conversation_events.py `defer`)
    with session_scope() as session:
        conv = _conversation_figures(session, since, until)
        handoff = _handoff_figures(session, since, until)
        rating = _rating_figures(session, since, until, on)
        tickets = _ticket_figures(session, since, until, on)
    by_day = []
    trend = {t["day"]: t for t in rating["satisfaction_trend"]}
    waits = {w["day"]: w for w in handoff["by_day"]}
    for entry in conv["by_day"].values():
        day = entry["day"]
        by_day.append({**entry, "ratings": trend[day]["ratings"], "average_level": trend[day]["average_level"],
                       "good_rate": trend[day]["good_rate"],
                       "average_wait_seconds": waits[day]["average_wait_seconds"]})
    return {
        "from": since.isoformat(), "to": until.isoformat(), "today": on.isoformat(),
        "conversations": conv["conversations"], "turns": conv["turns"],
        "assistant_turns": conv["assistant_turns"], "unanswered_turns": conv["unanswered_turns"],
        "fallback_turns": conv["fallback_turns"],
        "handoff_conversations": conv["handoff_conversations"],
        "contained_conversations": conv["contained_conversations"],
        "containment_rate": conv["containment_rate"], "handoff_rate": conv["handoff_rate"],
        "unanswered_rate": conv["unanswered_rate"],
        "ratings": rating["ratings"], "ratings_summary": rating["ratings_summary"],
        "satisfaction_trend": rating["satisfaction_trend"],
        "channels": conv["channels"], "by_day": by_day, "by_channel": conv["by_channel"],
        "top_guides": conv["top_guides"], "handoff": handoff,
        "tickets": tickets, "followups": rating["followups"],
    }


# -- CSV -------------------------------------------------------------------------------------------------------------
def _summary(m: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    rows = [[key, m[key]] for key in ("from", "to", "conversations", "turns", "assistant_turns", "unanswered_turns",
                                      "handoff_conversations", "contained_conversations", "containment_rate",
                                      "handoff_rate", "unanswered_rate")]
    rows += [[f"ratings_level_{k}", v] for k, v in m["ratings"].items()]
    rows += [["satisfaction_rate", m["ratings_summary"]["satisfaction_rate"]],
             ["followup_rate", m["followups"]["followup_rate"]], ["tickets", m["tickets"]["total"]],
             ["overdue_tickets", m["tickets"]["overdue"]["count"]]]
    return ["figure", "value"], rows


def _by_day(m: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    channels = m["channels"]
    header = ["day", "conversations", "turns", "handoffs", "handoff_rate", "unanswered", "unanswered_rate",
              "ratings", "average_level", "average_wait_seconds"] + [f"conversations_{c}" for c in channels]
    rows = [[d["day"], d["conversations"], d["turns"], d["handoffs"], d["handoff_rate"], d["unanswered"],
             d["unanswered_rate"], d["ratings"], d["average_level"], d["average_wait_seconds"]]
            + [d["by_channel"].get(c, 0) for c in channels] for d in m["by_day"]]
    return header, rows


FIGURES = {
    "summary": _summary,
    "by_day": _by_day,
    "by_channel": lambda m: (["channel", "conversations", "turns"],
                             [[c["channel"], c["conversations"], c["turns"]] for c in m["by_channel"]]),
    "top_guides": lambda m: (["guide", "count"], [[g["guide"], g["count"]] for g in m["top_guides"]]),
    "handoff_waits": lambda m: (["bucket", "count"], [[b["bucket"], b["count"]] for b in m["handoff"]["wait_buckets"]]),
    "handoff_by_day": lambda m: (["day", "connected", "average_wait_seconds"],
                                 [[d["day"], d["connected"], d["average_wait_seconds"]] for d in m["handoff"]["by_day"]]),
    "ratings": lambda m: (["level", "label", "count"],
                          [[int(k), LEVELS[int(k)], v] for k, v in sorted(m["ratings"].items(), reverse=True)]),
    "satisfaction_trend": lambda m: (["day", "ratings", "average_level", "good_rate", "bad"],
                                     [[t["day"], t["ratings"], t["average_level"], t["good_rate"], t["bad"]]
                                      for t in m["satisfaction_trend"]]),
    "tickets_by_category": lambda m: (["category", "count"],
                                      [[c["category"], c["count"]] for c in m["tickets"]["by_category"]]),
    "tickets_by_department": lambda m: (["department", "count"],
                                        [[d["department"], d["count"]] for d in m["tickets"]["by_department"]]),
    "overdue_tickets": lambda m: (["number", "category", "department", "state", "due", "working_days_overdue"],
                                  [[t["number"], t["category"], t["department"], t["state"], t["due"],
                                    t["working_days_overdue"]] for t in m["tickets"]["overdue"]["items"]]),
    "followups": lambda m: (["id", "rating_id", "number", "level", "label", "due", "state", "overdue",
                             "working_days_left"],
                            [[f["id"], f["rating_id"], f["number"] or "", f["level"], f["label"], f["due"], f["state"],
                              f["overdue"], f["working_days_left"]] for f in m["followups"]["due"]]),
}


def csv_table(m: dict[str, Any], figure: str) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of one figure; KeyError for an unknown figure name."""
    return FIGURES[figure](m)
