"""What the staff console browser tests share: the real gateway served in this process, logging in on a console
page, and the page's own errors.

Used by test_agent_console.py, test_ticket_desk.py, test_ratings_dashboard.py and test_guide_editor.py (the
`browser` fixture is in conftest.py).
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the `browser` fixture reports the missing package
    pass

# the login form every console shows (connectors/staff/static/staff.js)
LOGIN_FIELDS = ("login-username", "login-password")


def serve_gateway(start_seconds: float = 60) -> Iterator[str]:
    """The real gateway app served by uvicorn in a thread of this process (so the in-process event bus and the
    test's database are shared); yields its base URL. Use with `yield from` in a fixture, after the test's
    monkeypatches (e.g. retrieval.warm_up)."""
    import uvicorn

    from connectors.gateway.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started:
        assert time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def log_in(browser, url: str, username: str, password: str, *, timeout: float = 15) -> WebDriverWait:
    """Open a console page (url: the page's full address) and submit its login form with Enter; returns a wait."""
    wait = WebDriverWait(browser, timeout)
    browser.get(url)
    wait.until(EC.visibility_of_element_located((By.ID, LOGIN_FIELDS[0]))).send_keys(username)
    browser.find_element(By.ID, LOGIN_FIELDS[1]).send_keys(password + Keys.ENTER)
    return wait


def page_errors(browser, *expected: str) -> list[str]:
    """The page's console errors, except those naming one of `expected` (default: the first /api/staff/me, a
    401 before logging in)."""
    expected = expected or ("/api/staff/me",)
    errors = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    return [m for m in errors if not any(part in m for part in expected)]
