"""The supervisor dashboard: figures for a scripted day of traffic with known counts, recorded through the real
recording paths (the gateway's turn hook, core/handoff, core/ratings), and the dashboard / follow-up / appeal /
rating APIs on staff accounts (anonymous 401, agent 403, supervisor 200)."""
from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from connectors.gateway.ratings_hook import RatingsHook
from connectors.gateway.schemas import BotMessage
from core import conversation_events, handoff, metrics, ratings, senders
from core.db import session_scope
from core.models import ConversationEvent, Ticket
from core.validators import today_local
from tests.staff_fixtures import make_staff, staff_client, staff_db  # noqa: F401

HOOK = RatingsHook()


def turn(sender: str, *messages: tuple[str, dict], channel: str = "web") -> list[BotMessage]:
    """One answered turn through the gateway's hook (as TurnService calls it); returns what the caller gets."""
    bots = [BotMessage(kind=kind, text="…", data=data) for kind, data in messages]
    return asyncio.run(HOOK.after_turn(sender, channel, bots))


def rate_by_button(sender: str, payload: str, channel: str = "web") -> list[BotMessage]:
    return asyncio.run(HOOK.intercept(sender, payload, channel))


def ticket(number: str, category: str, department: str, *, created: datetime, due: date, state: str = "dispatched",
           duplicate_of: int | None = None) -> int:
    with session_scope() as session:
        row = Ticket(number=number, sender="", channel="web", appeal_type="投诉", description="（测试）", level1=category,
                     department=department, state=state, due=due, duplicate_of=duplicate_of,
                     idempotency_key=f"k-{number}", created_at=created, updated_at=created)
        session.add(row)
        session.flush()
        return row.id


GUIDE_A, GUIDE_B = "新生儿出生一件事", "退休一件事"


@pytest.fixture
def scripted_day(make_staff):
    """A small day of traffic. Counts that the figures must show (the day is today, Beijing time):

    8 conversations (6 web, 2 voice), 14 turns, 13 answered by the assistant (one by the emergency rule),
    3 unanswered (2 fallback, 1 guide_not_found), 2 asked for a person (w3 served after 90 s, w4 gave up),
    ratings 5 (w1), 4 (v1, by keypad payload), 1 (w3, the agent), 3 (w6, its application); the day before:
    one conversation of one turn. Tickets: 2 new (+1 duplicate) and 1 overdue from earlier.
    """
    day = today_local()
    agent = make_staff("agent", display_name="坐席007").principal
    yesterday_noon = conversation_events.day_start(day - timedelta(days=1)) + timedelta(hours=4)
    conversation_events.record_many_safely(conversation_events.turn_rows(
        "w0", "web", [{"kind": "guide_answer", "data": {"guide": GUIDE_B}}], answered_by="assistant",
        at=yesterday_noon))

    invited = {}
    turn("w1", ("greeting", {}))
    turn("w1", ("guide_answer", {"guide": GUIDE_A}))
    invited["w1"] = turn("w1", ("goodbye", {}))
    turn("w2", ("guide_answer", {"guide": GUIDE_A}))
    turn("w2", ("fallback", {"attempt": 1}))
    turn("w2", ("guide_not_found", {"query": "…", "answerable": False}))
    turn("w3", ("guide_answer", {"guide": GUIDE_B}))
    turn("w3", ("handoff", {"state": "queued"}))
    start = datetime.now(timezone.utc)
    w3 = handoff.request("w3", "web", "caller_request", {}, now=start).view
    handoff.claim(w3["id"], agent, now=start + timedelta(seconds=90))
    handoff.close(w3["id"], agent, "咨询已解答", now=start + timedelta(seconds=400))
    turn("w4", ("handoff", {"state": "queued"}))
    handoff.request("w4", "web", "caller_request", {}, now=start)
    handoff.cancel("w4", now=start + timedelta(seconds=60))
    turn("w5", ("emergency", {"numbers": ["119"]}))
    from tests.unit.test_ratings import new_application
    number = new_application("w6")
    invited["w6"] = turn("w6", ("application_submitted", {"number": number, "guide": GUIDE_A, "duplicate": False}))
    turn("v1", ("guide_answer", {"guide": GUIDE_B}), channel="voice")
    invited["v1"] = turn("v1", ("goodbye", {}), channel="voice")
    turn("v2", ("fallback", {"attempt": 1}), channel="voice")

    ratings.rate("w1", 5)
    voice_payload = invited["v1"][-1].buttons[1].payload              # keypad 2 = 满意
    thanks = rate_by_button("v1", voice_payload, channel="voice")
    assert thanks[0].kind == "rating_thanks" and thanks[0].data["level"] == 4
    ratings.rate("w3", 1, tags=["等待太久"])
    ratings.rate("w6", 3, number=number)

    now = datetime.now(timezone.utc)
    first = ticket("T1", "城乡建设", "住建局", created=now, due=day + timedelta(days=10))
    ticket("T2", "城乡建设", "住建局", created=now, due=day + timedelta(days=10), duplicate_of=first)
    ticket("T3", "生态环境", "生态环境局", created=now, due=day + timedelta(days=10))
    ticket("T0", "市场监管", "市场监管局", created=now - timedelta(days=20), due=day - timedelta(days=3))
    ticket("T9", "市场监管", "市场监管局", created=now - timedelta(days=20), due=day - timedelta(days=3),
           state="resolved")
    return {"day": day, "invited": invited, "number": number, "agent": agent}


