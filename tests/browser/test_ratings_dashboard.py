"""好差评 in the web widget (live stack: a goodbye brings the rating card; the caller rates 不满意 with a reason and a
comment; thanks; never asked again) and the supervisor dashboard page (/dashboard, in-process gateway on a
scripted day of traffic: figures, SVG plots, CSV links, recording a follow-up call-back).

Needs Debian's chromium + chromium-driver (the `browser` fixture reports it otherwise).
"""
from __future__ import annotations

import os

import httpx
import pytest

from tests.browser.staff import log_in, page_errors, serve_gateway
from tests.browser.test_widget import open_widget, say, snapshot
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401
from tests.unit.test_dashboard import scripted_day  # noqa: F401

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the `browser` fixture reports the missing package
    pass

pytestmark = pytest.mark.browser
TIMEOUT = 30
SHOTS = os.environ.get("HOTLINE_SCREENSHOTS")   # a folder: save screenshots there to look at


def shot(driver, name: str) -> None:
    if SHOTS:
        driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def test_caller_rates_the_service_in_the_widget(live_gateway, browser):
    open_widget(browser, live_gateway)
    say(browser, "你好")
    say(browser, "再见")
    wait = WebDriverWait(browser, TIMEOUT)
    card = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".hotline-kind-rating_request .hotline-rating")))
    levels = card.find_elements(By.CSS_SELECTOR, ".hotline-rate")
    assert [b.text for b in levels] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    submit = card.find_element(By.CSS_SELECTOR, ".hotline-rating-submit")
    assert not submit.is_displayed()                       # nothing asked until the caller picks a level

    card.find_element(By.CSS_SELECTOR, '.hotline-rate[data-level="2"]').click()
    tag = next(b for b in card.find_elements(By.CSS_SELECTOR, ".hotline-rating-tags button") if b.text == "答案不准确")
    tag.click()
    assert tag.get_attribute("aria-pressed") == "true"
    card.find_element(By.CSS_SELECTOR, ".hotline-rating-comment").send_keys("材料清单和窗口说的不一样")
    shot(browser, "widget-rating")
    before = snapshot(browser)
    submit.click()
    thanks = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".hotline-kind-rating_thanks")))
    assert "回访" in thanks.text and "个工作日" in thanks.text
    assert snapshot(browser)["systems"] == before["systems"], "no error notice"
    assert all(b.get_attribute("disabled") is not None for b in card.find_elements(By.CSS_SELECTOR, ".hotline-rate"))

    sender = browser.execute_script("return localStorage.getItem('hotline12345.sender')")
    token = browser.execute_script("return localStorage.getItem('hotline12345.token')")
    again = httpx.post(live_gateway.rstrip("/") + "/api/ratings",
                       json={"sender": sender, "token": token, "level": 5}, timeout=30)
    assert again.status_code == 409 and again.json()["detail"]["code"] == "already_rated"

    say(browser, "再见")                                     # a second goodbye: no second invitation
    assert len(browser.find_elements(By.CSS_SELECTOR, ".hotline-kind-rating_request")) == 1
    browser.refresh()
    open_widget(browser)
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".hotline-rating-done"), "已评价：不满意"))


# -- the dashboard page ------------------------------------------------------------------------------------------
@pytest.fixture
def gateway(staff_db, monkeypatch):
    """The real gateway app served by uvicorn in a thread of this process, on the test's database."""
    from connectors.gateway import app as gateway_app
    from knowledge import retrieval

    monkeypatch.setattr(retrieval, "warm_up", lambda: None)                 # the dashboard needs no guide index
    monkeypatch.setattr(gateway_app, "follow_store", lambda: None, raising=False)
    yield from serve_gateway()


def login(browser, gateway: str, user) -> WebDriverWait:
    return log_in(browser, gateway + "/dashboard", user.username, user.password, timeout=TIMEOUT)


def values(browser, selector: str) -> list[float]:
    return [float(e.get_attribute("data-value")) for e in browser.find_elements(By.CSS_SELECTOR, selector)]


def test_dashboard_plots_a_scripted_day(browser, gateway, scripted_day, make_staff):  # noqa: F811
    supervisor = make_staff("supervisor", display_name="班长01")
    wait = login(browser, gateway, supervisor)
    wait.until(EC.text_to_be_present_in_element((By.ID, "me-name"), "班长01"))
    wait.until(EC.visibility_of_element_located((By.ID, "db-card-conversations")))
    # the default range is the last 7 days: today's 8 conversations and yesterday's one
    assert browser.find_element(By.CSS_SELECTOR, "#db-card-conversations .db-card-value").text == "9"
    day = scripted_day["day"].isoformat()
    assert browser.find_element(By.ID, "db-to").get_attribute("value") == day
    browser.execute_script("document.getElementById('db-from').value = arguments[0];", day)
    browser.find_element(By.CSS_SELECTOR, "#db-range button[type='submit']").click()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#db-card-conversations .db-card-value"), "8"))
    assert browser.find_element(By.CSS_SELECTOR, "#db-card-handoff .db-card-value").text == "25.0%"
    assert browser.find_element(By.CSS_SELECTOR, "#db-card-containment .db-card-value").text == "75.0%"
    assert browser.find_element(By.CSS_SELECTOR, "#db-card-satisfaction .db-card-value").text == "75.0%"
    # conversations per day by channel: today's stacked column is 6 web + 2 voice
    bars = browser.find_elements(By.CSS_SELECTOR, "#db-panel-conversations rect.db-bar")
    assert sorted((b.get_attribute("data-series"), b.get_attribute("data-value")) for b in bars) == [
        ("电话", "2"), ("网页", "6")]
    assert values(browser, "#db-panel-ratings rect.db-bar") == [1, 1, 1, 0, 1]     # 非常满意 ... 非常不满意
    assert values(browser, "#db-panel-waits rect.db-bar") == [0, 0, 1, 0, 0]
    assert values(browser, "#db-panel-guides rect.db-bar") == [2, 2]
    assert values(browser, "#db-panel-overdue rect.db-bar") == [1]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#db-panel-trend circle.db-dot")) == 1
    csv_links = browser.find_elements(By.CSS_SELECTOR, "a.db-csv")
    assert len(csv_links) >= 10
    csv_url = browser.find_element(By.CSS_SELECTOR, "#db-panel-conversations a.db-csv").get_attribute("href")
    cookie = browser.get_cookie("staff_session")["value"]
    csv = httpx.get(csv_url, cookies={"staff_session": cookie}, timeout=30)
    assert csv.status_code == 200 and "conversations" in csv.text.splitlines()[0]
    shot(browser, "dashboard")

    row = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#db-followups tbody tr")))
    assert "非常不满意" in row.text and "待回访" in row.text
    row.find_element(By.CSS_SELECTOR, "textarea").send_keys("高峰时段坐席不足")
    row.find_element(By.CSS_SELECTOR, "select option[value='满意']").click()
    row.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#db-followups tbody tr"), "已回访"))
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#db-card-followups .db-card-value"), "100.0%"))
    assert page_errors(browser) == []


def test_dashboard_refuses_an_agent(browser, gateway, make_staff):
    agent = make_staff("agent")
    wait = login(browser, gateway, agent)
    wait.until(EC.text_to_be_present_in_element((By.ID, "login-error"), "没有班长"))
    assert not browser.find_element(By.ID, "db-board").is_displayed()
