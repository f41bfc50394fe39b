"""Human handoff on PostgreSQL (the scale-out database): the queue basics, and the races that only a server
with real concurrent transactions shows (same sender twice, two agents on one conversation, one agent's
capacity). Uses the throw-away database of tests/integration/test_postgres.py; skipped, saying why, only
when PostgreSQL is not reachable."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from core import db, handoff
from core.handoff import AlreadyClaimed, CapacityReached
from core.models import utcnow
from core.settings import get_settings
from core.staff import create_account, passwords
from tests.integration.test_postgres import postgres_url  # noqa: F401 - fixture

PASSWORD = "correct horse battery"


@pytest.fixture
def pg(postgres_url, tmp_path, monkeypatch):  # noqa: F811 - the imported fixture
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    get_settings.cache_clear()
    db.upgrade()
    yield postgres_url
    db.get_engine().dispose()
    get_settings.cache_clear()


def agent(name: str, role: str = "agent"):
    return create_account(name, PASSWORD, role, display_name=f"坐席{name[-3:]}")


def race(fn, n: int) -> list:
    """Run fn(i) in n threads released at the same moment; results or exceptions, in thread order."""
    barrier, results = threading.Barrier(n), [None] * n

    def call(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_queue_basics_on_postgresql(pg):
    a1, a2 = agent("pg-a001"), agent("pg-a002")
    t0 = utcnow() - timedelta(minutes=5)
    plain = handoff.request("pg-plain", "web", "caller_request", {"asked": "电话13912345678"}, now=t0).view
    special = handoff.request("pg-special", "web", "caller_request", {}, special_group=True,
                              now=t0 + timedelta(seconds=1)).view
    assert plain["agents_on_duty"] == 0 and plain["estimated_wait_seconds"] is None and plain["offer_callback"]
    assert handoff.request("pg-plain", "web", "caller_request", {}).view["id"] == plain["id"]
    assert [i["id"] for i in handoff.queue()] == [special["id"], plain["id"]]
    assert "13912345678" not in str(handoff.queue())

    handoff.heartbeat(a1)
    assert handoff.ticket("pg-plain")["agents_on_duty"] == 1
    handoff.claim(special["id"], a1)
    with pytest.raises(AlreadyClaimed):
        handoff.claim(special["id"], a2)
    assert handoff.holder("pg-special") == "坐席001"
    handoff.add_message(special["id"], "caller", "身份证150102199003071234")
    transcript = handoff.transcript(special["id"], a1)
    assert "150102199003071234" not in str(transcript) and len(transcript["messages"]) == 3
    assert handoff.close(special["id"], a1, "咨询已解答").view["state"] == "closed"

    cb = handoff.request_callback("pg-plain", "13900001111", "请回电").view
    assert cb["id"] == plain["id"] and cb["callback_phone"] == "139****1111"
    handoff.claim(cb["id"], a2)
    assert handoff.reveal(cb["id"], a2, "callback_phone", "回拨市民") == "13900001111"


def test_racing_requests_from_one_sender_make_one_conversation(pg):
    results = race(lambda i: handoff.request("pg-race", "web", "caller_request", {}).view, 8)
    assert all(isinstance(r, dict) for r in results), results
    assert len({r["id"] for r in results}) == 1 and sum(r["created"] for r in results) == 1


def test_two_agents_claiming_at_once_one_wins(pg):
    agents = [agent(f"pg-b00{i}") for i in range(4)]
    cid = handoff.request("pg-contested", "web", "caller_request", {}).view["id"]
    results = race(lambda i: handoff.claim(cid, agents[i]).view, 4)
    winners = [r for r in results if isinstance(r, dict)]
    assert len(winners) == 1, results
    assert all(isinstance(r, AlreadyClaimed) for r in results if not isinstance(r, dict))
    assert handoff.holder("pg-contested") == winners[0]["agent_name"]


def test_one_agent_claiming_many_at_once_stays_within_capacity(pg, monkeypatch):
    monkeypatch.setenv("HANDOFF_MAX_PER_AGENT", "2")
    get_settings.cache_clear()
    one = agent("pg-c001")
    handoff.heartbeat(one)                  # the presence row exists: its lock serialises the claims
    ids = [handoff.request(f"pg-many{i}", "web", "caller_request", {}).view["id"] for i in range(5)]
    results = race(lambda i: handoff.claim(ids[i], one).view, 5)
    assert sum(isinstance(r, dict) for r in results) == 2, results
    assert all(isinstance(r, CapacityReached) for r in results if not isinstance(r, dict))
    assert len(handoff.held_by(one)) == 2