def test_figures_of_a_scripted_day(scripted_day):
    day = scripted_day["day"]
    m = metrics.metrics(day - timedelta(days=1), day)
    today = m["by_day"][1]
    assert m["by_day"][0]["day"] == (day - timedelta(days=1)).isoformat()
    assert (m["by_day"][0]["conversations"], m["by_day"][0]["turns"]) == (1, 1)
    assert (today["conversations"], today["turns"], today["by_channel"]) == (8, 14, {"voice": 2, "web": 6})
    assert (m["conversations"], m["turns"], m["assistant_turns"]) == (9, 15, 14)

    only = metrics.metrics(day, day)
    assert (only["conversations"], only["turns"], only["assistant_turns"], only["unanswered_turns"]) == (8, 14, 13, 3)
    assert only["handoff_conversations"] == 2
    assert only["handoff_rate"] == 0.25 and only["containment_rate"] == 0.75
    assert only["unanswered_rate"] == round(3 / 13, 4)
    assert only["ratings"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 1}
    assert only["ratings_summary"]["satisfaction_rate"] == 0.75
    assert only["ratings_summary"]["by_served_by"] == {"agent": 1, "assistant": 3}
    assert [(a["agent"], a["ratings"]) for a in only["ratings_summary"]["by_agent"]] == [("坐席007", 1)]
    assert only["by_channel"] == [{"channel": "voice", "conversations": 2, "turns": 3},
                                  {"channel": "web", "conversations": 6, "turns": 11}]
    assert only["top_guides"] == [{"guide": GUIDE_A, "count": 2}, {"guide": GUIDE_B, "count": 2}]
    h = only["handoff"]
    assert (h["requested"], h["connected"], h["cancelled"], h["closed"]) == (2, 1, 1, 1)
    assert h["wait_seconds"]["average"] == 90 and h["wait_seconds"]["max"] == 90
    assert [b["count"] for b in h["wait_buckets"]] == [0, 0, 1, 0, 0]          # 1-2 minutes
    [trend] = only["satisfaction_trend"]
    assert (trend["ratings"], trend["average_level"], trend["bad"]) == (4, 3.25, 1)

    t = only["tickets"]
    assert (t["total"], t["duplicates"]) == (2, 1)
    assert t["by_category"] == [{"category": "城乡建设", "count": 1}, {"category": "生态环境", "count": 1}]
    assert {d["department"] for d in t["by_department"]} == {"住建局", "生态环境局"}
    assert t["overdue"]["count"] == 1 and t["overdue"]["items"][0]["number"] == "T0"

    f = only["followups"]
    assert (f["bad_ratings"], f["open"], f["followup_rate"]) == (1, 1, 0.0)
    assert f["due"][0]["sender"] == "w3" and f["due"][0]["level"] == 1


