"""The scale-out path: the same migrations and records on a real PostgreSQL server, by changing one URL."""
import os
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError

from core import db
from core.models import HandoffRequest
from tests.services import service_missing

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url():
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = f"hotline_test_{uuid.uuid4().hex[:8]}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        service_missing(f"PostgreSQL not reachable at {ADMIN_URL}: {type(exc).__name__}")
    yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_and_records_work_on_postgresql(postgres_url):
    db.upgrade(postgres_url)
    engine = db.make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(HandoffRequest.__table__.insert().values(
            sender="pg-test", channel="web", reason="caller_request", last_message="转人工", status="open",
            created_at=datetime.now(timezone.utc), context={"k": 1}))
    with engine.connect() as conn:
        row = conn.execute(select(HandoffRequest.__table__).where(HandoffRequest.sender == "pg-test")).one()
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert row.context == {"k": 1} and row.reason == "caller_request"
    assert version  # the schema is at an Alembic revision, not created ad hoc
    engine.dispose()
