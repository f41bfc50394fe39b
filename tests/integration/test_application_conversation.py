"""One-table applications through /api/chat on the live stack (Rasa + action server + gateway)."""
from __future__ import annotations

import json

import re

import httpx
import pytest

from tests.form_answers import BUNDLE_ANSWERS


NUMBER = re.compile(r"^NM[0-9]{8}[A-Z0-9]{8}$")


def pretty(messages: list[dict]) -> str:
    return json.dumps(messages, ensure_ascii=False, indent=1)


def of_kind(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m["kind"] == kind]


def question(messages: list[dict]) -> dict:
    """The form question that ends a turn (the bot always ends by asking)."""
    asked = of_kind(messages, "form_question")
    assert asked, pretty(messages)
    assert messages[-1]["kind"] == "form_question", pretty(messages)
    return asked[-1]["data"]


def asks(conversation, text: str, field: str) -> list[dict]:
    messages = conversation.say(text)
    assert question(messages)["field"] == field, pretty(messages)
    return messages


def fill(conversation, first: list[dict], answers: dict[str, str], limit: int = 30) -> list[dict]:
    """Answer every question from `answers` until the summary is shown; returns that turn's messages."""
    messages = first
    for _ in range(limit):
        if of_kind(messages, "form_summary"):
            return messages
        field = question(messages)["field"]
        assert field in answers, f"unexpected question {field}: {pretty(messages)}"
        messages = conversation.say(answers[field])
        assert not of_kind(messages, "form_invalid"), pretty(messages)
    pytest.fail("the summary never came")


def test_newborn_application_end_to_end(conversation, live_gateway):
    messages = conversation.say("我要申请新生儿出生一件事")
    started = of_kind(messages, "application_started")[0]["data"]
    assert started["form"] == "新生儿出生一件事" and len(started["items"]) == 5
    first = question(messages)
    assert first == {**first, "form": "新生儿出生一件事", "field": "applicant_name", "type": "name", "options": []}
    assert first["label"]

    asks(conversation, "张三", "applicant_id_number")
    # a wrong ID number: told exactly why, asked again
    messages = asks(conversation, "150102199003071234", "applicant_id_number")
    invalid = of_kind(messages, "form_invalid")[0]
    assert "校验码" in invalid["text"] and invalid["data"]["field"] == "applicant_id_number"
    asks(conversation, "150102199003071237", "applicant_phone")
    asks(conversation, "13900001111", "other_parent_name")
    # a guidance question in the middle, then the same question again
    messages = asks(conversation, "户口登记需要带什么材料？", "other_parent_name")
    assert len(messages) >= 2 and not of_kind(messages, "form_invalid"), pretty(messages)
    asks(conversation, "李芳", "other_parent_id_number")
    asks(conversation, "150203198804120024", "child_name")
    # correcting an earlier answer at any point
    messages = asks(conversation, "刚才电话说错了，是13900002222", "child_name")
    correction = of_kind(messages, "form_correction")[0]
    assert correction["data"]["field"] == "applicant_phone" and "139****2222" in correction["text"]
    messages = asks(conversation, "张小宝", "child_gender")
    assert question(messages)["type"] == "choice" and question(messages)["options"] == ["男", "女"]
    asks(conversation, "男", "child_birth_date")
    asks(conversation, "二〇二五年三月一日", "birth_hospital")
    asks(conversation, "鄂尔多斯市中心医院", "child_ethnicity")
    asks(conversation, "汉族", "settle_with")
    asks(conversation, "随爸爸", "card_bank")
    messages = conversation.say("工行")

    summary = of_kind(messages, "form_summary")[0]
    rows = {r["label"]: r["value"] for r in summary["data"]["rows"]}
    assert rows["申请人联系电话"] == "139****2222"
    assert rows["申请人身份证号码"] == "1501**********1237"
    assert rows["新生儿出生日期"] == "2025年3月1日" and rows["落户方式"] == "随父亲落户"
    assert rows["社会保障卡合作银行"] == "中国工商银行"
    assert "150102199003071237" not in pretty(messages) and "13900002222" not in pretty(messages)

    messages = conversation.say("确认提交")
    receipt = of_kind(messages, "application_submitted")[0]
    number = receipt["data"]["number"]
    assert NUMBER.match(number) and number in receipt["text"]
    assert receipt["data"]["guide"] == "新生儿出生一件事" and len(receipt["data"]["items"]) == 5
    assert receipt["data"]["duplicate"] is False
    assert "容缺" in receipt["text"] and "原件" in receipt["text"]

    # double click on the confirmation button: still one application
    again = of_kind(conversation.say("/confirm_application"), "application_submitted")[0]
    assert again["data"]["number"] == number and again["data"]["duplicate"] is True

    page = httpx.get(live_gateway + receipt["data"]["print_url"], timeout=30)
    assert page.status_code == 200 and "张小宝" in page.text and number in page.text
    status = httpx.get(f"{live_gateway}/api/applications/{number}", params={"verify": "2222"}, timeout=30)
    assert status.status_code == 200 and status.json()["overall"] == "已提交"


