"""Filing tickets (工单): numbers, deadlines in working days, routing, the manual queue, duplicates, progress."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import session_scope
from core.models import Ticket, TicketEvent
from core.tickets import service
from core.validators import today_local
from core.verification import LockPolicy
from core.workdays import add_working_days
from tests.staff_fixtures import staff_db  # noqa: F401

STREET_LIGHTS = {"level1": "城乡建设", "level2": "市政设施", "level3": "路灯", "department": "市城市管理综合执法局",
                 "confidence": 0.93, "manual": False}


@pytest.fixture
def classified(staff_db, monkeypatch):  # noqa: F811
    """The classifier's answer is fixed here; tests/unit/test_ticket_classifier.py covers the model."""
    answer = dict(STREET_LIGHTS)
    monkeypatch.setattr(service, "classify", lambda text: dict(answer))
    return answer


def appeal(**kw) -> service.Appeal:
    base = dict(appeal_type="投诉", description="幸福小区门口的路灯坏了好几天了，晚上很黑", address="幸福小区门口",
                occurred="好几天了", caller_name="王芳", phone="13947761207", sender="caller-1")
    base.update(kw)
    return service.Appeal(**base)


def test_ticket_numbers_match_the_nlu_regex():
    import re
    from pathlib import Path

    import yaml

    nlu = yaml.safe_load((Path(__file__).resolve().parents[2] / "nlu" / "data" / "basics.yml").read_text("utf-8"))
    patterns = next(e["examples"] for e in nlu["nlu"] if e.get("regex") == "application_number")
    regex = re.compile("|".join(line.strip().lstrip("- ").strip() for line in patterns.strip().splitlines()))
    numbers = {service.new_number() for _ in range(500)}
    assert len(numbers) == 500 and all(regex.fullmatch(n) and service.NUMBER_PATTERN.fullmatch(n) for n in numbers)


def test_a_filed_ticket_has_a_number_department_and_working_day_deadline(classified):
    filed = service.file_ticket(appeal())
    view = filed.view
    assert filed.created and filed.duplicate is None
    assert service.NUMBER_PATTERN.fullmatch(view["number"])
    assert (view["level1"], view["level3"], view["department"]) == ("城乡建设", "路灯", "市城市管理综合执法局")
    assert view["due"] == add_working_days(today_local(), 5).isoformat()
    assert view["state"] == "accepted" and view["state_label"] == "已受理"
    assert view["progress"][0]["text"].startswith("已受理")
    assert "13947761207" not in str(view)           # the public view carries no phone


def test_help_requests_are_due_sooner_and_configurable(classified, monkeypatch):
    assert service.file_ticket(appeal(appeal_type="求助", description="我家水管冻裂了，求助找人来修")).view["due"] == \
        add_working_days(today_local(), 2).isoformat()
    monkeypatch.setenv("TICKET_REPLY_DAYS", "投诉=7,urgent=1")
    from core.settings import get_settings
    get_settings.cache_clear()
    assert service.file_ticket(appeal(description="路灯还是不亮，第二次反映", sender="caller-9")).view["due"] == \
        add_working_days(today_local(), 7).isoformat()


def test_a_help_request_for_an_old_person_without_heating_is_urgent(classified):
    view = service.file_ticket(appeal(appeal_type="求助", description="家里停暖三天了，八十岁的老人冻病了，求助")).view
    assert view["urgent"] and view["due"] == add_working_days(today_local(), 1).isoformat()


def test_personal_data_in_the_description_is_masked_when_stored(classified):
    filed = service.file_ticket(appeal(description="我是王芳，身份证150102198801011234，电话 139-4776-1207，路灯坏了"))
    with session_scope() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == filed.view["number"]))
        assert "150102198801011234" not in ticket.description and "13947761207" not in ticket.description
        assert ticket.phone == "13947761207"          # kept for the reply, shown to staff only on reveal


def test_an_unsure_classifier_sends_the_ticket_to_the_manual_queue(classified):
    classified.update(confidence=0.2, manual=True)
    view = service.file_ticket(appeal(description="那个事情一直没人管，烦死了")).view
    assert view["classification"] == "pending" and view["department"] == ""


