"""Fixtures for tests that need staff accounts. Import the ones you use into your test module:

    from tests.staff_fixtures import make_staff, staff_client, staff_db  # noqa: F401

    def test_agent_queue(staff_client, make_staff):
        agent = make_staff("agent", display_name="坐席007")
        r = staff_client.get("/api/agent/queue", headers=agent.headers)

`staff_db` gives a throw-away SQLite database (migrated to head), ADMIN_TOKEN = SERVICE_TOKEN and a cheap
argon2 cost so tests stay fast (the real cost is used by the command line and the gateway).
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher

from core.db import upgrade
from core.settings import get_settings
from core.staff import StaffPrincipal, create_account, login, passwords

SERVICE_TOKEN = "unit-service-token"
PASSWORD = "correct horse battery"
_serial = itertools.count(1)


@dataclass
class StaffUser:
    username: str
    password: str
    role: str
    token: str
    csrf_token: str
    principal: StaffPrincipal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def staff_db(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ADMIN_TOKEN", SERVICE_TOKEN)
    for name in [n for n in os.environ if n.startswith("STAFF_")] + ["DATABASE_URL"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    get_settings.cache_clear()
    upgrade()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def make_staff(staff_db):
    """make_staff(role, username=None, password=PASSWORD, display_name="") -> StaffUser, logged in."""

    def make(role: str = "agent", username: str | None = None, password: str = PASSWORD,
             display_name: str = "") -> StaffUser:
        username = username or f"{role}{next(_serial)}"
        create_account(username, password, role, display_name=display_name)
        new = login(username, password)
        return StaffUser(username, password, role, new.token, new.csrf_token, new.principal)

    return make


@pytest.fixture
def staff_client(staff_db):
    """The real gateway app (all routers), without its start-up hook (no Rasa, no index needed)."""
    from fastapi.testclient import TestClient

    from connectors.gateway.app import create_app

    return TestClient(create_app())
