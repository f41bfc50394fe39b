"""The web chat widget on the demo portal page, driven in headless Chromium against the live stack.

Needs: the `live_gateway` fixture (tests/conftest.py) and Debian's chromium + chromium-driver.
"""
from __future__ import annotations

import os

import pytest

try:
    from selenium.common.exceptions import NoAlertPresentException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the `browser` fixture reports the missing package
    pass

pytestmark = pytest.mark.browser

DEMO_PATH = os.environ.get("HOTLINE_DEMO_PATH", "/")
PAGE_TIMEOUT = 30
REPLY_TIMEOUT = 90  # the first turn can wait for the dialogue engine to warm up
XSS = "<img src=x onerror=alert(1)>"

# One snapshot of the widget, read in a single script call so it is consistent.
SNAPSHOT_JS = """
const q = (s) => document.querySelectorAll(s);
const typing = document.getElementById('hotline-typing');
const systems = q('#hotline-log .hotline-msg.system');
return {
  bots: q('#hotline-log .hotline-msg.bot').length,
  users: q('#hotline-log .hotline-msg.user').length,
  systems: systems.length,
  lastSystem: systems.length ? systems[systems.length - 1].textContent : '',
  typing: !!typing && typing.classList.contains('hotline-typing-on'),
};
"""


def snapshot(driver) -> dict:
    return driver.execute_script(SNAPSHOT_JS)


def log_text(driver) -> str:
    return driver.execute_script("return document.getElementById('hotline-log').innerText")


def open_widget(driver, base_url: str | None = None) -> None:
    """Load the demo page (unless base_url is None: already loaded) and make sure the chat panel is open.

    The panel stays open across reloads within a tab, so it may already be open.
    """
    if base_url is not None:
        driver.get(base_url.rstrip("/") + DEMO_PATH)
    # The launcher may be hidden while the panel is open (small screens), so wait for either.
    WebDriverWait(driver, PAGE_TIMEOUT).until(
        lambda d: d.find_element(By.ID, "hotline-panel").is_displayed()
        or d.find_element(By.ID, "hotline-launcher").is_displayed())
    if not driver.find_element(By.ID, "hotline-panel").is_displayed():
        WebDriverWait(driver, PAGE_TIMEOUT).until(EC.element_to_be_clickable((By.ID, "hotline-launcher"))).click()
    WebDriverWait(driver, PAGE_TIMEOUT).until(EC.visibility_of_element_located((By.ID, "hotline-input")))


class _ReplySettled:
    """True once a new bot message (or an error notice) arrived and nothing changed since the last poll."""

    def __init__(self, before: dict) -> None:
        self.before = before
        self.last: dict | None = None

    def __call__(self, driver):
        now = snapshot(driver)
        arrived = now["bots"] > self.before["bots"] or now["systems"] > self.before["systems"]
        settled = arrived and not now["typing"] and now == self.last
        self.last = now
        return now if settled else False


def wait_for_reply(driver, before: dict) -> dict:
    try:
        now = WebDriverWait(driver, REPLY_TIMEOUT, poll_frequency=0.3).until(_ReplySettled(before))
    except TimeoutException:
        pytest.fail(f"no bot reply within {REPLY_TIMEOUT}s; the chat log reads:\n{log_text(driver)}")
    assert now["systems"] == before["systems"], f"the widget showed an error notice: {now['lastSystem']}"
    assert now["bots"] > before["bots"]
    return now


def say(driver, text: str) -> dict:
    before = snapshot(driver)
    box = driver.find_element(By.ID, "hotline-input")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)
    WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: snapshot(d)["users"] > before["users"])
    assert box.get_attribute("value") == "", "the input is cleared once the message is sent"
    return wait_for_reply(driver, before)


def bubbles(driver, who: str) -> list[str]:
    return [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, f"#hotline-log .hotline-msg.{who}")]


def enabled_quick_replies(driver):
    """The enabled buttons of the latest bot message that has any."""
    for message in reversed(driver.find_elements(By.CSS_SELECTOR, "#hotline-log .hotline-msg.bot")):
        buttons = message.find_elements(By.CSS_SELECTOR, ".hotline-buttons button:not([disabled])")
        if buttons:
            return buttons
    return []


def font_px(driver, element_id: str) -> float:
    value = driver.execute_script(
        "return getComputedStyle(document.getElementById(arguments[0])).fontSize", element_id)
    return float(value.replace("px", ""))


def test_chat_quick_replies_and_transcript_survive_reload(live_gateway, browser):
    open_widget(browser, live_gateway)

    say(browser, "你好")
    assert any("你好" in text for text in bubbles(browser, "user"))
    assert any(text for text in bubbles(browser, "bot")), "the bot reply has visible text"

    say(browser, "我想找人工")

    buttons = enabled_quick_replies(browser)
    if not buttons:
        say(browser, "你能做什么")
        buttons = enabled_quick_replies(browser)
    assert buttons, f"no bot message offered quick replies; the chat log reads:\n{log_text(browser)}"

    first = buttons[0]
    title = first.text.strip()
    assert title
    before = snapshot(browser)
    first.click()
    wait_for_reply(browser, before)
    assert title in bubbles(browser, "user")[-1], "the clicked button's title is shown as the user's message"
    assert first.get_attribute("disabled") is not None, "a quick-reply group is disabled once used"

    users, bots = bubbles(browser, "user"), bubbles(browser, "bot")
    browser.refresh()
    open_widget(browser)
    WebDriverWait(browser, PAGE_TIMEOUT).until(
        lambda d: len(bubbles(d, "user")) == len(users) and len(bubbles(d, "bot")) == len(bots))
    assert bubbles(browser, "user") == users
    assert bubbles(browser, "bot") == bots


