"""The ticket desk's rules (core/tickets/desk.py) on a throw-away database: the life cycle and its refusals,
return (退回) and re-dispatch, reclassification from the taxonomy and routing, replies the caller sees and notes
the caller does not, reveal with a reason, overdue in working days, callers per problem, hot issues, audit.

Tickets are filed through core.tickets.service.file_ticket, as every channel does; the classifier is replaced
by a small keyword table so the tests do not depend on the trained model.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from core.db import session_scope
from core.models import Ticket, utcnow
from core.staff import audit_entries
from core.tickets import desk, service
from core.tickets.desk import Filters, InvalidInput, InvalidTransition, TicketNotFound
from core.tickets.routing import load_routing
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401
from tests.ticket_fixtures import HEATING, desk_db  # noqa: F401
from tests.ticket_fixtures import file_ticket as file


@pytest.fixture
def agent(desk_db, make_staff):
    return make_staff("agent", display_name="坐席007").principal


def public(number: str) -> dict:
    with session_scope() as session:
        return service.public_view(session, session.scalar(select(Ticket).where(Ticket.number == number)))


def set_row(number: str, **values) -> None:
    with session_scope() as session:
        session.execute(update(Ticket).where(Ticket.number == number).values(**values))


def actions(number: str) -> list[str]:
    with session_scope() as session:
        return [e.action for e in reversed(audit_entries(session, target_type="ticket", target_id=number))]


# -- life cycle ------------------------------------------------------------------------------------------------------
def test_a_ticket_moves_along_its_life_cycle_and_nowhere_else(agent):
    number = file("幸福小区3号楼门口的路灯坏了一个多月了，晚上出门很不方便", "幸福小区3号楼")
    view = desk.ticket_view(number)
    assert view["state"] == "accepted" and view["department"] == "市城市管理综合执法局"
    assert view["can"]["advance"] == ["dispatched"] and view["can"]["return"] is False

    with pytest.raises(InvalidTransition) as skipped:
        desk.advance(number, agent, "resolved")
    assert "已受理" in skipped.value.message and "已派单" in skipped.value.message
    assert skipped.value.detail["allowed"] == ["dispatched"]
    with pytest.raises(InvalidTransition) as returned:
        desk.advance(number, agent, "returned")
    assert "退回原因" in returned.value.message
    with pytest.raises(InvalidInput):
        desk.advance(number, agent, "closed")

    for state in ("dispatched", "in_progress", "resolved", "visited"):
        view = desk.advance(number, agent, state)
        assert view["state"] == state
    with pytest.raises(InvalidTransition) as done:
        desk.advance(number, agent, "visited")
    assert "流程已结束" in done.value.message

    seen = public(number)
    assert seen["state_label"] == "已回访"
    assert [p["text"] for p in seen["progress"]] == [
        "已受理，转市城市管理综合执法局办理", "已派单至市城市管理综合执法局", "市城市管理综合执法局正在办理", "已办结", "已回访"]
    assert actions(number) == ["ticket.advance"] * 4
    with session_scope() as session:
        entry = audit_entries(session, action="ticket.advance", target_id=number, limit=1)[0]
        assert entry.staff_id == agent.staff_id and entry.detail == {
            "state_from": "resolved", "state": "visited", "note": ""}


def test_two_staff_advancing_at_once_get_one_change_and_one_clear_error(agent, make_staff):
    number = file("新华大街的路灯全都不亮", "新华大街")
    other = make_staff("supervisor").principal
    desk.advance(number, agent, "dispatched")
    with pytest.raises(InvalidTransition) as late:
        desk.advance(number, other, "dispatched")
    assert late.value.detail["state"] == "dispatched"
    assert [e["kind"] for e in desk.ticket_view(number)["events"]].count("state") == 1


def test_an_unsure_ticket_waits_for_manual_classification_before_dispatch(agent):
    number = file("单位把我的社保断缴了三个月，问了也不给说法", "东胜区")
    queue = desk.manual_queue()
    assert [t["number"] for t in queue["tickets"]] == [number]
    assert queue["tickets"][0]["classification"] == "pending" and queue["tickets"][0]["department"] == ""
    with pytest.raises(InvalidTransition) as unclassified:
        desk.advance(number, agent, "dispatched")
    assert "尚未分类" in unclassified.value.message
    assert desk.ticket_view(number)["can"]["advance"] == []

    with pytest.raises(InvalidInput) as wrong:
        desk.reclassify(number, agent, "劳动和社会保障", "环境污染", "噪音污染")
    assert wrong.value.detail["field"] == "level2"
    with pytest.raises(InvalidInput) as bad_department:
        desk.reclassify(number, agent, "劳动和社会保障", "城镇职工社会保险", "职工养老保险", department="市住建局")
    assert bad_department.value.detail["field"] == "department"

    level2, level3 = "城镇职工社会保险", "职工养老保险"
    view = desk.reclassify(number, agent, "劳动和社会保障", level2, level3)
    assert (view["level1"], view["level2"], view["level3"]) == ("劳动和社会保障", level2, level3)
    assert view["classification"] == "manual"
    assert view["department"] == load_routing().department("劳动和社会保障", level2, level3)
    event = view["events"][-1]
    assert event["kind"] == "reclassify" and event["public"] is False and event["staff_name"] == "坐席007"
    assert event["data"]["before"]["classification"] == "pending"
    assert desk.manual_queue()["total"] == 0
    assert desk.advance(number, agent, "dispatched")["state"] == "dispatched"
    assert actions(number) == ["ticket.reclassify", "ticket.advance"]


def test_a_department_returns_a_ticket_and_it_is_dispatched_again(agent):
    number = file("锦绣家园小区供暖不达标，暖气片是凉的", "锦绣家园")
    with pytest.raises(InvalidTransition):
        desk.return_ticket(number, agent, "不属于我局职责")          # not dispatched yet: nobody has it
    desk.advance(number, agent, "dispatched")
    with pytest.raises(InvalidInput) as no_reason:
        desk.return_ticket(number, agent, " ")
    assert no_reason.value.detail["field"] == "reason"

    view = desk.return_ticket(number, agent, "该小区由热力公司直供，不属于我局职责，联系人电话13812345678")
    assert view["state"] == "returned" and view["classification"] == "pending" and view["department"] == ""
    assert view["returned_by"] == ["市住房和城乡建设局"]
    returned = view["events"][-1]
    assert returned["kind"] == "return" and "热力公司直供" in returned["data"]["reason"]
    assert "13812345678" not in str(view)                                    # stored masked
    assert [t["number"] for t in desk.manual_queue()["tickets"]] == [number]
    seen = public(number)                                                     # the caller sees the state, not why
    assert seen["state_label"] == "退回" and "热力公司" not in str(seen)
    assert seen["progress"][-1]["text"] == "承办单位退回，工单正在重新确定承办单位。"
    with pytest.raises(InvalidInput) as back_there:                          # reassigned where it was refused
        desk.reassign(number, agent, "市住房和城乡建设局")
    assert back_there.value.detail["field"] == "note" and "已退回" in back_there.value.message

    with pytest.raises(InvalidInput) as same_again:                          # routing would send it back there
        desk.reclassify(number, agent, *HEATING)
    assert "已退回" in same_again.value.message
    view = desk.reclassify(number, agent, *HEATING, department="市城市管理综合执法局")
    assert view["department"] == "市城市管理综合执法局" and view["can"]["advance"] == ["dispatched"]
    view = desk.advance(number, agent, "dispatched")
    assert view["state"] == "dispatched" and public(number)["progress"][-1]["text"] == "已派单至市城市管理综合执法局"
    assert actions(number) == ["ticket.advance", "ticket.return", "ticket.reclassify", "ticket.advance"]


def test_reassigning_moves_a_ticket_at_work_to_the_new_department(agent):
    number = file("阳光花园5栋旁边工地半夜打桩，吵得睡不着", "阳光花园5栋")
    with pytest.raises(InvalidInput):
        desk.reassign(number, agent, "不存在的局")
    with pytest.raises(InvalidInput):
        desk.reassign(number, agent, "市生态环境局")                           # already theirs
    desk.advance(number, agent, "dispatched")
    desk.advance(number, agent, "in_progress")
    view = desk.reassign(number, agent, "市城市管理综合执法局", note="夜间施工归城管审批")
    assert view["department"] == "市城市管理综合执法局" and view["state"] == "dispatched"
    assert public(number)["progress"][-1]["text"].endswith("已改派至市城市管理综合执法局")
    with session_scope() as session:
        entry = audit_entries(session, action="ticket.reassign", target_id=number)[0]
        assert entry.detail["department_from"] == "市生态环境局"


# -- what the caller sees ----------------------------------------------------------------------------------------------
def test_replies_reach_the_caller_and_notes_stay_internal(agent):
    number = file("新华大街的路灯全都不亮，晚上特别黑", "新华大街", phone="13947761207")
    desk.advance(number, agent, "dispatched")
    desk.reply(number, agent, "您反映的问题已转城管部门，预计三个工作日内修复。")
    desk.note(number, agent, "市民情绪激动，回访时注意。另一位市民电话13812345678")
    with pytest.raises(InvalidInput):
        desk.reply(number, agent, "   ")
    with pytest.raises(InvalidInput):
        desk.note(number, agent, "字" * (desk.MAX_TEXT + 1))

    outcome = service.check_progress(number, "1207", requester="unit-desk")
    assert outcome.result == "ok"
    texts = [p["text"] for p in outcome.view["progress"]]
    assert "您反映的问题已转城管部门，预计三个工作日内修复。" in texts
    assert not any("情绪激动" in t for t in texts)
    staff_events = desk.ticket_view(number)["events"]
    note = next(e for e in staff_events if e["kind"] == "note")
    assert note["public"] is False and "13812345678" not in note["text"] and "138****5678" in note["text"]
    assert actions(number) == ["ticket.advance", "ticket.reply", "ticket.note"]


def test_the_phone_is_masked_and_revealed_only_with_a_reason(agent):
    number = file("我家门口的路灯坏了", "新华大街18号", phone="13947761207", caller_name="王小明")
    anonymous = file("举报有人偷倒建筑垃圾", "河滨路", appeal_type="举报", phone=None, anonymous=True,
                     reply_wanted=False)
    view = desk.ticket_view(number)
    assert view["phone"] == "139****1207" and view["caller_name"] == "王**"
    assert "13947761207" not in str(view) and "王小明" not in str(view)
    assert "13947761207" not in str(desk.list_tickets())
    with pytest.raises(InvalidInput) as no_reason:
        desk.reveal(number, agent, "phone", "")
    assert no_reason.value.detail["field"] == "reason"
    with pytest.raises(InvalidInput):
        desk.reveal(number, agent, "description", "核实")
    with pytest.raises(InvalidInput):
        desk.reveal(anonymous, agent, "phone", "回访市民")
    with pytest.raises(TicketNotFound):
        desk.reveal("GD20250101XXXXXX", agent, "phone", "回访市民")
    assert desk.reveal(number, agent, "phone", "回访市民") == "13947761207"
    assert desk.reveal(number, agent, "caller_name", "回访称呼") == "王小明"
    with session_scope() as session:
        entries = audit_entries(session, action="ticket.reveal", target_id=number)
        assert [(e.staff_id, e.detail["field"], e.detail["reason"]) for e in reversed(entries)] == [
            (agent.staff_id, "phone", "回访市民"), (agent.staff_id, "caller_name", "回访称呼")]


# -- deadlines, filters --------------------------------------------------------------------------------------------------
def test_overdue_counts_working_days_across_the_national_day_holiday(agent):
    late = file("东胜区华府小区路灯不亮", "华府小区")
    done = file("天骄路的路灯白天也亮着，浪费电", "天骄路")
    set_row(late, due=date(2026, 9, 30))
    set_row(done, due=date(2026, 9, 30), state="resolved")

    on_the_day = desk.list_tickets(Filters(state="open"), today=date(2026, 9, 30))["tickets"][0]
    assert on_the_day["overdue"] is False and on_the_day["working_days_left"] == 0
    before = desk.list_tickets(Filters(state="open"), today=date(2026, 9, 28))["tickets"][0]
    assert before["working_days_left"] == 2

    # 1-7 October are holidays: eight calendar days later the ticket is one working day overdue
    after = desk.list_tickets(Filters(overdue=True), today=date(2026, 10, 8))
    assert [t["number"] for t in after["tickets"]] == [late]                # a resolved ticket is never overdue
    assert after["tickets"][0]["overdue_working_days"] == 1
    assert desk.list_tickets(Filters(overdue=True), today=date(2026, 10, 12))["tickets"][0][
        "overdue_working_days"] == 4                                          # 8, 9, Sat 10 (调休) and 12 October
    assert [t["number"] for t in desk.list_tickets(Filters(overdue=False), today=date(2026, 10, 8))["tickets"]] == [
        done]
    assert desk.counts(today=date(2026, 10, 8))["overdue"] == 1


def test_list_filters_search_and_paging(agent):
    light = file("新华大街的路灯不亮", "新华大街", appeal_type="投诉")
    noise = file("广场舞噪音太大，每天晚上十点还在跳", "人民广场", appeal_type="投诉")
    idea = file("建议在滨河公园多装几盏路灯", "滨河公园", appeal_type="建议")
    unsure = file("小区物业把消防通道锁了", "康和小区")
    desk.advance(noise, agent, "dispatched")

    def numbers(**kwargs) -> set[str]:
        return {t["number"] for t in desk.list_tickets(Filters(**kwargs), per_page=100)["tickets"]}

    assert numbers() == {light, noise, idea, unsure}
    assert numbers(state="dispatched") == {noise}
    assert numbers(state="open") == {light, noise, idea, unsure} and numbers(state="done") == set()
    assert numbers(level1="城乡建设") == {light, idea}
    assert numbers(department="市生态环境局") == {noise}
    assert numbers(appeal_type="建议") == {idea}
    assert numbers(pending=True) == {unsure} and numbers(pending=False) == {light, noise, idea}
    assert numbers(q="广场舞") == {noise} and numbers(q="滨河") == {idea} and numbers(q=light[-6:]) == {light}
    assert numbers(q="路灯 公园") == {idea}
    assert numbers(q="100%_") == set()
    with pytest.raises(InvalidInput):
        desk.list_tickets(Filters(state="lost"))
    with pytest.raises(InvalidInput):
        desk.list_tickets(Filters(appeal_type="表扬"))

    first = desk.list_tickets(per_page=3, order="new")
    second = desk.list_tickets(per_page=3, page=2, order="new")
    assert first["total"] == 4 and first["pages"] == 2 and len(first["tickets"]) == 3
    assert [t["number"] for t in second["tickets"]] == [light]              # the oldest last
    counts = desk.counts()
    assert counts["accepted"] == 3 and counts["dispatched"] == 1 and counts["pending"] == 1


# -- callers per problem, hot issues ---------------------------------------------------------------------------------
def test_callers_count_follows_duplicate_links(agent):
    first = file("幸福小区3号楼门口的路灯坏了一个多月了，晚上出门很不方便", "幸福小区3号楼")
    second = file("幸福小区3号楼门口路灯不亮，一个多月了没人修", "幸福小区3号楼门口")
    third = file("幸福小区3号楼那边路灯坏了很久了", "幸福小区3号楼")
    listed = desk.list_tickets()["tickets"]
    assert [(t["number"], t["callers"]) for t in listed] == [(first, 3)]     # linked tickets hidden by default
    everything = {t["number"]: t for t in desk.list_tickets(Filters(duplicates=True))["tickets"]}
    assert everything[second]["duplicate_of"] == first and everything[third]["duplicate_of"] == first
    view = desk.ticket_view(first)
    assert view["callers"] == 3 and [t["number"] for t in view["linked"]] == [second, third]

    with pytest.raises(InvalidTransition) as linked:
        desk.advance(second, agent, "dispatched")
    assert first in linked.value.message and linked.value.detail["original"] == first
    with pytest.raises(InvalidTransition):
        desk.reply(second, agent, "已处理")
    desk.note(second, agent, "同一盏灯")                                       # notes are fine
    view = desk.unlink(third, agent, "是3号楼后面另一盏灯")
    assert view["duplicate_of"] is None and view["can"]["advance"] == ["dispatched"]
    assert desk.ticket_view(first)["callers"] == 2
    assert "ticket.unlink" in actions(third)


def test_hot_issues_cluster_similar_recent_tickets_biggest_first(agent):
    lights = [file("幸福小区3号楼门口的路灯坏了一个多月了，晚上出门很不方便", "幸福小区3号楼"),
              file("幸福小区3号楼门口路灯不亮，一个多月了没人修", "幸福小区3号楼门口"),
              file("幸福小区3号楼那边路灯坏了很久了", "幸福小区3号楼")]
    heating = [file("暖气不热，家里只有十五度，老人孩子都冻感冒了", "锦绣家园2栋"),
               file("暖气一点都不热，家里只有十五度，孩子冻感冒了", "阳光花园5栋")]
    old = file("暖气不热屋里才十五度", "华府小区")
    single = file("广场舞噪音太大，每天晚上十点还在跳", "人民广场")
    elsewhere = file("幸福小区3号楼门口的垃圾一个多月了没人清运", "幸福小区3号楼")   # same place, another problem
    set_row(old, created_at=utcnow() - timedelta(days=10))

    hot = desk.hot_issues(days=7)
    assert hot["days"] == 7 and hot["tickets_seen"] == 7
    assert [(c["size"], set(c["tickets"])) for c in hot["clusters"]] == [(3, set(lights)), (2, set(heating))]
    top = hot["clusters"][0]
    assert top["lead"] == lights[0] and top["place"] == "幸福小区3号楼" and top["open"] == 3
    assert top["departments"] == ["市城市管理综合执法局"] and top["states"] == {"已受理": 3}
    assert single not in str(hot) and elsewhere not in str(hot)

    wider = desk.hot_issues(days=14)
    assert {frozenset(c["tickets"]) for c in wider["clusters"]} == {frozenset(lights), frozenset({*heating, old})}
    assert desk.hot_issues(days=7, min_size=3)["clusters"][0]["tickets"] == lights       # in filing order
    assert len(desk.hot_issues(days=7, limit=1)["clusters"]) == 1


def test_unknown_tickets_are_not_found(agent):
    for call in (lambda: desk.ticket_view("GD20250101XXXXXX"), lambda: desk.reply("nope", agent, "好的"),
                 lambda: desk.advance("GD20250101XXXXXX", agent, "dispatched")):
        with pytest.raises(TicketNotFound):
            call()


def test_options_offer_the_taxonomy_and_the_routing_departments(desk_db):
    options = desk.options()
    assert len(options["taxonomy"]) == 15 and "噪音污染" in options["taxonomy"]["环境保护"]["环境污染"]
    assert "市生态环境局" in options["departments"] and options["routing_error"] is None
    assert options["transitions"]["returned"] == ("dispatched",)
    assert [s["label"] for s in options["states"]] == ["已受理", "已派单", "办理中", "已办结", "已回访", "退回"]
