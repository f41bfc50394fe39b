"""The adapter to a city's 12345 工单 platform (core/tickets/platforms.py) against the fake platform server
(tests/fakes/fake_ticket_platform_server.py): dispatching forwards the ticket, the department's progress and
replies come back to the caller's progress check, retries ride out a short outage, a platform that is down
gives a clear error while the ticket keeps its local state."""
from __future__ import annotations

import pytest

from core.settings import get_settings
from core.staff import audit_entries
from core.db import session_scope
from core.tickets import desk, platforms, service
from core.tickets.platforms import HttpTicketPlatform, PlatformRejected, PlatformUnavailable
from tests.fakes.fake_ticket_platform_server import FakeTicketPlatform
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401
from tests.ticket_fixtures import desk_db  # noqa: F401
from tests.ticket_fixtures import file_ticket as file


@pytest.fixture
def agent(desk_db, make_staff):
    return make_staff("agent", display_name="坐席007").principal


@pytest.fixture
def fake_platform(monkeypatch):
    fake = FakeTicketPlatform(token="city-token")
    url = fake.start()
    monkeypatch.setenv("TICKET_PLATFORM_URL", url)
    monkeypatch.setenv("TICKET_PLATFORM_TOKEN", "city-token")
    monkeypatch.setenv("TICKET_PLATFORM_TIMEOUT_MS", "2000")
    monkeypatch.setattr(platforms, "BACKOFF_SECONDS", 0.0)
    get_settings.cache_clear()
    yield fake
    fake.stop()
    get_settings.cache_clear()


def test_dispatching_forwards_the_ticket_and_progress_comes_back_to_the_caller(agent, fake_platform):
    number = file("新华大街的路灯全都不亮，晚上特别黑", "新华大街", phone="13947761207", caller_name="王小明")
    view = desk.advance(number, agent, "dispatched")
    assert view["state"] == "dispatched" and view["platform"]["ok"] is True
    external_id = view["external_id"]
    assert external_id == view["platform"]["external_id"] and external_id.startswith("PF")
    sent = fake_platform.requests[-1]
    assert sent["method"] == "POST" and sent["auth"] == "Bearer city-token" and sent["idempotency_key"] == number
    body = sent["body"]
    assert (body["number"], body["department"], body["level3"]) == (number, "市城市管理综合执法局", "城市公共设施")
    assert body["caller"] == {"name": "王小明", "phone": "13947761207"} and body["description"].startswith("新华大街")
    # forwarding again changes nothing
    assert desk.forward_ticket(number, agent) == {"number": number, "external_id": external_id, "created": False}
    assert len(fake_platform.tickets) == 1 and desk.ticket_view(number)["can"]["forward"] is False

    # the department works it on the platform
    fake_platform.set_state(number, "办理中")
    fake_platform.add_reply(number, "已安排维修班组，两日内修复。")
    fake_platform.add_reply(number, "内部：需协调供电公司", public=False)
    synced = desk.sync_ticket(number, agent)
    assert synced["state"] == "in_progress"
    assert synced["sync"]["applied"] == ["reply:R1", "reply:R2", "state:in_progress"]
    outcome = service.check_progress(number, "1207", requester="unit-platform")
    texts = [p["text"] for p in outcome.view["progress"]]
    assert "已安排维修班组，两日内修复。" in texts and not any("供电公司" in t for t in texts)
    assert outcome.view["state_label"] == "办理中"
    assert desk.sync_ticket(number, agent)["sync"]["applied"] == []            # nothing new: nothing twice

    fake_platform.set_state(number, "resolved")                                # a platform may skip a step
    assert desk.sync_ticket(number, agent)["state"] == "resolved"
    with session_scope() as session:
        assert {e.action for e in audit_entries(session, target_id=number)} >= {"ticket.forward", "ticket.sync"}


