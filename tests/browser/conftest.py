"""Headless Debian Chromium for the web widget tests (apt-get install chromium chromium-driver)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.services import service_missing

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
    "--lang=zh-CN",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the web widget in headless Chromium")


@pytest.fixture
def browser():
    """A fresh headless Chromium (own profile, so localStorage starts empty) driven by selenium."""
    yield from _chromium()


@pytest.fixture
def second_browser():
    """Another, independent Chromium: e.g. the hotline agent while `browser` is the caller."""
    yield from _chromium()


def _chromium(*extra_flags: str):
    """A headless Chromium with CHROMIUM_FLAGS (and `extra_flags`, e.g. a fake microphone) in its own profile."""
    if not CHROMEDRIVER.exists():
        service_missing(f"{CHROMEDRIVER} is missing: `make system-deps` installs Debian's chromium and chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed in this environment (it is pinned in requirements/app.lock)")

    profile = tempfile.mkdtemp(prefix="hotline-chromium-")
    options = webdriver.ChromeOptions()
    if CHROMIUM.exists():
        options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, *extra_flags):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        # Shown by pytest only when the test failed: the page's console often says why.
        try:
            for entry in driver.get_log("browser"):
                print(f"[console {entry.get('level')}] {entry.get('message')}")
        except Exception:  # noqa: BLE001 - diagnostics only
            pass
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
