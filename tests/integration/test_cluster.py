"""The scale-out mode for real (scripts/cluster.py): PostgreSQL, Redis, HAProxy and 2 Rasa, 2 action servers and
2 gateways. A caller filling in a one-table form keeps every answer while its turns land on different gateways
and one Rasa, one action server and one gateway are killed with SIGKILL in the middle, then every action server
at once (the caller is asked to say it again); the application is
stored once; the widget's WebSocket works through the balancer; gateways share one rate limit through Redis.

Starts in 1-3 minutes on 2 cores (six processes load their models); uses its own throw-away databases.
"""
from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from scripts.stack import StackError, running_cluster
from tests.form_answers import BUNDLE_ANSWERS
from tests.services import service_missing

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HAPROXY = "/usr/sbin/haproxy"

ANSWERS = BUNDLE_ANSWERS["社会保障卡居民服务一件事"]


def _redis_or_fail():
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis not reachable at {REDIS}: {type(exc).__name__}")


def _admin_engine():
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        service_missing(f"PostgreSQL not reachable at {POSTGRES}: {type(exc).__name__}")
    return engine


def state(data_dir: Path) -> dict:
    return json.loads((data_dir / "cluster.json").read_text())


def pid_of(data_dir: Path, name: str) -> int:
    pid = next(p["pid"] for p in state(data_dir)["processes"] if p["name"] == name)
    assert pid, f"{name} is not running"
    return pid


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    if not Path(HAPROXY).exists():
        service_missing(f"{HAPROXY} is missing: `make cluster-deps` installs Debian's haproxy")
    _redis_or_fail()
    admin = _admin_engine()
    name = "hotline_cluster_test_" + uuid.uuid4().hex[:8]
    database_url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    data_dir = tmp_path_factory.mktemp("cluster")
    try:
        with running_cluster(data_dir, database_url, REDIS, data_dir / "cluster.log") as running:
            yield {**running, "database_url": database_url}
    except StackError as exc:
        pytest.fail(str(exc))
    finally:
        with admin.connect() as conn:
            for db in (name, f"{name}_tracker"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def kinds(messages: list[dict]) -> list[str]:
    return [m["kind"] for m in messages]


def asked(messages: list[dict]) -> str:
    questions = [m for m in messages if m["kind"] == "form_question"]
    assert questions, json.dumps(messages, ensure_ascii=False)
    return questions[-1]["data"]["field"]


def wait_restarted(data_dir: Path, name: str, old_pid: int, seconds: float = 240) -> None:
    """The supervisor brings a killed process back (new pid, healthy behind the balancer)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        proc = next(p for p in state(data_dir)["processes"] if p["name"] == name)
        if proc["pid"] and proc["pid"] != old_pid and proc["restarts"] >= 1:
            return
        time.sleep(1)
    pytest.fail(f"{name} was not restarted")


def test_a_form_keeps_every_answer_across_gateways_and_killed_processes(cluster):
    data_dir = cluster["dir"]
    gateways = [f"http://127.0.0.1:{p['port']}" for p in state(data_dir)["processes"] if p["role"] == "gateway"]
    assert len(gateways) == 2
    session = httpx.post(f"{cluster['url']}/api/chat/session", timeout=30).json()
    turns = 0
    said_again: list[str] = []

    def say(text: str, base: str) -> list[dict]:
        nonlocal turns
        turns += 1
        response = httpx.post(f"{base}/api/chat", json={**session, "message": text}, timeout=60)
        if response.status_code in (502, 503) and not said_again:
            # the widget shows "服务暂时繁忙，请稍后再试" and the caller says it again: allowed once in the whole
            # form (a turn sent in the second before the balancer notices a killed gateway); nothing may be lost
            said_again.append(f"{text}: {response.status_code}")
            response = httpx.post(f"{base}/api/chat", json={**session, "message": text}, timeout=60)
        assert response.status_code == 200, f"{text}: {response.status_code} {response.text}; said again: {said_again}"
        messages = response.json()["messages"]
        assert "error" not in kinds(messages), messages
        return messages

    # turns alternate between the two gateways directly (so Rasa must read what the other gateway's turn left)
    messages = say("我要申请社会保障卡居民服务一件事", gateways[0])
    answered: list[str] = []
    faults = {3: ("rasa-1", "rasa"), 5: ("actions-1", "actions"), 7: ("gateway-1", "gateway")}
    killed: list[tuple[str, int]] = []
    for _ in range(20):
        if "form_summary" in kinds(messages):
            break
        field = asked(messages)
        assert field not in answered, f"asked {field} again: an answer was lost"
        if len(answered) in faults:  # kill -9 between turns; the next turns go through the balancer
            name, _role = faults[len(answered)]
            pid = pid_of(data_dir, name)
            os.kill(pid, signal.SIGKILL)
            killed.append((name, pid))
        base = cluster["url"] if killed else gateways[len(answered) % 2]
        messages = say(ANSWERS[field], base)
        answered.append(field)
    summary = next(m for m in messages if m["kind"] == "form_summary")
    assert len(killed) == 3 and len(answered) >= 8
    assert len(summary["data"]["rows"]) == len(answered)

    receipt = next(m for m in say("确认提交", cluster["url"]) if m["kind"] == "application_submitted")
    number = receipt["data"]["number"]
    assert receipt["data"]["duplicate"] is False
    again = next(m for m in say("/confirm_application", gateways[1]) if m["kind"] == "application_submitted")
    assert again["data"]["number"] == number and again["data"]["duplicate"] is True

    from sqlalchemy import create_engine, text

    engine = create_engine(cluster["database_url"])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT number, data FROM applications WHERE sender = :s"),
                            {"s": session["sender"]}).all()
    engine.dispose()
    assert [r.number for r in rows] == [number]  # stored exactly once
    data = rows[0].data if isinstance(rows[0].data, dict) else json.loads(rows[0].data)
    for field in ("applicant_name", "applicant_id_number", "applicant_phone", "delivery_address"):
        assert data[field] == ANSWERS[field]
    assert set(answered) <= set(data) | {"agent_name", "agent_id_number"}

    for name, pid in killed:  # every killed process comes back
        wait_restarted(data_dir, name, pid)


def test_with_every_action_server_down_the_caller_is_asked_to_say_it_again_and_loses_no_answer(cluster):
    """Rasa by itself would go on without the action: the form answer dropped and "没有听明白" shown."""
    data_dir, base = cluster["dir"], cluster["url"]
    session = httpx.post(f"{base}/api/chat/session", timeout=30).json()

    def post(text: str) -> httpx.Response:
        return httpx.post(f"{base}/api/chat", json={**session, "message": text}, timeout=60)

    messages = post("我要申请社会保障卡居民服务一件事").json()["messages"]
    first = asked(messages)
    messages = post(ANSWERS[first]).json()["messages"]
    field = asked(messages)
    actions = [(p["name"], p["pid"]) for p in state(data_dir)["processes"] if p["role"] == "actions"]
    assert len(actions) == 2 and all(pid for _, pid in actions)
    for _name, pid in actions:
        os.kill(pid, signal.SIGKILL)
    response = post(ANSWERS[field])
    assert response.status_code == 503, response.text
    assert response.json()["detail"]["code"] == "dialogue_unavailable"  # "系统暂时繁忙，请稍后再试…", not a reply
    for name, pid in actions:
        wait_restarted(data_dir, name, pid)
    deadline = time.monotonic() + 180
    while (response := post(ANSWERS[field])).status_code == 503 and time.monotonic() < deadline:
        time.sleep(2)  # the caller says it again until an action server is back behind the balancer
    assert response.status_code == 200, response.text
    answered = [first, field]
    messages = response.json()["messages"]
    for _ in range(20):
        if "form_summary" in kinds(messages):
            break
        nxt = asked(messages)
        assert nxt not in answered, f"asked {nxt} again: an answer was lost"
        messages = post(ANSWERS[nxt]).json()["messages"]
        answered.append(nxt)
    summary = next(m for m in messages if m["kind"] == "form_summary")
    assert len(summary["data"]["rows"]) == len(answered)
    row = next(r for r in summary["data"]["rows"] if r["field"] == field)  # said while every action server was down
    assert row["value"] not in ("（未填写）", "（不填）"), row
    assert row["value"][0] == ANSWERS[field][0], row  # shown masked: the first character as given


def _ws_turn(ws, text: str) -> list[dict]:
    ws.send(json.dumps({"type": "message", "text": text}))
    bots = []
    while True:
        frame = json.loads(ws.recv(timeout=60))
        if frame["type"] == "bot":
            bots.append(frame["message"])
        if frame["type"] == "error" or (frame["type"] == "typing" and frame["on"] is False):
            return bots


def test_websocket_through_the_balancer_and_resumed_on_another_connection(cluster):
    ws_url = cluster["url"].replace("http://", "ws://") + "/ws/chat"
    with connect(ws_url) as ws:
        session = json.loads(ws.recv(timeout=10))
        assert session["type"] == "session"
        bots = _ws_turn(ws, "社保卡丢了怎么补办")
        assert bots and bots[-1]["data"].get("guide") == "社会保障卡居民服务一件事"
    with connect(f"{ws_url}?sender={session['sender']}&token={session['token']}") as ws:
        assert json.loads(ws.recv(timeout=10)) == session
        bots = _ws_turn(ws, "要多长时间")
        assert bots[0]["kind"] == "guide_detail" and bots[0]["data"]["guide"] == "社会保障卡居民服务一件事"


def test_gateways_sharing_redis_enforce_one_rate_limit_not_one_each():
    """Two limiters (as in two gateway processes) on one Redis: the third hit is refused whichever gets it."""
    from connectors.gateway.ratelimit import RateLimiter

    _redis_or_fail()
    scope = "test-" + uuid.uuid4().hex
    first, second = (RateLimiter(per_minute=2, scope=scope, redis_url=REDIS) for _ in range(2))
    assert first.retry_after("web-a") == 0
    assert second.retry_after("web-a") == 0
    assert 1 <= first.retry_after("web-a") <= 61
    assert 1 <= second.retry_after("web-a") <= 61
    assert second.retry_after("web-b") == 0  # other callers are not affected