def test_large_text_mode_scales_and_is_remembered(live_gateway, browser):
    open_widget(browser, live_gateway)
    toggle = browser.find_element(By.ID, "hotline-large-text")
    assert toggle.get_attribute("aria-pressed") == "false"
    normal_log, normal_input = font_px(browser, "hotline-log"), font_px(browser, "hotline-input")

    toggle.click()
    WebDriverWait(browser, PAGE_TIMEOUT).until(lambda d: font_px(d, "hotline-log") >= normal_log * 1.25)
    assert font_px(browser, "hotline-input") >= normal_input * 1.25
    assert toggle.get_attribute("aria-pressed") == "true"

    browser.refresh()
    open_widget(browser)
    assert font_px(browser, "hotline-log") >= normal_log * 1.25, "large text is remembered across reloads"
    toggle = browser.find_element(By.ID, "hotline-large-text")
    assert toggle.get_attribute("aria-pressed") == "true"

    toggle.click()
    WebDriverWait(browser, PAGE_TIMEOUT).until(lambda d: font_px(d, "hotline-log") == normal_log)


# every element of the widget that shows text of its own, with its computed size
SMALLEST_TEXT_JS = """
const out = [];
for (const el of document.querySelectorAll('#hotline-root *')) {
  const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
  const box = el.getBoundingClientRect();
  if (!own || !box.width || !box.height || el.closest('.hotline-sr')) continue;
  out.push([parseFloat(getComputedStyle(el).fontSize), el.className || el.tagName, el.textContent.trim().slice(0, 20)]);
}
return out;
"""


def test_no_text_in_a_guide_answer_is_smaller_than_14px(live_gateway, browser):
    """Many callers are elderly: the answer they came for (materials, notes, conditions, badges) is readable
    without the large-text mode."""
    open_widget(browser, live_gateway)
    say(browser, "孩子刚出生要办什么手续")
    buttons = enabled_quick_replies(browser)
    if buttons:   # the situation question: any answer, for the full notice with its conditions and notes
        before = snapshot(browser)
        buttons[0].click()
        wait_for_reply(browser, before)
    for details in browser.find_elements(By.CSS_SELECTOR, "#hotline-log details"):
        browser.execute_script("arguments[0].open = true", details)
    sizes = browser.execute_script(SMALLEST_TEXT_JS)
    assert len(sizes) > 20, sizes
    small = [s for s in sizes if s[0] < 14]
    assert not small, small


def test_markup_in_messages_renders_as_text(live_gateway, browser):
    open_widget(browser, live_gateway)
    say(browser, XSS)

    assert browser.find_elements(By.CSS_SELECTOR, "#hotline-log img") == []
    assert any(XSS in text for text in bubbles(browser, "user")), "the markup is shown literally"
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - raises unless a script ran alert()
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.CSS_SELECTOR, "#hotline-log a")]
    assert all(h.startswith(("http://", "https://", "tel:")) for h in hrefs), hrefs


def test_keyboard_open_escape_and_accessible_roles(live_gateway, browser):
    browser.get(live_gateway.rstrip("/") + DEMO_PATH)
    launcher = WebDriverWait(browser, PAGE_TIMEOUT).until(EC.element_to_be_clickable((By.ID, "hotline-launcher")))
    panel = browser.find_element(By.ID, "hotline-panel")
    assert panel.get_attribute("role") == "dialog"
    assert panel.get_attribute("aria-labelledby") or panel.get_attribute("aria-label")
    log = browser.find_element(By.ID, "hotline-log")
    assert log.get_attribute("role") == "log" and log.get_attribute("aria-live") == "polite"

    browser.execute_script("arguments[0].focus()", launcher)
    launcher.send_keys(Keys.ENTER)
    WebDriverWait(browser, PAGE_TIMEOUT).until(EC.visibility_of(panel))
    assert launcher.get_attribute("aria-expanded") == "true"
    WebDriverWait(browser, PAGE_TIMEOUT).until(
        lambda d: d.switch_to.active_element.get_attribute("id") == "hotline-input")
    label = browser.find_element(By.CSS_SELECTOR, "label[for='hotline-input']")
    assert label.get_attribute("textContent").strip()

    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    WebDriverWait(browser, PAGE_TIMEOUT).until(EC.invisibility_of_element(panel))
    assert browser.switch_to.active_element.get_attribute("id") == "hotline-launcher"
    assert launcher.get_attribute("aria-expanded") == "false"