def test_several_fields_at_once_pause_resume_and_cancel(conversation):
    messages = conversation.say("我要申请退休一件事")
    assert question(messages)["field"] == "applicant_name"
    messages = asks(conversation, "我叫王建国，身份证150102196511230018，电话13812345678", "applicant_gender")
    assert of_kind(messages, "form_ack")
    messages = conversation.say("先不填了，我去找一下材料")
    assert of_kind(messages, "application_paused") and not of_kind(messages, "form_question"), pretty(messages)
    messages = conversation.say("退休要带什么材料")
    assert not of_kind(messages, "form_question"), pretty(messages)
    messages = asks(conversation, "继续填表", "applicant_gender")
    assert of_kind(messages, "application_resumed")[0]["data"]["filled"] == 3
    # the gender must agree with the ID number (17th digit)
    messages = asks(conversation, "女", "applicant_gender")
    assert "性别为男" in of_kind(messages, "form_invalid")[0]["text"]
    asks(conversation, "男", "employer_name")
    asks(conversation, "继续", "employer_name")              # "继续" while filling just asks again
    messages = conversation.say("取消申请")
    assert of_kind(messages, "application_cancelled"), pretty(messages)
    messages = conversation.say("继续填表")
    assert of_kind(messages, "application_none") and not of_kind(messages, "form_question"), pretty(messages)


def test_three_wrong_answers_offer_a_human(conversation):
    conversation.say("我要申请社会保障卡居民服务一件事")
    asks(conversation, "赵敏", "applicant_id_number")
    for attempt in (1, 2, 3):
        messages = asks(conversation, "123456", "applicant_id_number")
        invalid = of_kind(messages, "form_invalid")[0]
        assert invalid["data"]["attempts"] == attempt
        assert invalid["data"]["offer_human"] is (attempt == 3)
    assert {"title": "转人工", "payload": "/request_human"} in invalid["buttons"]
    asks(conversation, "150203198804120024", "applicant_phone")


def test_only_the_chosen_items_are_asked(conversation):
    messages = conversation.say("我要申请新生儿出生一件事，只办城乡居民医疗保险参保登记")
    started = of_kind(messages, "application_started")[0]["data"]
    assert started["items"] == ["城乡居民医疗保险参保登记"]
    fields = {f["field"] for f in started["fields"]}
    assert "card_bank" not in fields and "settle_with" not in fields and "applicant_phone" in fields


@pytest.mark.parametrize("guide", list(BUNDLE_ANSWERS))
def test_other_bundles_end_to_end(conversation, guide):
    messages = conversation.say(f"我要申请{guide}")
    assert of_kind(messages, "application_started")[0]["data"]["form"] == guide, pretty(messages)
    summary = of_kind(fill(conversation, messages, BUNDLE_ANSWERS[guide]), "form_summary")[0]
    assert summary["data"]["form"] == guide
    receipt = of_kind(conversation.say("确认"), "application_submitted")[0]
    assert NUMBER.match(receipt["data"]["number"]) and receipt["data"]["guide"] == guide


