"""The agent console (/agent) in headless Chromium against an in-process gateway (no Rasa, no index needed):
log in with the cookie, see a caller queue up live, claim, read the brief, reply with Enter, receive the caller's
message live, send a guide card from the knowledge search, add an internal note, close with a wrap-up code.

Needs Debian's chromium + chromium-driver (the `browser` fixture skips otherwise).
"""
from __future__ import annotations

import asyncio

import pytest

from core import handoff
from tests.browser.staff import log_in, page_errors, serve_gateway
from tests.staff_fixtures import make_staff, staff_db  # noqa: F401

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select
except ImportError:  # the `browser` fixture reports the missing package
    pass

pytestmark = pytest.mark.browser
TIMEOUT = 15
XSS = "<img src=x onerror=alert(1)>"
SUMMARY = {"asked": ["孩子出生了要办什么"], "guide": "新生儿出生一件事", "items": ["户口登记"],
           "form": {"guide": "新生儿出生一件事", "state": "filling", "filled": 2}, "applications": [],
           "reason": "caller_request"}


class FakeRetriever:
    def search(self, q: str, k: int = 5) -> dict:
        return {"answerable": True, "clear": True, "candidates": [], "suggestions": [],
                "results": [{"name": "新生儿出生一件事", "score": 0.9}]}


@pytest.fixture
def gateway(staff_db, monkeypatch):
    """The real gateway app served by uvicorn in a thread of this process (so the in-process bus is shared)."""
    from connectors.agent import api
    from knowledge import retrieval

    monkeypatch.setattr(retrieval, "warm_up", lambda: None)
    monkeypatch.setattr(api, "get_retriever", lambda: FakeRetriever())
    yield from serve_gateway(start_seconds=20)


def run(coro_fn, *args, **kwargs):
    async def go():
        return await handoff.perform(coro_fn, *args, **kwargs)
    return asyncio.run(go())


def test_agent_takes_over_a_conversation(browser, gateway, make_staff):
    agent = make_staff("agent", display_name="坐席007")
    wait = log_in(browser, gateway + "/agent", agent.username, agent.password, timeout=TIMEOUT)
    wait.until(EC.text_to_be_present_in_element((By.ID, "me-name"), "坐席007"))
    wait.until(EC.text_to_be_present_in_element((By.ID, "link"), "实时连接正常"))

    cid = run(handoff.request, "web-browser-1", "web", "caller_request", SUMMARY)["id"]   # arrives live
    claim = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, f'[data-key="claim-{cid}"]')))
    assert "孩子出生了要办什么" in browser.find_element(By.ID, "queue-list").text
    claim.click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "conv-state"), "人工接待中"))
    summary = browser.find_element(By.ID, "summary").text
    assert "孩子出生了要办什么" in summary and "新生儿出生一件事" in summary and "已填2项" in summary

    reply = wait.until(EC.element_to_be_clickable((By.ID, "reply-text")))
    reply.send_keys("您好，我是坐席007" + Keys.ENTER)
    wait.until(EC.text_to_be_present_in_element((By.ID, "transcript"), "您好，我是坐席007"))
    assert reply.get_attribute("value") == ""

    run(handoff.add_message, cid, "caller", "我想问落户要带什么 " + XSS)
    wait.until(EC.text_to_be_present_in_element((By.ID, "transcript"), XSS))       # shown as text, live

    browser.find_element(By.ID, "kb-q").clear()
    browser.find_element(By.ID, "kb-q").send_keys("孩子出生" + Keys.ENTER)
    send_guide = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".kb-send")))
    send_guide.click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "transcript"), "【新生儿出生一件事】一次性告知 · 材料"))

    browser.find_element(By.ID, "note-text").send_keys("市民是第一次办理")
    browser.find_element(By.CSS_SELECTOR, "#note-form button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "notes"), "市民是第一次办理"))

    messages = handoff.transcript(cid, agent.principal)["messages"]
    assert [(m["role"], m["kind"], m["internal"]) for m in messages if m["role"] == "agent"] == [
        ("agent", "text", False), ("agent", "guide_answer", False), ("agent", "note", True)]

    browser.find_element(By.ID, "act-close").click()
    Select(wait.until(EC.visibility_of_element_located((By.ID, "close-code")))).select_by_visible_text("咨询已解答")
    browser.find_element(By.CSS_SELECTOR, '#close-form button[value="ok"]').click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "conv-state"), "已结束"))
    assert handoff.holder("web-browser-1") is None
    assert page_errors(browser) == []    # the first /me is 401: not logged in yet
