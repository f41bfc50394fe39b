"""The ticket desk (/agent/tickets) in headless Chromium against an in-process gateway (no Rasa needed): an agent
logs in, finds a ticket filed through core.tickets.service.file_ticket, reclassifies it, dispatches it, answers the
caller, resolves it; the caller's progress check (check_progress) then shows the reply and 已办结. The hot-issue
panel shows how many callers raised the same problem.

Needs Debian's chromium + chromium-driver (the `browser` fixture skips otherwise).
"""
from __future__ import annotations

import pytest

from core.tickets import service
from tests.browser.staff import log_in, page_errors, serve_gateway
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401
from tests.ticket_fixtures import desk_db, file_ticket  # noqa: F401

try:
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        NoSuchElementException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select
except ImportError:  # the `browser` fixture reports the missing package
    pass

pytestmark = pytest.mark.browser
TIMEOUT = 15
XSS = "<img src=x onerror=alert(1)>"


def click(wait, css: str) -> None:
    """Click once the element is there; a list or toolbar re-rendered meanwhile is looked up again."""
    def attempt(driver) -> bool:
        try:
            element = driver.find_element(By.CSS_SELECTOR, css)
            if not (element.is_displayed() and element.is_enabled()):
                return False
            element.click()
            return True
        except (StaleElementReferenceException, NoSuchElementException, ElementClickInterceptedException):
            return False
    wait.until(attempt)


@pytest.fixture
def gateway(desk_db, monkeypatch):
    """The real gateway app served by uvicorn in a thread of this process (the fake classifier applies)."""
    from knowledge import retrieval

    monkeypatch.setattr(retrieval, "warm_up", lambda: None)
    # the desk needs no service guides: skip following the guide store (seeding it re-embeds every guide)
    monkeypatch.setattr("connectors.gateway.app.follow_store", lambda *a, **k: None, raising=False)
    yield from serve_gateway()


def test_an_agent_works_a_ticket_until_the_caller_sees_the_reply(browser, gateway, make_staff):
    number = file_ticket("单位把我的社保断缴了三个月，问了也不给说法 " + XSS, "东胜区天骄路", phone="13947761207",
                         caller_name="王小明")
    file_ticket("幸福小区3号楼门口的路灯坏了一个多月了，晚上出门很不方便", "幸福小区3号楼")
    file_ticket("幸福小区3号楼门口路灯不亮，一个多月了没人修", "幸福小区3号楼门口")
    agent = make_staff("agent", display_name="坐席007")

    wait = log_in(browser, gateway + "/agent/tickets", agent.username, agent.password, timeout=TIMEOUT)
    wait.until(EC.text_to_be_present_in_element((By.ID, "me-name"), "坐席007"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "hot-list"), "2人反映"))   # the streetlight, twice

    # find it: the pending filter, then the number in the search box
    browser.find_element(By.ID, "filter-pending").click()
    browser.find_element(By.ID, "filter-q").send_keys(number + Keys.ENTER)
    wait.until(EC.text_to_be_present_in_element((By.ID, "list-total"), "1"))
    click(wait, f'button.open[data-number="{number}"]')
    wait.until(EC.text_to_be_present_in_element((By.ID, "t-number"), number))
    assert XSS in browser.find_element(By.ID, "t-description").text              # shown as text
    facts = browser.find_element(By.ID, "t-facts").text
    assert "待人工分类" in facts and "139****1207" in facts and "13947761207" not in facts
    assert browser.find_elements(By.CSS_SELECTOR, "#t-advance [data-state]") == []   # not classified: no dispatch

    # reclassify: the department follows the routing table
    Select(browser.find_element(By.ID, "rc-level1")).select_by_visible_text("劳动和社会保障")
    Select(browser.find_element(By.ID, "rc-level2")).select_by_visible_text("城镇职工社会保险")
    Select(browser.find_element(By.ID, "rc-level3")).select_by_visible_text("职工养老保险")
    browser.find_element(By.ID, "rc-save").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "t-facts"), "市人力资源和社会保障局"))
    assert "劳动和社会保障 / 城镇职工社会保险 / 职工养老保险（人工）" in browser.find_element(By.ID, "t-facts").text

    # dispatch and start
    for state, label in (("dispatched", "已派单"), ("in_progress", "办理中")):
        click(wait, f'#t-advance [data-state="{state}"]')
        wait.until(EC.text_to_be_present_in_element((By.ID, "t-state"), label))

    # answer the caller, note something internal
    browser.find_element(By.ID, "reply-text").send_keys("已为您联系单位补缴，请三日后登录社保APP查看。")
    browser.find_element(By.ID, "reply-send").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "t-events"), "已为您联系单位补缴"))
    assert browser.find_element(By.ID, "reply-text").get_attribute("value") == ""
    browser.find_element(By.ID, "note-text").send_keys("单位经办人已承认漏缴")
    browser.find_element(By.CSS_SELECTOR, "#note-form button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "t-events"), "单位经办人已承认漏缴"))

    # resolve
    click(wait, '#t-advance [data-state="resolved"]')
    wait.until(EC.text_to_be_present_in_element((By.ID, "t-state"), "已办结"))

    # the caller's progress check: number + last four digits of the phone
    outcome = service.check_progress(number, "1207", requester="browser-caller")
    assert outcome.result == "ok" and outcome.view["state_label"] == "已办结"
    assert outcome.view["department"] == "市人力资源和社会保障局"
    texts = [p["text"] for p in outcome.view["progress"]]
    assert "已为您联系单位补缴，请三日后登录社保APP查看。" in texts
    assert not any("漏缴" in t for t in texts)                                    # the note stays internal
    assert "已为您联系单位补缴" in service.progress_text(outcome.view)

    assert page_errors(browser) == []    # the first /me is 401: not logged in yet
