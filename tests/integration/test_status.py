"""Verified status checks: conversation on the live stack, staff life cycle, and the external source adapter."""
from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from core import applications as service
from core.db import upgrade
from core.settings import get_settings
from core.status_sources import HttpStatusSource, SourceUnavailable, get_status_source
from tests.fakes.fake_yichuang_server import FakeYichuang

NEWBORN = {
    "applicant_name": "张三", "applicant_id_number": "150102199003071237", "applicant_phone": "13900005678",
    "other_parent_name": "李芳", "other_parent_id_number": "150203198804120024", "child_name": "张小宝",
    "child_gender": "男", "child_birth_date": "2025年3月1日", "birth_hospital": "鄂尔多斯市中心医院",
    "child_ethnicity": "汉族", "settle_with": "随父亲落户", "card_bank": "中国工商银行",
}
ADMIN = {"Authorization": "Bearer test-admin-token"}  # tests/conftest.py starts the stack with this token


def pretty(messages: list[dict]) -> str:
    return json.dumps(messages, ensure_ascii=False, indent=1)


def of_kind(messages, kind):
    return [m for m in messages if m["kind"] == kind]


@pytest.fixture
def submitted(live_gateway, conversation):
    response = httpx.post(f"{live_gateway}/api/applications", timeout=30,
                          json={"guide": "新生儿出生一件事", "data": NEWBORN, "sender": conversation.sender,
                                "token": conversation.token})
    assert response.status_code == 201, response.text
    return response.json()["number"]


def test_status_with_wrong_then_right_verification(conversation, submitted):
    messages = conversation.say("查询办件进度")
    assert of_kind(messages, "status_question")[0]["data"]["field"] == "number"
    messages = conversation.say(submitted)
    assert of_kind(messages, "status_question")[0]["data"]["field"] == "verify"
    wrong = conversation.say("0000")
    assert of_kind(wrong, "status_unverified") and not of_kind(wrong, "status_result"), pretty(wrong)
    # an unknown number gets exactly the same answer as a wrong factor
    unknown = conversation.say("查询NM20200101ABCDEFGH，手机尾号5678")
    assert [(m["kind"], m["text"]) for m in unknown] == [(m["kind"], m["text"]) for m in wrong]

    conversation.say("我的申请办到哪了")
    conversation.say(submitted)
    result = of_kind(conversation.say("5678"), "status_result")[0]
    assert result["data"]["number"] == submitted and result["data"]["overall"] == "已提交"
    assert [i["name"] for i in result["data"]["items"]][:2] == ["出生医学证明", "预防接种证"]
    assert {"name", "status", "note"} <= set(result["data"]["items"][0])


def test_item_needing_supplements_tells_what_to_bring(live_gateway, conversation, submitted):
    url = f"{live_gateway}/api/admin/applications/{submitted}/advance"
    assert httpx.post(url, json={"status": "预审中"}, timeout=30).status_code == 401
    assert httpx.post(url, json={"status": "预审中"}, headers=ADMIN, timeout=30).status_code == 200
    response = httpx.post(url, headers=ADMIN, timeout=30, json={
        "status": "需补正", "item": "户口登记", "note": "请补交落户方居民户口簿原件（户主页和本人页）", "due": "2030-01-15"})
    assert response.status_code == 200 and response.json()["overall"] == "需补正"

    messages = conversation.say(f"查一下{submitted}的进度，身份证后六位071237")
    result = of_kind(messages, "status_result")[0]
    assert result["data"]["overall"] == "需补正"
    item = next(i for i in result["data"]["items"] if i["name"] == "户口登记")
    assert item["status"] == "需补正" and "户口簿" in item["note"]
    assert "请补交落户方居民户口簿原件" in result["text"] and "2030年1月15日" in result["text"]


def test_repeated_failures_lock_the_sender(conversation, submitted):
    for _ in range(5):
        messages = conversation.say(f"查询{submitted}，手机尾号0000")
        assert of_kind(messages, "status_unverified"), pretty(messages)
    messages = conversation.say(f"查询{submitted}，手机尾号5678")
    assert of_kind(messages, "status_locked") and not of_kind(messages, "status_result"), pretty(messages)


def test_status_question_can_be_cancelled(conversation):
    conversation.say("查询办件进度")
    messages = conversation.say("取消")
    assert of_kind(messages, "status_cancelled"), pretty(messages)


def test_a_caller_without_the_number_is_told_where_to_find_it_and_offered_a_person(conversation):
    conversation.say("查询办件进度")
    [told] = of_kind(conversation.say("编号我忘了"), "form_invalid")
    assert told["data"]["no_number"] is True and "回执" in told["text"] and "转人工" in told["text"]
    assert [b["title"] for b in told["buttons"]] == ["转人工", "不查了"]
    messages = conversation.say(told["buttons"][1]["payload"])
    assert of_kind(messages, "status_cancelled"), pretty(messages)