def test_the_follow_up_rate_counts_called_back_bad_ratings(scripted_day, make_staff):
    supervisor = make_staff("supervisor").principal
    [task] = ratings.followups()
    ratings.call_back(task["id"], supervisor, findings="等待时坐席全忙", rectification="高峰增加排班",
                      caller_response="基本满意")
    day = scripted_day["day"]
    f = metrics.metrics(day, day)["followups"]
    assert (f["called_back"], f["followup_rate"], f["open"], f["in_progress"]) == (1, 1.0, 0, 1)


def test_rating_invitations_in_the_scripted_day(scripted_day):
    invited = scripted_day["invited"]
    assert invited["w1"][-1].kind == "rating_request" and invited["w1"][-1].data["subject"] == "conversation"
    assert invited["w6"][-1].kind == "rating_request" and invited["w6"][-1].data["number"] == scripted_day["number"]
    assert invited["v1"][-1].data["levels"][1] == {"level": 4, "label": "满意", "key": "2"}
    # never twice: another goodbye of the same conversation gets no invitation
    again = turn("w1", ("goodbye", {}))
    assert [m.kind for m in again] == ["goodbye"]
    # and a rating payload for a rated conversation says so instead of rating again
    reply = rate_by_button("w1", '/rate{"level": 1}')
    assert reply[0].kind == "rating_thanks" and reply[0].data["already_rated"] is True


