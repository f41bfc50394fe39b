"""好差评 ratings (core/ratings) on a throw-away database: one rating per conversation and per 办件, invitations
never twice, attribution (assistant + guide, agent, application), follow-ups of bad ratings with working-day
deadlines, appeals decided by a second supervisor, the guide editor's queue of inaccurate guides."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select, text

from core import conversation_events, handoff, metrics, ratings
from core.db import get_engine, session_scope
from core.models import Base, ConversationEvent, Rating, RatingFollowup
from core.settings import get_settings
from core.staff import audit_entries
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401

# Thursday 24 September 2026, 10:00 in Beijing: the next day starts the 中秋 holiday (25-27), then 国庆 (1-7 Oct)
THURSDAY = datetime(2026, 9, 24, 2, 0, tzinfo=timezone.utc)


def talk(sender: str, *kinds: str, guide: str | None = None, channel: str = "web", at: datetime | None = None):
    """One answered turn of `sender`, recorded as the gateway records it."""
    messages = [{"kind": k, "data": {"guide": guide} if guide else {}} for k in (kinds or ("text",))]
    assert conversation_events.record_many_safely(
        conversation_events.turn_rows(sender, channel, messages, answered_by="assistant", at=at))


def new_application(sender: str) -> str:
    from core import applications

    created = applications.create_application(
        guide="新生儿出生一件事", items=["户口登记"], channel="web", sender=sender, idempotency_key=None,
        data={"applicant_name": "张三", "applicant_id_number": "150102199003071237", "applicant_phone": "13900001111",
              "other_parent_name": "李芳", "other_parent_id_number": "150203198804120024", "child_name": "张小宝",
              "child_gender": "男", "child_birth_date": "2025年3月1日", "birth_hospital": "鄂尔多斯市中心医院",
              "child_ethnicity": "汉族", "settle_with": "随父亲落户", "card_bank": "中国工商银行"})
    return created.view["number"]


@pytest.fixture
def sups(make_staff):
    return {"a": make_staff("supervisor", display_name="班长01").principal,
            "b": make_staff("supervisor", display_name="班长02").principal,
            "agent": make_staff("agent", display_name="坐席007").principal}


# -- one rating per conversation and per 办件 -----------------------------------------------------------------
def test_one_rating_per_conversation(staff_db):
    talk("s-one", "guide_answer", guide="新生儿出生一件事")
    first = ratings.rate("s-one", 4, tags=["其他"], comment="挺好")
    view = first["rating"]
    assert (view["subject"], view["level"], view["label"], view["served_by"]) == ("conversation", 4, "满意", "assistant")
    assert view["guide"] == "新生儿出生一件事" and view["followup"] is None
    assert first["message"]["kind"] == "rating_thanks" and "感谢" in first["message"]["text"]
    with pytest.raises(ratings.AlreadyRated):
        ratings.rate("s-one", 1)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == 1
        assert session.scalar(select(Rating.level)) == 4          # the second did not replace the first


def test_a_sender_without_a_conversation_cannot_rate(staff_db):
    with pytest.raises(ratings.SubjectNotFound):
        ratings.rate("s-never-talked", 5)


@pytest.mark.parametrize("bad, field", [
    ({"level": 0}, "level"), ({"level": 6}, "level"), ({"level": "5"}, "level"), ({"level": True}, "level"),
    ({"level": None}, "level"), ({"level": 3, "tags": ["很棒棒"]}, "tags"), ({"level": 3, "tags": "答案不准确"}, "tags"),
    ({"level": 3, "comment": "长" * 301}, "comment"), ({"level": 3, "number": "NM-1"}, "number"),
])
def test_bad_values_are_refused_with_the_field(staff_db, bad, field):
    talk("s-bad")
    level = bad.pop("level")
    with pytest.raises(ratings.InvalidRating) as refused:
        ratings.rate("s-bad", level, **bad)
    assert refused.value.detail["field"] == field
    assert ratings.rate("s-bad", 3)["rating"]["level"] == 3       # nothing was stored by the refusals


def test_comment_is_stored_masked(staff_db):
    talk("s-mask")
    view = ratings.rate("s-mask", 2, comment="请打13947761207找我，身份证150102199003071237")["rating"]
    assert "13947761207" not in view["comment"] and "150102199003071237" not in view["comment"]
    assert "139****1207" in view["comment"]


def test_one_rating_per_application_attributed_to_it(staff_db):
    number = new_application("s-app")
    rated = ratings.rate("s-app", 5, number=number.lower())["rating"]     # typed in lower case: same number
    assert (rated["subject"], rated["number"], rated["guide"]) == ("application", number, "新生儿出生一件事")
    with pytest.raises(ratings.AlreadyRated):
        ratings.rate("s-app", 4, number=number)
    with pytest.raises(ratings.SubjectNotFound):                           # not this sender's application
        talk("s-other")
        ratings.rate("s-other", 1, number=number)
    with pytest.raises(ratings.SubjectNotFound):
        ratings.rate("s-app", 1, number="NM20990101ZZZZZZZZ")
    talk("s-app")
    assert ratings.rate("s-app", 3)["rating"]["subject"] == "conversation"   # the conversation is rated apart


# -- invitations ------------------------------------------------------------------------------------------------
def test_invitations_are_never_sent_twice(staff_db):
    talk("s-inv", "guide_answer", guide="新生儿出生一件事")
    number = new_application("s-inv")
    message = ratings.invite("s-inv", "web", "application_submitted", number=number)
    assert message["kind"] == "rating_request" and number in message["text"]
    data = message["data"]
    assert data["subject"] == "application" and data["number"] == number and data["post"] == "/api/ratings"
    assert [o["level"] for o in data["levels"]] == [5, 4, 3, 2, 1]
    assert [o["label"] for o in data["levels"]] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert [o["key"] for o in data["levels"]] == ["1", "2", "3", "4", "5"]        # voice keypad
    assert "非常满意请按1" in data["speech"] and "办事指南不准确" in data["tags"]
    assert [b["title"] for b in message["buttons"]] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert ratings.parse_rate_payload(message["buttons"][0]["payload"]) == {"number": number, "level": 5}
    assert ratings.invite("s-inv", "web", "application_submitted", number=number) is None
    assert ratings.invite("s-inv", "web", "goodbye") is None          # already asked in this conversation

    talk("s-bye")
    assert ratings.invite("s-bye", "web", "goodbye")["data"]["subject"] == "conversation"
    assert ratings.invite("s-bye", "web", "goodbye") is None
    talk("s-rated")
    ratings.rate("s-rated", 5)
    assert ratings.invite("s-rated", "web", "goodbye") is None        # rated without being asked: not asked


def test_an_agents_service_is_attributed_to_the_agent(staff_db, sups):
    talk("s-agent", "guide_answer", guide="新生儿出生一件事")
    conv = handoff.request("s-agent", "web", "caller_request", {}).view
    handoff.claim(conv["id"], sups["agent"])
    handoff.close(conv["id"], sups["agent"], "咨询已解答")
    message = ratings.invite("s-agent", "web", "handoff_closed", handoff_id=conv["id"])
    assert message["data"]["served_by"] == "agent" and message["data"]["agent"] == "坐席007"
    assert "坐席007" in message["text"]
    view = ratings.rate("s-agent", 1, tags=["服务态度不好"])["rating"]
    assert (view["served_by"], view["agent_id"]) == ("agent", sups["agent"].staff_id)
    assert view["followup"]["state"] == "open"


def test_rate_payload_parsing():
    assert ratings.parse_rate_payload('/rate{"level": 2, "tags": ["等待太久"]}') == {"level": 2, "tags": ["等待太久"]}
    assert ratings.parse_rate_payload("/rate{oops") == {}
    assert ratings.parse_rate_payload("/rather not") is None and ratings.parse_rate_payload("你好") is None


# -- follow-ups (回访) with working-day deadlines -------------------------------------------------------------------
def test_a_bad_rating_opens_a_follow_up_due_in_working_days(staff_db, sups):
    talk("s-fu", at=THURSDAY)
    view = ratings.rate("s-fu", 2, tags=["等待太久"], now=THURSDAY)["rating"]
    # 5 working days after Thu 24 Sep 2026: 28, 29, 30 Sep, then 8, 9 Oct (中秋 25-27 and 国庆 1-7 are off)
    assert view["followup"]["due"] == "2026-10-09"
    [task] = ratings.followups(on=date(2026, 9, 28))
    assert (task["level"], task["label"], task["state"], task["sender"]) == (2, "不满意", "open", "s-fu")
    assert task["overdue"] is False and task["working_days_left"] == 4
    [late] = ratings.followups(on=date(2026, 10, 12))
    assert late["overdue"] is True

    talk("s-good", at=THURSDAY)
    assert ratings.rate("s-good", 3, now=THURSDAY)["rating"]["followup"] is None   # 基本满意 is not 差评


def test_the_follow_up_deadline_is_configurable(staff_db, monkeypatch):
    monkeypatch.setenv("RATING_FOLLOWUP_WORKING_DAYS", "2")
    get_settings.cache_clear()
    talk("s-cfg", at=THURSDAY)
    assert ratings.rate("s-cfg", 1, now=THURSDAY)["rating"]["followup"]["due"] == "2026-09-29"


def test_follow_up_life_cycle(staff_db, sups):
    talk("s-life", at=THURSDAY)
    rating_id = ratings.rate("s-life", 1, comment="答非所问", now=THURSDAY)["rating"]["id"]
    [task] = ratings.followups()
    with pytest.raises(ratings.InvalidState):
        ratings.close_followup(task["id"], sups["a"])                 # not called back yet
    with pytest.raises(ratings.InvalidRating) as missing:
        ratings.call_back(task["id"], sups["a"], findings=" ", caller_response="满意")
    assert missing.value.detail["field"] == "findings"
    with pytest.raises(ratings.InvalidRating):
        ratings.call_back(task["id"], sups["a"], findings="核实", caller_response="还行")
    with pytest.raises(ratings.NotAllowed):
        ratings.call_back(task["id"], sups["agent"], findings="核实", caller_response="满意")

    first = ratings.call_back(task["id"], sups["a"], findings="电话未接通", caller_response="未接通")
    assert first["state"] == "called_back"
    done = ratings.call_back(task["id"], sups["a"], findings="指南材料清单缺少户口簿",
                             rectification="已通知编辑更新指南", caller_response="满意",
                             caller_note="回电13947761207")
    assert (done["findings"], done["caller_response"]) == ("指南材料清单缺少户口簿", "满意")
    assert "13947761207" not in done["caller_note"]
    closed = ratings.close_followup(task["id"], sups["a"])
    assert closed["state"] == "closed" and closed["outcome"] == "called_back"
    with pytest.raises(ratings.InvalidState):
        ratings.call_back(task["id"], sups["a"], findings="再次", caller_response="满意")
    assert ratings.followups() == []                                  # default: not closed
    assert [t["rating_id"] for t in ratings.followups(state="all")] == [rating_id]
    with session_scope() as session:
        actions = [e.action for e in audit_entries(session, target_type="rating_followup")]
    assert actions.count("rating.followup_call_back") == 2 and "rating.followup_close" in actions


# -- appeals (申诉复核) -------------------------------------------------------------------------------------------------
def test_an_appeal_is_decided_by_a_second_supervisor_and_never_deletes_the_rating(staff_db, sups):
    talk("s-appeal", at=THURSDAY)
    rating_id = ratings.rate("s-appeal", 1, comment="乱说", now=THURSDAY)["rating"]["id"]
    day = date(2026, 9, 24)
    assert metrics.metrics(day, day)["ratings"]["1"] == 1
    with pytest.raises(ratings.InvalidRating):
        ratings.file_appeal(rating_id, sups["a"], reason="不喜欢", note="x")
    appeal = ratings.file_appeal(rating_id, sups["a"], reason="malicious", note="同一号码连续恶意差评")
    assert appeal["state"] == "pending"
    with pytest.raises(ratings.InvalidState):
        ratings.file_appeal(rating_id, sups["b"], reason="mistake", note="再申诉")
    with pytest.raises(ratings.NotAllowed):
        ratings.decide_appeal(appeal["id"], sups["a"], uphold=True, note="我自己批")
    with pytest.raises(ratings.NotAllowed):
        ratings.decide_appeal(appeal["id"], sups["agent"], uphold=True, note="坐席不能复核")

    decided = ratings.decide_appeal(appeal["id"], sups["b"], uphold=True, note="核实为恶意差评")
    assert decided["state"] == "upheld" and decided["decided_by_name"] == "班长02"
    with pytest.raises(ratings.InvalidState):
        ratings.decide_appeal(appeal["id"], sups["b"], uphold=False, note="改主意")
    with session_scope() as session:
        rating = session.get(Rating, rating_id)
        assert rating is not None and rating.status == "excluded" and rating.level == 1   # kept, not counted
        followup = session.scalar(select(RatingFollowup).where(RatingFollowup.rating_id == rating_id))
        assert (followup.state, followup.outcome) == ("closed", "appeal_upheld")
    figures = metrics.metrics(day, day)
    assert figures["ratings"]["1"] == 0 and figures["ratings_summary"]["excluded"] == 1
    with pytest.raises(ratings.AlreadyRated):
        ratings.rate("s-appeal", 5)                                   # an upheld appeal does not reopen rating


def test_a_rejected_appeal_changes_nothing(staff_db, sups):
    talk("s-rej")
    rating_id = ratings.rate("s-rej", 2)["rating"]["id"]
    appeal = ratings.file_appeal(rating_id, sups["b"], reason="mistake", note="可能点错了")
    assert ratings.decide_appeal(appeal["id"], sups["a"], uphold=False, note="市民确认是差评")["state"] == "rejected"
    [listed] = ratings.list_ratings()
    assert listed["status"] == "valid" and listed["appeal"]["state"] == "rejected"
    assert ratings.followups()[0]["state"] == "open"


# -- the guide editor's queue -----------------------------------------------------------------------------------------
def test_guides_with_inaccuracy_ratings(staff_db):
    for i, (guide, level, tags) in enumerate([("新生儿出生一件事", 1, ["办事指南不准确"]),
                                              ("新生儿出生一件事", 2, ["答案不准确", "等待太久"]),
                                              ("退休一件事", 2, ["办事指南不准确"]),
                                              ("退休一件事", 4, ["其他"]),
                                              ("开办餐饮店一件事", 1, ["等待太久"])]):
        talk(f"s-g{i}", "guide_answer", guide=guide)
        ratings.rate(f"s-g{i}", level, tags=tags)
    with session_scope() as session:
        queue = ratings.guides_with_inaccuracy_ratings(session, date(2020, 1, 1))
    assert [(q["guide"], q["count"]) for q in queue] == [("新生儿出生一件事", 2), ("退休一件事", 1)]
    assert queue[0]["tags"] == {"办事指南不准确": 1, "答案不准确": 1}
    with session_scope() as session:
        assert ratings.guides_with_inaccuracy_ratings(session, date(2099, 1, 1)) == []


# -- events and schema ------------------------------------------------------------------------------------------------
def test_events_carry_no_personal_data(staff_db, monkeypatch):
    talk("voice-13947761207", "guide_answer", guide="新生儿出生一件事", channel="voice")
    with session_scope() as session:
        row = session.scalar(select(ConversationEvent))
        dumped = " ".join(str(getattr(row, c.name)) for c in ConversationEvent.__table__.columns)
    assert "13947761207" not in dumped and row.conversation == conversation_events.conversation_key(
        "voice-13947761207") and row.channel == "voice"
    # keyed with the install's secret: without it the hash cannot be recomputed from a guessed number
    monkeypatch.setenv("SENDER_SECRET", "another-install-" + "0" * 32)
    get_settings.cache_clear()
    assert conversation_events.conversation_key("voice-13947761207") != row.conversation


def test_migration_matches_the_models(staff_db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    tables = {"conversation_events", "rating_invitations", "ratings", "rating_followups", "rating_appeals"}
    with get_engine().connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()

    def touches(diff) -> bool:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item:
            table = part if isinstance(part, str) else \
                getattr(getattr(part, "table", None), "name", None) or getattr(part, "name", None)
            if table in tables:
                return True
        return False

    assert [d for d in diffs if touches(d)] == []
    assert version >= "0006"
