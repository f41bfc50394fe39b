"""A caller in the web widget reaches a logged-in agent in the console, they talk both ways live, the agent
hands back and the assistant continues. Two headless Chromium browsers against the live stack."""
from __future__ import annotations

import subprocess
import sys

import pytest

from scripts.stack import ROOT
from tests.browser.test_widget import PAGE_TIMEOUT, REPLY_TIMEOUT, bubbles, open_widget, say, snapshot

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the `browser` fixture reports the missing package
    pass

pytestmark = pytest.mark.browser
PASSWORD = "console-password-2026"


@pytest.fixture
def agent_account(live_stack):
    username = "agent_two_browsers"
    subprocess.run([sys.executable, "-m", "core.staff", "add", username, "--role", "agent", "--display-name", "坐席015",
                    "--password-stdin"], input=PASSWORD, text=True, cwd=ROOT, env=live_stack["env"],
                   capture_output=True)  # already there on a rerun against the same stack: fine
    return username


def who_answers(driver) -> str:
    return driver.find_element(By.ID, "hotline-who").text


def test_caller_and_agent_talk_live_then_the_assistant_continues(live_gateway, browser, second_browser,
                                                                 agent_account):
    caller, agent = browser, second_browser
    wait_agent = WebDriverWait(agent, PAGE_TIMEOUT)
    wait_caller = WebDriverWait(caller, REPLY_TIMEOUT)

    # the agent logs in first: the console's live connection puts them on duty
    agent.get(live_gateway + "/agent")
    wait_agent.until(EC.visibility_of_element_located((By.ID, "login-username"))).send_keys(agent_account)
    agent.find_element(By.ID, "login-password").send_keys(PASSWORD + Keys.ENTER)
    wait_agent.until(EC.text_to_be_present_in_element((By.ID, "me-name"), "坐席015"))
    wait_agent.until(EC.text_to_be_present_in_element((By.ID, "link"), "实时连接正常"))

    open_widget(caller, live_gateway)
    assert who_answers(caller) == "蒙速办智能助手"
    say(caller, "孩子出生要办什么")
    say(caller, "我要转人工")
    assert "马上为您接通" in bubbles(caller, "bot")[-1]

    # the request appears in the console without reload; the agent claims it
    claim = wait_agent.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#queue-list button[data-key^='claim-']")))
    claim.click()
    wait_agent.until(EC.text_to_be_present_in_element((By.ID, "conv-state"), "人工接待中"))
    assert "新生儿出生一件事" in agent.find_element(By.ID, "summary").text
    assert "孩子出生要办什么" in agent.find_element(By.ID, "transcript").text   # the history before the handoff
    wait_caller.until(lambda d: "坐席015" in who_answers(d))

    reply = wait_agent.until(EC.element_to_be_clickable((By.ID, "reply-text")))
    reply.send_keys("您好，我是坐席015，孩子的户口想落在哪里？" + Keys.ENTER)
    wait_caller.until(lambda d: any("落在哪里" in t for t in bubbles(d, "bot.hotline-from-agent")))

    box = caller.find_element(By.ID, "hotline-input")
    before = snapshot(caller)
    box.send_keys("落在孩子爸爸那边" + Keys.ENTER)
    wait_agent.until(EC.text_to_be_present_in_element((By.ID, "transcript"), "落在孩子爸爸那边"))
    # the turn is over (the widget's own typing indicator went off) and the assistant said nothing
    WebDriverWait(caller, REPLY_TIMEOUT).until(lambda d: not snapshot(d)["typing"])
    assert snapshot(caller)["bots"] == before["bots"]

    agent.find_element(By.ID, "act-release").click()
    wait_agent.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '#dlg-release button[value="ok"]'))).click()
    wait_caller.until(lambda d: who_answers(d) == "蒙速办智能助手")

    say(caller, "在哪里办")   # the assistant answers again, about the guide still in focus
    assert "新生儿出生一件事" in bubbles(caller, "bot")[-1]
