"""Bad input gets a clear 4xx with a bilingual message, never a 500."""
import httpx
import pytest

from tests.conftest import chat_session


@pytest.fixture
def client(live_gateway):
    with httpx.Client(base_url=live_gateway, timeout=30) as c:
        yield c


def _detail(response):
    body = response.json()["detail"]
    assert body["code"] and body["message"]
    return body


def said(session: dict, text: str) -> dict:
    return {"sender": session["sender"], "token": session["token"], "message": text}


def test_empty_message_is_rejected_politely(client, live_gateway):
    r = client.post("/api/chat", json=said(chat_session(live_gateway), "   "))
    assert r.status_code == 422 and _detail(r)["code"] == "empty_message"


def test_overlong_message_is_rejected(client):
    r = client.post("/api/chat", json={"message": "办" * 2001})
    assert r.status_code == 413 and "2000" in _detail(r)["message"]


def test_malformed_json_is_rejected(client):
    r = client.post("/api/chat", content=b'{"sender": "x", "message": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and _detail(r)["code"] == "invalid_json"


def test_invalid_utf8_is_rejected(client):
    r = client.post("/api/chat", content=b'{"sender": "x", "message": "\xff\xfe"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and _detail(r)["code"] == "invalid_encoding"


@pytest.mark.parametrize("body", [{"sender": "x"}, {"token": "short", "message": "你好"},
                                  {"sender": "x", "message": "你好", "extra": 1},
                                  {"sender": "bad sender id!", "message": "你好"}, {"sender": "x", "message": 123}])
def test_missing_unknown_or_wrong_fields_are_named(client, body):
    r = client.post("/api/chat", json=body)
    assert r.status_code == 422 and _detail(r)["code"] == "invalid_request"


def test_flood_from_one_sender_is_slowed_down_without_losing_other_senders(client, live_stack):
    limit = int(live_stack["env"]["RATE_LIMIT_PER_MINUTE"])
    flooder = chat_session(live_stack["url"])
    codes = [client.post("/api/chat", json=said(flooder, "你好")).status_code for _ in range(limit + 3)]
    assert 429 in codes and 500 not in codes
    limited = client.post("/api/chat", json=said(flooder, "你好"))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert client.post("/api/chat", json=said(chat_session(live_stack["url"]), "你好")).status_code == 200


def test_someone_elses_sender_id_is_refused_without_its_token(client, live_gateway):
    owner = chat_session(live_gateway)
    assert client.post("/api/chat", json=said(owner, "你好")).status_code == 200
    r = client.post("/api/chat", json={"sender": owner["sender"], "message": "你好"})
    assert r.status_code == 403 and _detail(r)["code"] == "sender_forbidden"


@pytest.mark.parametrize(("body", "code"), [
    (b'{"message": "\\ud800abc"}', "invalid_text"),
    (b"[" * 100_000, "invalid_json"),
    (b'{"message": ' + b"9" * 100_000 + b"}", "invalid_json"),
])
def test_lone_surrogates_deep_nesting_and_huge_numbers_get_their_own_400(client, body, code):
    r = client.post("/api/chat", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and _detail(r)["code"] == code


def test_zero_width_characters_do_not_hide_the_question(client, live_gateway):
    r = client.post("/api/chat", json=said(chat_session(live_gateway), "新\u200b生儿出生要办什么"))
    assert r.status_code == 200
    assert any(m["data"].get("guide") == "新生儿出生一件事" for m in r.json()["messages"]), r.text


def test_unknown_path_and_method_are_4xx(client):
    assert client.get("/api/nope").status_code == 404
    r = client.get("/api/chat")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_health_names_every_component(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert set(r.json()["components"]) == {"rasa", "actions", "database", "index"}
