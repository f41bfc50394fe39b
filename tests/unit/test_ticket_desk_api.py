"""The ticket desk API (/api/staff/tickets, connectors/desk) on the real gateway app with staff accounts: who may
call it, CSRF for cookie sessions, the error contract, and a ticket worked end to end over HTTP until the caller's
progress check shows the reply and the state."""
from __future__ import annotations

import pytest

from core.db import session_scope
from core.staff import audit_entries
from core.settings import get_settings
from core.tickets import platforms, service
from tests.fakes.fake_ticket_platform_server import FakeTicketPlatform
from tests.staff_fixtures import make_staff, staff_client, staff_db  # noqa: F401
from tests.ticket_fixtures import desk_db, file_ticket  # noqa: F401

BASE = "/api/staff/tickets"


@pytest.fixture
def staff(desk_db, make_staff):
    return {"agent": make_staff("agent", display_name="坐席007"), "sup": make_staff("supervisor"),
            "editor": make_staff("editor")}


def detail(response) -> dict:
    return response.json()["detail"]


def test_desk_routes_need_a_login_and_the_agent_role(staff_client, staff):
    number = file_ticket("新华大街的路灯全都不亮", "新华大街")
    for method, path in [("GET", BASE), ("GET", f"{BASE}/manual"), ("GET", f"{BASE}/hot"), ("GET", f"{BASE}/options"),
                         ("GET", f"{BASE}/{number}"), ("POST", f"{BASE}/{number}/reply"),
                         ("POST", f"{BASE}/{number}/advance"), ("POST", f"{BASE}/{number}/reveal")]:
        anonymous = staff_client.request(method, path, json={})
        assert anonymous.status_code == 401 and detail(anonymous)["code"] == "not_authenticated", path
        editor = staff_client.request(method, path, json={}, headers=staff["editor"].headers)
        assert editor.status_code == 403 and detail(editor)["code"] == "forbidden", path
    for who in ("agent", "sup"):
        r = staff_client.get(BASE, headers=staff[who].headers)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


def test_cookie_sessions_need_the_csrf_header(staff_client, staff):
    number = file_ticket("新华大街的路灯全都不亮", "新华大街")
    login = staff_client.post("/api/staff/login", json={"username": staff["agent"].username,
                                                        "password": staff["agent"].password}).json()
    assert staff_client.get(f"{BASE}/{number}").status_code == 200              # reading: the cookie is enough
    refused = staff_client.post(f"{BASE}/{number}/notes", json={"text": "先核实"})
    assert refused.status_code == 403 and detail(refused)["code"] == "csrf_failed"
    ok = staff_client.post(f"{BASE}/{number}/notes", json={"text": "先核实"},
                           headers={"X-CSRF-Token": login["csrf_token"]})
    assert ok.status_code == 200 and ok.json()["events"][-1]["text"] == "先核实"


def test_errors_follow_the_contract(staff_client, staff):
    h = staff["agent"].headers
    number = file_ticket("新华大街的路灯全都不亮", "新华大街")
    missing = staff_client.get(f"{BASE}/GD20250101XXXXXX", headers=h)
    assert missing.status_code == 404 and detail(missing) == {"code": "ticket_not_found",
                                                              "message": "没有找到这个工单 / No such ticket"}
    skipped = staff_client.post(f"{BASE}/{number}/advance", json={"state": "resolved"}, headers=h)
    assert skipped.status_code == 409 and detail(skipped)["code"] == "ticket_invalid_state"
    assert detail(skipped)["state"] == "accepted" and detail(skipped)["allowed"] == ["dispatched"]
    assert "不能直接变为“已办结”" in detail(skipped)["message"]
    bad = staff_client.post(f"{BASE}/{number}/reclassify", json={"level1": "环境保护", "level2": "环境污染",
                                                                 "level3": "不存在"}, headers=h)
    assert bad.status_code == 422 and detail(bad)["code"] == "ticket_invalid_input" and detail(bad)["field"] == "level3"
    extra = staff_client.post(f"{BASE}/{number}/reply", json={"text": "好", "public": False}, headers=h)
    assert extra.status_code == 422 and detail(extra)["code"] == "invalid_request"
    assert staff_client.get(f"{BASE}?state=lost", headers=h).status_code == 422
    assert staff_client.get(f"{BASE}?per_page=1000", headers=h).status_code == 422
    off = staff_client.post(f"{BASE}/{number}/forward", headers=h)
    assert off.status_code == 409 and detail(off)["code"] == "platform_not_configured"