# -- the pluggable source: HTTP adapter against a fake 一窗受理 system ------------------------------------------
@pytest.fixture
def fake():
    server = FakeYichuang(token="secret")
    server.add("NM20250301FAKE2345", ["1234", "12345X"], "需补正", [
        {"name": "户口登记", "status": "需补正", "note": "请补交落户方居民户口簿原件", "due": "2025-03-15"},
        {"name": "社会保障卡申领", "status": "审批中", "note": ""}], guide="新生儿出生一件事")
    url = server.start()
    yield server, url
    server.stop()


def test_http_source_contract(fake):
    server, url = fake
    source = HttpStatusSource(url, "secret", timeout=3)
    view = source.lookup("NM20250301FAKE2345", "1234")
    assert view["overall"] == "需补正" and view["items"][0]["note"] == "请补交落户方居民户口簿原件"
    assert source.lookup("NM20250301FAKE2345", "12345X")["number"] == "NM20250301FAKE2345"
    assert source.lookup("NM20250301FAKE2345", "9999") is None
    assert source.lookup("NM20250301NOPE2345", "1234") is None
    assert server.requests[-1]["auth"] == "Bearer secret"
    with pytest.raises(SourceUnavailable):
        HttpStatusSource(url, "wrong-token").lookup("NM20250301FAKE2345", "1234")
    server.fail_with = 500
    with pytest.raises(SourceUnavailable):
        source.lookup("NM20250301FAKE2345", "1234")


def test_http_source_down():
    with pytest.raises(SourceUnavailable):
        HttpStatusSource("http://127.0.0.1:9", timeout=1).lookup("NM20250301FAKE2345", "1234")


def test_gateway_reads_status_from_the_configured_source(fake, tmp_path, monkeypatch):
    server, url = fake
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("STATUS_SOURCE_URL", url)
    monkeypatch.setenv("STATUS_SOURCE_TOKEN", "secret")
    get_settings.cache_clear()
    upgrade()
    try:
        assert isinstance(get_status_source(), HttpStatusSource)
        from connectors.gateway.app import create_app

        with TestClient(create_app()) as client:
            ok = client.get("/api/applications/NM20250301FAKE2345", params={"verify": "1234"})
            assert ok.status_code == 200 and ok.json()["items"][0]["status"] == "需补正"
            assert client.get("/api/applications/NM20250301FAKE2345", params={"verify": "4321"}).status_code == 404
            server.fail_with = 503
            assert client.get("/api/applications/NM20250301FAKE2345", params={"verify": "1234"}).status_code == 503
        assert service.check_status("NM20250301FAKE2345", "1234", requester="x").result == "unavailable"
    finally:
        get_settings.cache_clear()


# -- the same service on PostgreSQL (skipped when no server is reachable) ------------------------------------
def test_applications_on_postgresql(monkeypatch):
    import os
    import uuid

    from sqlalchemy import create_engine, text

    admin_url = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"hotline_apps_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - say why instead of pretending
        pytest.skip(f"PostgreSQL not reachable at {admin_url}: {type(exc).__name__}")
    monkeypatch.setenv("DATABASE_URL", admin_url.rsplit("/", 1)[0] + f"/{name}")
    monkeypatch.delenv("STATUS_SOURCE_URL", raising=False)
    get_settings.cache_clear()
    try:
        upgrade()
        first = service.create_application(guide="新生儿出生一件事", items=None, data=NEWBORN, channel="web", sender="pg")
        again = service.create_application(guide="新生儿出生一件事", items=None, data=NEWBORN, channel="web", sender="pg")
        assert first.created and not again.created and again.view["number"] == first.view["number"]
        number = first.view["number"]
        assert service.advance(number, "需补正", item="户口登记", note="请补交户口簿")["overall"] == "需补正"
        assert service.check_status(number, "0000", requester="pg").result == "denied"
        assert service.check_status(number, "5678", requester="pg").view["overall"] == "需补正"
    finally:
        from core.db import get_engine

        get_engine().dispose()
        get_settings.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_caller_can_leave_a_status_check_and_ask_something_else(conversation):
    assert conversation.kinds("我想查一下办件进度")[-1] == "status_question"
    assert conversation.kinds("NM20261123ABCD2345")[-1] == "status_question"
    assert conversation.kinds("1234")[0] == "status_unverified"
    # after the answer the check is over: a guidance question is answered, not taken as a receipt number
    reply = conversation.say("我爸的驾驶证到期了咋整")
    assert reply[-1]["kind"] in {"guide_answer", "clarify"}, reply
    assert conversation.kinds("查办件进度")[-1] == "status_question"
    goodbye = conversation.kinds("不查了，再见")
    assert goodbye[0] in {"goodbye", "text"} and "status_question" not in goodbye
    assert conversation.kinds("谢谢")[-1] == "thanks"