def test_a_turn_is_answered_even_when_recording_fails(staff_db, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(conversation_events, "record", broken)
    out = turn("w-broken", ("guide_answer", {"guide": GUIDE_A}))
    assert [m.kind for m in out] == ["guide_answer"]


def test_date_ranges(staff_db):
    assert metrics.parse_range("2026-09-01", "2026-09-07") == (date(2026, 9, 1), date(2026, 9, 7))
    assert metrics.parse_range(None, None, on=date(2026, 9, 7)) == (date(2026, 9, 1), date(2026, 9, 7))
    for since, until in [("2026-09-08", "2026-09-07"), ("2026-9-x", None), ("2024-01-01", "2026-01-01")]:
        with pytest.raises(ValueError):
            metrics.parse_range(since, until)


# -- the API -------------------------------------------------------------------------------------------------------
def test_dashboard_and_follow_up_apis_refuse_anonymous_and_agents(staff_client, make_staff):
    agent = make_staff("agent")
    for method, path in [("GET", "/api/dashboard/metrics"), ("GET", "/api/dashboard/csv/by_day"),
                         ("GET", "/api/followups"), ("POST", "/api/followups/1/callback"),
                         ("POST", "/api/followups/1/close"), ("GET", "/api/supervisor/appeals"),
                         ("POST", "/api/supervisor/ratings/1/appeal"), ("POST", "/api/supervisor/appeals/1/decide")]:
        anonymous = staff_client.request(method, path)
        assert anonymous.status_code == 401 and anonymous.json()["detail"]["code"] == "not_authenticated", path
        refused = staff_client.request(method, path, headers=agent.headers)
        assert refused.status_code == 403 and refused.json()["detail"]["code"] == "forbidden", path
    page = staff_client.get("/dashboard")
    assert page.status_code == 200 and "运行看板" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_dashboard_metrics_and_csv_for_a_supervisor(staff_client, scripted_day, make_staff):
    supervisor = make_staff("supervisor")
    day = scripted_day["day"].isoformat()
    r = staff_client.get(f"/api/dashboard/metrics?from={day}&to={day}", headers=supervisor.headers)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert {"conversations", "turns", "containment_rate", "handoff_rate", "unanswered_rate", "ratings",
            "by_day"} <= set(body)
    assert (body["conversations"], body["turns"], body["ratings"]["5"]) == (8, 14, 1)
    for figure in metrics.FIGURES:
        csv_r = staff_client.get(f"/api/dashboard/csv/{figure}.csv?from={day}&to={day}", headers=supervisor.headers)
        assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv"), figure
        rows = list(csv.reader(io.StringIO(csv_r.text.lstrip("\ufeff"))))
        assert rows and rows[0], figure
    by_day = list(csv.reader(io.StringIO(staff_client.get(f"/api/dashboard/csv/by_day?from={day}&to={day}",
                                                           headers=supervisor.headers).text.lstrip("\ufeff"))))
    assert by_day[1][:3] == [day, "8", "14"]
    bad = staff_client.get("/api/dashboard/metrics?from=2026-09-09&to=2026-09-01", headers=supervisor.headers)
    assert bad.status_code == 400 and bad.json()["detail"]["code"] == "invalid_date_range"
    unknown = staff_client.get("/api/dashboard/csv/nope", headers=supervisor.headers)
    assert unknown.status_code == 404 and unknown.json()["detail"]["code"] == "unknown_figure"


def test_follow_up_and_appeal_apis(staff_client, scripted_day, make_staff):
    first, second = make_staff("supervisor"), make_staff("supervisor")
    listed = staff_client.get("/api/followups", headers=first.headers).json()["followups"]
    [task] = listed
    assert {"sender", "number", "level", "due", "state"} <= set(task) and task["state"] == "open"
    url = f"/api/followups/{task['id']}"
    early = staff_client.post(url + "/close", headers=first.headers)
    assert early.status_code == 409 and early.json()["detail"]["code"] == "invalid_state"
    missing = staff_client.post(url + "/callback", json={"caller_response": "满意"}, headers=first.headers)
    assert missing.status_code == 400 and missing.json()["detail"]["field"] == "findings"
    done = staff_client.post(url + "/callback", json={"findings": "坐席全忙", "rectification": "增加排班",
                                                      "caller_response": "满意"}, headers=first.headers)
    assert done.status_code == 200 and done.json()["followup"]["state"] == "called_back"
    assert staff_client.post(url + "/close", headers=first.headers).json()["followup"]["state"] == "closed"
    assert staff_client.get("/api/followups", headers=first.headers).json()["followups"] == []
    assert staff_client.post("/api/followups/999/close", headers=first.headers).status_code == 404

    rating_id = task["rating_id"]
    filed = staff_client.post(f"/api/supervisor/ratings/{rating_id}/appeal",
                              json={"reason": "mistake", "note": "市民说点错了"}, headers=first.headers)
    assert filed.status_code == 201, filed.text
    appeal_id = filed.json()["appeal"]["id"]
    own = staff_client.post(f"/api/supervisor/appeals/{appeal_id}/decide", json={"decision": "uphold", "note": "同意"},
                            headers=first.headers)
    assert own.status_code == 403 and own.json()["detail"]["code"] == "rating_not_allowed"
    ok = staff_client.post(f"/api/supervisor/appeals/{appeal_id}/decide", json={"decision": "uphold", "note": "核实"},
                           headers=second.headers)
    assert ok.status_code == 200 and ok.json()["appeal"]["state"] == "upheld"
    day = scripted_day["day"].isoformat()
    body = staff_client.get(f"/api/dashboard/metrics?from={day}&to={day}", headers=first.headers).json()
    assert body["ratings"]["1"] == 0 and body["ratings_summary"]["excluded"] == 1
    kept = staff_client.get(f"/api/supervisor/ratings?from={day}&to={day}&level=1", headers=first.headers).json()
    assert [r["status"] for r in kept["ratings"]] == ["excluded"]             # never deleted


def test_post_ratings(staff_client, scripted_day, monkeypatch):
    from core.settings import get_settings

    def own(sender: str) -> dict:
        return {"sender": sender, "token": senders.token_for(sender)}

    turn("w-api", ("guide_answer", {"guide": GUIDE_A}))
    r = staff_client.post("/api/ratings", json={**own("w-api"), "level": 2, "tags": ["答案不准确"],
                                                "comment": "材料写错了"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["rating"]["level"] == 2 and body["rating"]["guide"] == GUIDE_A
    assert body["message"]["kind"] == "rating_thanks" and body["message"]["data"]["followup"] is True
    again = staff_client.post("/api/ratings", json={**own("w-api"), "level": 5})
    assert again.status_code == 409 and again.json()["detail"]["code"] == "already_rated"
    for bad, field in [({**own("w-api"), "level": 9}, "level"), ({"sender": "w api", "level": 3}, "sender"),
                       ({**own("w-api"), "level": 3, "extra": 1}, "extra"), ([1, 2], "body")]:
        refused = staff_client.post("/api/ratings", json=bad)
        assert refused.status_code == 400 and refused.json()["detail"]["code"] == "invalid_rating", bad
        assert refused.json()["detail"]["field"] == field
    stranger = staff_client.post("/api/ratings", json={"sender": "w2", "level": 1})     # no token: not theirs
    assert stranger.status_code == 403 and stranger.json()["detail"]["code"] == "sender_forbidden"
    forged = staff_client.post("/api/ratings", json={"sender": "w2", "token": senders.token_for("w3"), "level": 1})
    assert forged.status_code == 403
    unknown = staff_client.post("/api/ratings", json={**own("never-talked"), "level": 3})
    assert unknown.status_code == 404 and unknown.json()["detail"]["code"] == "rating_subject_not_found"
    foreign = staff_client.post("/api/ratings", json={**own("w1"), "level": 3, "number": scripted_day["number"]})
    assert foreign.status_code == 404
    assert staff_client.post("/api/ratings", content=b"{oops",
                             headers={"Content-Type": "application/json"}).status_code == 400

    monkeypatch.setenv("RATINGS_PER_MINUTE", "2")
    get_settings.cache_clear()
    staff_client.app.state.ratings_limiter = None
    codes = [staff_client.post("/api/ratings", json={**own("w2"), "level": 3}).status_code for _ in range(3)]
    assert codes == [201, 409, 429]


def test_a_turn_counts_at_once_though_its_row_is_written_a_moment_later(staff_db):
    """Turn rows are gathered and written in batches (core/conversation_events.py `defer`): the dashboard and a
    rating right after the turn still see it, and another process sees it within a second without any reader."""
    day = today_local()
    turn("web-batched-1", ("guide_answer", {"guide": GUIDE_A}))
    m = metrics.metrics(day, day)
    assert (m["conversations"], m["turns"]) == (1, 1)

    turn("web-batched-2", ("guide_answer", {"guide": GUIDE_B}))   # rated at once, as a quick caller would
    [thanks] = rate_by_button("web-batched-2", '/rate{"level": 5}')
    assert thanks.kind == "rating_thanks"
    assert ratings.list_ratings(since=day, until=day)[0]["guide"] == GUIDE_B   # attributed to the turn just answered

    turn("web-batched-3", ("text", {}))
    key = senders.conversation_key("web-batched-3")
    stored = 0
    for _ in range(40):   # nobody reads: the writer thread stores it on its own
        with session_scope() as session:
            stored = session.scalar(select(func.count()).select_from(ConversationEvent)
                                    .where(ConversationEvent.conversation == key))
        if stored:
            break
        time.sleep(0.05)
    assert stored == 1


def test_turn_rows_wait_for_a_database_that_refused_them(staff_db):
    """While the events table cannot be written, the turns' rows are kept and stored once it can."""
    from sqlalchemy import text

    from core.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(text("ALTER TABLE conversation_events RENAME TO conversation_events_away"))
    turn("web-refused-1", ("guide_answer", {"guide": GUIDE_A}))
    turn("web-refused-2", ("text", {}))
    assert conversation_events.flush() is False
    with get_engine().begin() as conn:
        conn.execute(text("ALTER TABLE conversation_events_away RENAME TO conversation_events"))
    assert conversation_events.flush() is True
    day = today_local()
    m = metrics.metrics(day, day)
    assert (m["conversations"], m["turns"]) == (2, 2)