def test_a_return_on_the_platform_puts_the_ticket_back_in_the_manual_queue(agent, fake_platform):
    number = file("阳光花园5栋旁边工地半夜打桩，吵得睡不着", "阳光花园5栋")
    desk.advance(number, agent, "dispatched")
    fake_platform.set_state(number, "returned", reason="夜间施工审批归城管，不属我局")
    view = desk.sync_ticket(number)
    assert view["state"] == "returned" and view["classification"] == "pending" and view["external_id"] is None
    assert view["events"][-2]["data"]["reason"] == "夜间施工审批归城管，不属我局"
    assert view["returned_by"] == ["市生态环境局"]
    assert [t["number"] for t in desk.manual_queue()["tickets"]] == [number]
    # reassigned and dispatched again: the platform's ticket goes to the new department
    desk.reassign(number, agent, "市城市管理综合执法局")
    again = desk.advance(number, agent, "dispatched")
    assert again["platform"]["ok"] is True and len(fake_platform.tickets) == 1
    remote = fake_platform.by_number(number)
    assert (remote["state"], remote["department"]) == ("dispatched", "市城市管理综合执法局")
    assert again["external_id"] == remote["id"]


def test_a_platform_that_is_down_leaves_the_ticket_dispatched_with_a_clear_error(agent, fake_platform):
    number = file("天骄路的路灯白天也亮着，浪费电", "天骄路")
    fake_platform.stop()                                                       # connection refused
    view = desk.advance(number, agent, "dispatched")
    assert view["state"] == "dispatched" and view["external_id"] is None
    assert view["platform"]["ok"] is False and view["platform"]["code"] == "platform_unavailable"
    assert "暂时无法连接" in view["platform"]["message"] and "已重试2次" in view["platform"]["message"]
    assert view["events"][-1]["kind"] == "platform_error" and view["can"]["forward"] is True
    with pytest.raises(desk.PlatformFailed) as down:
        desk.forward_ticket(number, agent)
    assert down.value.detail["retryable"] is True
    assert desk.ticket_view(number)["state"] == "dispatched"
    with session_scope() as session:
        failed = audit_entries(session, action="ticket.forward", target_id=number)
        assert failed and all(e.detail["ok"] is False for e in failed)


def test_retries_ride_out_a_short_outage_and_refusals_are_not_retried(fake_platform):
    sleeps: list[float] = []
    adapter = HttpTicketPlatform(get_settings().ticket_platform_url, "city-token", retries=2, backoff=0.5,
                                 sleep=sleeps.append)
    fake_platform.fail_next = 2
    external_id = adapter.forward({"number": "GD20260301AAAAAA", "department": "市水务局"})
    assert external_id == "PF000001" and sleeps == [0.5, 1.0]
    fake_platform.fail_next = 3
    with pytest.raises(PlatformUnavailable) as down:
        adapter.fetch(external_id)
    assert "HTTP 503" in down.value.message

    posts_before = len(fake_platform.requests)
    wrong = HttpTicketPlatform(get_settings().ticket_platform_url, "stolen", retries=2, sleep=sleeps.append)
    with pytest.raises(PlatformRejected) as refused:
        wrong.forward({"number": "GD20260301BBBBBB"})
    assert "TICKET_PLATFORM_TOKEN" in refused.value.message and refused.value.retryable is False
    assert len(fake_platform.requests) == posts_before + 1
    with pytest.raises(PlatformRejected):
        adapter.fetch("PF999999")
    remote = adapter.fetch(external_id)
    assert remote.state == "dispatched" and remote.replies == ()


def test_without_a_platform_forwarding_is_refused_and_dispatch_stays_local(agent, monkeypatch):
    monkeypatch.delenv("TICKET_PLATFORM_URL", raising=False)
    get_settings.cache_clear()
    number = file("新华大街的路灯全都不亮", "新华大街")
    view = desk.advance(number, agent, "dispatched")
    assert "platform" not in view and view["external_id"] is None
    with pytest.raises(desk.PlatformNotConfigured):
        desk.forward_ticket(number, agent)
