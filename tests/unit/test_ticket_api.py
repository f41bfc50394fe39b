"""POST /api/tickets/classify: the contract callers and channels rely on, and its errors."""
import pytest
from fastapi.testclient import TestClient

from core.settings import get_settings
from core.tickets import classifier
from core.tickets.taxonomy import load_taxonomy

KEYS = {"level1", "level2", "level3", "department", "appeal_type", "confidence", "candidates", "manual"}


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "5")
    get_settings.cache_clear()
    from connectors.gateway.app import create_app

    with TestClient(create_app()) as c:
        yield c
    get_settings.cache_clear()


def test_classify_answers_category_department_type_and_confidence_without_login(client):
    response = client.post("/api/tickets/classify", json={"text": "公司拖欠我们三个月工资，老板也找不到人了，我要投诉"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == KEYS
    assert body["level1"] == "劳动和社会保障"
    assert load_taxonomy().contains(body["level1"], body["level2"], body["level3"])
    assert body["department"] == "市人力资源和社会保障局"
    assert body["appeal_type"] == "投诉"
    assert 0.5 <= body["confidence"] <= 1 and body["manual"] is False
    assert len(body["candidates"]) == 3
    assert set(body["candidates"][0]) == {"level1", "level2", "level3", "score"}
    assert body["candidates"][0]["level1"] == body["level1"]


@pytest.mark.parametrize("text,code", [("", "ticket_text_empty"), ("  \n ", "ticket_text_empty"),
                                       ("路灯坏了" * 2001, "ticket_text_too_long")])
def test_empty_or_overlong_text_is_a_400(client, text, code):
    response = client.post("/api/tickets/classify", json={"text": text})
    assert response.status_code == 400
    assert response.json()["detail"]["code"] == code
    assert response.json()["detail"]["message"]


@pytest.mark.parametrize("payload", [{}, {"text": 12}, {"text": "路灯坏了", "sender": "x"}, ["路灯坏了"]])
def test_wrong_body_shape_is_refused_with_the_error_shape(client, payload):
    response = client.post("/api/tickets/classify", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"]["code"] == "invalid_request"


def test_not_json_is_refused(client):
    response = client.post("/api/tickets/classify", content="text=路灯".encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["detail"]["code"] == "invalid_json"


def test_a_broken_classifier_is_a_503_not_a_500(client, monkeypatch):
    def broken(text):
        raise FileNotFoundError("model missing")

    monkeypatch.setattr(classifier, "classify", broken)
    response = client.post("/api/tickets/classify", json={"text": "路灯坏了"})
    assert response.status_code == 503 and response.json()["detail"]["code"] == "classifier_unavailable"


def test_one_client_is_rate_limited(client):
    codes = [client.post("/api/tickets/classify", json={"text": "小区路灯坏了"}).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[-1] == 429