def test_an_answer_the_conversation_store_refused_is_asked_for_again_not_skipped(conversation, live_stack):
    """The tracker database refuses this caller's turn (as while it restarts): the caller is told to say it
    again, not shown the next question of a conversation that never moved on; said again, it counts once."""
    import sqlite3

    answers = BUNDLE_ANSWERS["社会保障卡居民服务一件事"]
    messages = conversation.say("我要申请社会保障卡居民服务一件事")
    assert question(messages)["field"] == "applicant_name", pretty(messages)
    asks(conversation, answers["applicant_name"], "applicant_id_number")
    store = sqlite3.connect(live_stack["data_dir"] / "tracker.db", timeout=30)
    # Rasa's SQL tracker store keeps a conversation's events in `events`; refuse only this caller's rows
    store.execute(f"CREATE TRIGGER refuse_this_caller BEFORE INSERT ON events WHEN NEW.sender_id = "
                  f"'{conversation.sender}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    store.commit()
    try:
        refused = conversation.client.post("/api/chat", json={"sender": conversation.sender, "token": conversation.token,
                                                               "message": answers["applicant_id_number"]})
        assert refused.status_code == 503, refused.text
        assert refused.json()["detail"]["code"] == "dialogue_unavailable"
    finally:
        store.execute("DROP TRIGGER refuse_this_caller")
        store.commit()
        store.close()
    asks(conversation, answers["applicant_id_number"], "applicant_phone")
    messages = asks(conversation, answers["applicant_phone"], "service_type")
    assert not of_kind(messages, "form_invalid"), pretty(messages)


def test_a_message_sent_again_with_its_id_is_answered_once(conversation, live_stack):
    """The reply to an answer was lost (a dropped mobile connection) and the widget sends it again with the same
    message id: the caller gets the same reply and the answer counts once (run twice, it would be read against
    the next question). The same words with a new id, or other words with a used id, are a new message."""
    guide = "社会保障卡居民服务一件事"
    answers = BUNDLE_ANSWERS[guide]

    def send(text: str, message_id: str) -> list[dict]:
        response = conversation.client.post("/api/chat", json={
            "sender": conversation.sender, "token": conversation.token, "message": text, "message_id": message_id})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    asks(conversation, f"我要申请{guide}", "applicant_name")
    first = send(answers["applicant_name"], "m-0001-name")
    assert question(first)["field"] == "applicant_id_number", pretty(first)
    assert send(answers["applicant_name"], "m-0001-name") == first
    messages = send(answers["applicant_id_number"], "m-0002-id")
    assert question(messages)["field"] == "applicant_phone" and not of_kind(messages, "form_invalid"), pretty(messages)
    # the same words as a new message are read as one: the ID said again is not taken for the phone
    messages = send(answers["applicant_id_number"], "m-0003-id")
    assert of_kind(messages, "form_invalid") and question(messages)["field"] == "applicant_phone", pretty(messages)
    # a used id with other words is a new message too
    messages = send(answers["applicant_phone"], "m-0003-id")
    assert question(messages)["field"] == "service_type", pretty(messages)
    fill(conversation, messages, answers)
    receipt = send("确认提交", "m-0009-confirm")
    assert of_kind(receipt, "application_submitted"), pretty(receipt)
    # the receipt sent again is the same one, print link included (its token is masked only in storage); the
    # gateway's rating invitation that followed it is not repeated
    again = send("确认提交", "m-0009-confirm")
    assert of_kind(again, "application_submitted") == of_kind(receipt, "application_submitted"), pretty(again)
    assert "?token=***" not in of_kind(again, "application_submitted")[0]["data"]["print_url"]
    rasa = f"http://127.0.0.1:{live_stack['env']['RASA_PORT']}"
    events = httpx.get(f"{rasa}/conversations/{conversation.sender}/tracker", timeout=30).json()["events"]
    ids = [e.get("metadata", {}).get("turn_id") for e in events if e["event"] == "user"]
    assert len(ids) == len(set(ids)), "a message sent again was stored twice"


def test_a_malformed_message_id_is_refused(conversation):
    response = conversation.client.post("/api/chat", json={
        "sender": conversation.sender, "token": conversation.token, "message": "你好", "message_id": "bad id!"})
    assert response.status_code == 422 and response.json()["detail"]["code"] == "invalid_request"
