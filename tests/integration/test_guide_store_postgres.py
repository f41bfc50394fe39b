"""The guide store on PostgreSQL (DATABASE_URL): seed, draft, review, publish, the revision every process polls,
scheduled versions and rollback behave as on SQLite."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.db import upgrade
from core.guides import store
from core.settings import get_settings
from core.staff import create_account, login
from tests.integration.test_postgres import postgres_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
NAME = "退休一件事"


@pytest.fixture
def pg_store(postgres_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    upgrade()
    folder = tmp_path / "guides"
    folder.mkdir()
    shutil.copy(ROOT / "knowledge" / "guides" / "tuixiu.yaml", folder / "tuixiu.yaml")
    assert store.seed_from_folder(folder).added == [NAME]
    yield
    from core.db import get_engine

    get_engine().dispose()
    get_settings.cache_clear()


def principal(username: str, role: str):
    create_account(username, "pg-guide-password", role)
    return login(username, "pg-guide-password").principal


def test_versions_on_postgresql(pg_store):
    editor, reviewer = principal("pg-editor", "editor"), principal("pg-reviewer", "supervisor")
    first = store.revision()
    content = store.get_published(NAME)["guide"]
    store.save_draft(NAME, {**content, "fee": "不收费（PG）"}, editor)
    store.submit(NAME, editor)
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    store.publish(NAME, reviewer, effective_from=later)
    assert store.revision() != first and store.get_published(NAME)["version"] == 1     # scheduled, not live yet
    in_two_hours = datetime.now(timezone.utc) + timedelta(hours=2)
    assert store.revision(in_two_hours) != store.revision()
    assert store.published_guides(in_two_hours)[0].fee == "不收费（PG）"
    assert store.list_guides()[0]["state"] == "scheduled"
    assert store.rollback(NAME, 1, reviewer)["version"] == 3
    assert [v["version"] for v in store.versions_of(NAME)["versions"]] == [3, 2, 1]
    assert [c["field"] for c in store.diff(NAME, "1", "2")["changes"]] == ["fee"]