def test_a_broken_classifier_loses_nothing(staff_db, monkeypatch):  # noqa: F811
    import core.tickets.classifier as classifier

    def boom(text):
        raise RuntimeError("model file missing")

    monkeypatch.setattr(classifier, "classify", boom)
    view = service.file_ticket(appeal()).view
    assert view["classification"] == "pending" and service.NUMBER_PATTERN.fullmatch(view["number"])


def test_the_same_appeal_confirmed_twice_is_filed_once(classified):
    first = service.file_ticket(appeal())
    again = service.file_ticket(appeal())
    assert not again.created and again.view["number"] == first.view["number"]


def test_a_second_caller_about_the_same_problem_is_linked(classified):
    first = service.file_ticket(appeal())
    second = service.file_ticket(appeal(description="幸福小区东门那边的路灯一直不亮，坏了好久了", address="幸福小区东门",
                                        sender="caller-2", caller_name="李", phone="13812345678"))
    assert second.created
    assert second.view["duplicate_of"] == first.view["number"]
    assert second.duplicate["number"] == first.view["number"] and second.duplicate["callers"] == 2
    with session_scope() as session:
        original = session.scalar(select(Ticket).where(Ticket.number == first.view["number"]))
        assert service.callers_count(session, original.id) == 2
        notes = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == original.id)).all()
        assert any(e.kind == "linked" and second.view["number"] in e.text for e in notes)


@pytest.mark.parametrize("other", [
    dict(description="幸福小区门口的垃圾好几天没人清运", sender="c3"),                      # another problem, same place
    dict(description="和平路的路灯坏了好几天了", address="和平路", sender="c4"),            # same problem, another place
])
def test_other_problems_or_places_are_not_duplicates(classified, other):
    service.file_ticket(appeal())
    if "垃圾" in other["description"]:
        classified.update(level2="环境卫生", level3="垃圾清运")
    assert service.file_ticket(appeal(**other)).view["duplicate_of"] is None


def test_closed_or_old_tickets_are_not_joined(classified, monkeypatch):
    first = service.file_ticket(appeal())
    with session_scope() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == first.view["number"]))
        ticket.created_at = ticket.created_at - timedelta(days=40)
    assert service.file_ticket(appeal(sender="c5", description="幸福小区门口路灯坏了")).view["duplicate_of"] is None


def test_progress_needs_the_number_and_the_phone_digits(classified):
    number = service.file_ticket(appeal()).view["number"]
    policy = LockPolicy(max_failures=3, lock_minutes=5, number_max_failures=100)
    ok = service.check_progress(number, "1207", requester="chat:a", policy=policy)
    assert ok.result == "ok" and ok.view["number"] == number and ok.view["state_label"] == "已受理"
    assert service.check_progress(number, "13947761207", requester="chat:a", policy=policy).result == "ok"
    wrong = service.check_progress(number, "0000", requester="chat:b", policy=policy)
    unknown = service.check_progress("GD20990101ABCDEF", "1207", requester="chat:b", policy=policy)
    assert wrong == unknown == service.StatusOutcome("denied")
    for digits in ("9999", "1111"):
        assert service.check_progress(number, digits, requester="chat:b", policy=policy).result == "denied"
    locked = service.check_progress(number, "1207", requester="chat:b", policy=policy)
    assert locked.result == "locked" and locked.retry_after > 0     # three wrong tries locked chat:b
    assert service.check_progress(number, "1207", requester="chat:c", policy=policy).result == "ok"


def test_anonymous_reports_without_a_phone_are_filed_but_cannot_be_checked_online(classified):
    view = service.file_ticket(appeal(appeal_type="举报", caller_name=None, phone=None, anonymous=True,
                                      reply_wanted=False, description="红旗村有黑作坊偷偷生产食品")).view
    assert view["appeal_type"] == "举报"
    assert service.check_progress(view["number"], "1207", requester="chat:x").result == "denied"


def test_bad_appeals_get_clear_errors(classified):
    with pytest.raises(service.TicketError) as err:
        service.file_ticket(appeal(appeal_type="吐槽", description="灯", phone="12345"))
    assert set(err.value.errors) == {"appeal_type", "description", "phone"}


def test_reply_days_setting_is_parsed_strictly():
    assert service.parse_days("咨询=3, 投诉=5,urgent=1") == {"咨询": 3, "投诉": 5, "urgent": 1}
    with pytest.raises(ValueError):
        service.parse_days("投诉=five")