def test_a_ticket_is_worked_over_http_until_the_caller_sees_the_reply(staff_client, staff):
    h = staff["agent"].headers
    number = file_ticket("单位把我的社保断缴了三个月，问了也不给说法", "东胜区", phone="13947761207",
                         caller_name="王小明")
    queue = staff_client.get(f"{BASE}/manual", headers=h).json()
    assert [t["number"] for t in queue["tickets"]] == [number]
    listed = staff_client.get(BASE, params={"pending": "true", "state": "open"}, headers=h).json()
    assert listed["total"] == 1 and listed["counts"]["pending"] == 1 and listed["tickets"][0]["callers"] == 1
    view = staff_client.get(f"{BASE}/{number}", headers=h).json()
    assert view["phone"] == "139****1207" and "13947761207" not in str(view)

    revealed = staff_client.post(f"{BASE}/{number}/reveal", json={"field": "phone", "reason": "回访市民"}, headers=h)
    assert revealed.json() == {"field": "phone", "value": "13947761207"}
    options = staff_client.get(f"{BASE}/options", headers=h).json()
    assert "城镇职工社会保险" in options["taxonomy"]["劳动和社会保障"]
    view = staff_client.post(f"{BASE}/{number}/reclassify", headers=h, json={
        "level1": "劳动和社会保障", "level2": "城镇职工社会保险", "level3": "职工养老保险"}).json()
    assert view["department"] == "市人力资源和社会保障局" and view["classification"] == "manual"
    for state in ("dispatched", "in_progress"):
        assert staff_client.post(f"{BASE}/{number}/advance", json={"state": state}, headers=h).json()["state"] == state
    returned = staff_client.post(f"{BASE}/{number}/return", json={"reason": "属于社保中心"}, headers=h).json()
    assert returned["state"] == "returned"
    reassigned = staff_client.post(f"{BASE}/{number}/reassign", json={"department": "市医疗保障局"}, headers=h)
    assert reassigned.status_code == 200, reassigned.text
    staff_client.post(f"{BASE}/{number}/advance", json={"state": "dispatched"}, headers=h)
    staff_client.post(f"{BASE}/{number}/reply", json={"text": "已为您补缴，请登录社保APP查看。"}, headers=h)
    staff_client.post(f"{BASE}/{number}/notes", json={"text": "单位已补缴"}, headers=h)
    staff_client.post(f"{BASE}/{number}/advance", json={"state": "in_progress"}, headers=h)
    done = staff_client.post(f"{BASE}/{number}/advance", json={"state": "resolved", "note": "电话确认"}, headers=h)
    assert done.json()["state"] == "resolved"

    outcome = service.check_progress(number, "1207", requester="unit-api")
    assert outcome.view["state_label"] == "已办结" and outcome.view["department"] == "市医疗保障局"
    texts = [p["text"] for p in outcome.view["progress"]]
    assert "已为您补缴，请登录社保APP查看。" in texts and "单位已补缴" not in texts and "电话确认" not in texts
    with session_scope() as session:
        done_by = [(e.action, e.staff_id) for e in reversed(audit_entries(session, target_id=number))]
    assert [a for a, _ in done_by] == ["ticket.reveal", "ticket.reclassify", "ticket.advance", "ticket.advance",
                                       "ticket.return", "ticket.reassign", "ticket.advance", "ticket.reply",
                                       "ticket.note", "ticket.advance", "ticket.advance"]
    assert {s for _, s in done_by} == {staff["agent"].principal.staff_id}


def test_hot_issues_and_callers_over_http(staff_client, staff):
    first = file_ticket("幸福小区3号楼门口的路灯坏了一个多月了，晚上出门很不方便", "幸福小区3号楼")
    file_ticket("幸福小区3号楼门口路灯不亮，一个多月了没人修", "幸福小区3号楼门口")
    file_ticket("广场舞噪音太大，每天晚上十点还在跳", "人民广场")
    h = staff["agent"].headers
    hot = staff_client.get(f"{BASE}/hot", params={"days": 7}, headers=h).json()
    assert [(c["size"], c["lead"]) for c in hot["clusters"]] == [(2, first)]
    listed = {t["number"]: t["callers"] for t in staff_client.get(BASE, headers=h).json()["tickets"]}
    assert listed[first] == 2 and len(listed) == 2
    assert staff_client.get(f"{BASE}/hot", params={"days": 0}, headers=h).status_code == 422


def test_a_platform_that_is_down_answers_503_and_the_ticket_keeps_its_state(staff_client, staff, monkeypatch):
    fake = FakeTicketPlatform(token="t")
    monkeypatch.setenv("TICKET_PLATFORM_URL", fake.start())
    monkeypatch.setenv("TICKET_PLATFORM_TOKEN", "t")
    monkeypatch.setattr(platforms, "BACKOFF_SECONDS", 0.0)
    get_settings.cache_clear()
    h = staff["agent"].headers
    number = file_ticket("新华大街的路灯全都不亮", "新华大街")
    fake.stop()
    dispatched = staff_client.post(f"{BASE}/{number}/advance", json={"state": "dispatched"}, headers=h).json()
    assert dispatched["state"] == "dispatched" and dispatched["platform"]["ok"] is False
    again = staff_client.post(f"{BASE}/{number}/forward", headers=h)
    assert again.status_code == 503 and detail(again)["code"] == "platform_unavailable"
    assert detail(again)["retryable"] is True and "暂时无法连接" in detail(again)["message"]
    assert staff_client.get(f"{BASE}/{number}", headers=h).json()["state"] == "dispatched"
    get_settings.cache_clear()


def test_the_desk_page_is_public_and_locked_down(staff_client):
    page = staff_client.get("/agent/tickets")
    assert page.status_code == 200 and "工单台" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert staff_client.get("/agent/tickets/static/desk.js").status_code == 200
    assert staff_client.get("/agent/tickets/static/desk.css").headers["content-type"].startswith("text/css")
    assert staff_client.get("/agent/tickets/static/api.py").status_code == 404
    assert 'href="/agent/tickets"' in staff_client.get("/agent").text            # linked from the agent console
