"""The widget's microphone button in headless Chromium: a fake capture device plays a real Mandarin clip
(--use-file-for-fake-audio-capture), the widget streams it to WS /ws/voice at 16 kHz, and what was heard
and the spoken answer appear in the chat. Needs the live stack and Debian's chromium + chromium-driver."""
from __future__ import annotations

import re
import time

import pytest

from speech.audio import write_wav
from speech.textnorm import normalize_transcript
from tests.browser.conftest import _chromium
from tests.browser.test_widget import open_widget
from tests.voice_client import clip_pcm, references

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CLIP = "fr_BAC009S0764W0121.wav"


@pytest.fixture
def mic_browser(tmp_path):
    """Chromium whose microphone is a WAV file: 7 s of silence (the greeting plays), the clip, silence."""
    capture = tmp_path / "mic.wav"
    write_wav(capture, b"\x00" * (16000 * 2 * 7) + clip_pcm(CLIP, 16000) + b"\x00" * (16000 * 2 * 40), 16000)
    yield from _chromium("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                         f"--use-file-for-fake-audio-capture={capture}", "--autoplay-policy=no-user-gesture-required")


def _messages(driver) -> list[tuple[str, str]]:
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('#hotline-log .hotline-msg')).map(
            (n) => [n.classList.contains('user') ? 'user' : (n.classList.contains('bot') ? 'bot' : 'other'),
                    n.innerText]);""")


def _wait(driver, predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate(_messages(driver))
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out; chat: {_messages(driver)}")


def test_microphone_button_speaks_with_the_assistant(live_gateway, mic_browser):
    from selenium.webdriver.common.by import By

    open_widget(mic_browser, live_gateway)
    mic = mic_browser.find_element(By.ID, "hotline-mic")
    mic.click()
    assert mic.get_attribute("aria-pressed") == "true"
    # the voice greeting (with the emergency numbers) arrives as a bot message
    _wait(mic_browser, lambda ms: any(role == "bot" and "110" in text for role, text in ms), 150)
    # the clip from the fake microphone is heard: shown as the caller's message, then answered
    heard = _wait(mic_browser, lambda ms: [t for r, t in ms if r == "user"], 90)[0]
    reference = re.sub(r"\W", "", normalize_transcript(references()[CLIP]))
    got = re.sub(r"\W", "", heard.replace("我：", ""))
    common = sum(1 for ch in set(reference) if ch in got)
    assert common >= 0.6 * len(set(reference)), heard
    _wait(mic_browser, lambda ms: [i for i, (r, _) in enumerate(ms) if r == "user"] and
          ms[-1][0] == "bot" and any(r == "user" for r, _ in ms), 60)
    mic.click()                                               # hang up
    assert mic.get_attribute("aria-pressed") == "false"
