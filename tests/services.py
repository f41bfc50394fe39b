"""What a test does when a service of this machine kind (PostgreSQL, Redis, Chromium) is missing."""
from __future__ import annotations

import os

import pytest


def service_missing(message: str) -> None:
    """PostgreSQL, Redis and Chromium are part of this machine kind: their absence fails the run, unless a
    developer without them says so on purpose (HOTLINE_TESTS_ALLOW_MISSING_SERVICES=1)."""
    if os.environ.get("HOTLINE_TESTS_ALLOW_MISSING_SERVICES") == "1":
        pytest.skip(message)
    pytest.fail(message)
