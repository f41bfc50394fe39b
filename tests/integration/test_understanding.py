"""What callers mean, through the whole chat path: no false alarms, guides answered when the intent
is unsure, partial bundles chosen by words and by toggles, and context kept across short follow-ups."""
from __future__ import annotations

import httpx
import pytest

from tests.integration.test_status import NEWBORN, of_kind, pretty

FALSE_ALARMS = ["医保卡丢了", "户口本丢了", "驾驶证丢了", "结婚证丢了", "停水了", "小区停电了", "路灯坏了",
                "楼道灯坏了没人修"]
RESTAURANT = "开办餐饮店一件事"


@pytest.mark.parametrize("text", FALSE_ALARMS)
def test_everyday_losses_and_outages_raise_no_alarm(conversation, text):
    messages = conversation.say(text)
    assert not of_kind(messages, "emergency"), pretty(messages)
    assert "110" not in " ".join(m["text"] for m in messages if m["kind"] != "appeal"), pretty(messages)


@pytest.mark.parametrize(("text", "guide"), [("社保卡丢了", "社会保障卡居民服务一件事"), ("退休金咋领", "退休一件事")])
def test_guides_answer_although_the_intent_is_unsure(conversation, text, guide):
    """The guide is answered, or offered first as a one-tap "您是想问……吗" when the search is not sure either
    (退休金咋领 scores just under the answer threshold with the ONNX encoder: docs/BENCHMARKS.md)."""
    messages = conversation.say(text)
    answered = [m for m in messages if m["kind"] in ("guide_answer", "clarify") and m["data"].get("guide") == guide]
    offered = [m for m in messages if m["kind"] == "clarify" and (m["data"].get("candidates") or [None])[0] == guide
               and m["buttons"][0]["payload"] == f'/choose_guide{{"guide": "{guide}"}}']
    assert answered or offered, pretty(messages)


def test_a_complaint_is_not_taken_for_a_status_check(conversation):
    messages = conversation.say("楼道灯坏了没人修")
    assert not of_kind(messages, "status_question"), pretty(messages)


def _restaurant(conversation):
    messages = conversation.say("开饭馆要什么材料")
    assert any(m["data"].get("guide") == RESTAURANT for m in messages), pretty(messages)


def _chosen_items(messages):
    """The items the answer is for: from the notice, or kept until the situation question is answered."""
    answers = of_kind(messages, "guide_answer")
    return answers[0]["data"]["items"] if answers else None


def test_inclusion_and_exclusion_in_one_sentence(conversation):
    _restaurant(conversation)
    picked = conversation.say("我只办其中几项")
    question = of_kind(picked, "clarify")[0]
    assert question["data"]["question"] == "items" and question["data"]["multi"] is True
    assert len(question["data"]["options"]) == 5
    messages = conversation.say("我只要办营业执照和食品经营许可，消防那个先不办")
    if of_kind(messages, "clarify"):  # the one situation question for these items, then the notice
        clarify = of_kind(messages, "clarify")[0]
        assert clarify["data"]["question"] != "items", pretty(messages)
        messages = conversation.say(clarify["buttons"][0]["payload"])
    assert _chosen_items(messages) == ["营业执照办理", "食品经营许可"], pretty(messages)
    # the fire-check situation was not silently answered by the word 消防
    assert "fire_check" not in of_kind(messages, "guide_answer")[0]["data"]["situation"]


def test_exclusion_alone_keeps_the_rest(conversation):
    _restaurant(conversation)
    messages = conversation.say("消防那个先不办")
    if of_kind(messages, "clarify"):
        messages = conversation.say(of_kind(messages, "clarify")[0]["buttons"][0]["payload"])
    items = _chosen_items(messages)
    assert items and "公众聚集场所投入使用营业前消防安全检查" not in items and len(items) == 4, pretty(messages)


def test_naming_items_after_the_item_question(conversation):
    _restaurant(conversation)
    conversation.say("我只办其中几项")
    messages = conversation.say("营业执照和食品经营许可")
    if of_kind(messages, "clarify"):
        messages = conversation.say(of_kind(messages, "clarify")[0]["buttons"][0]["payload"])
    assert _chosen_items(messages) == ["营业执照办理", "食品经营许可"], pretty(messages)


def test_items_chosen_with_the_toggle_payload(conversation):
    _restaurant(conversation)
    question = of_kind(conversation.say("我只办其中几项"), "clarify")[0]
    values = [o["value"] for o in question["data"]["options"]][::3]
    payload = question["data"]["payload_template"].replace("{values}", question["data"]["separator"].join(values))
    messages = conversation.say(payload)
    if of_kind(messages, "clarify"):
        messages = conversation.say(of_kind(messages, "clarify")[0]["buttons"][0]["payload"])
    assert _chosen_items(messages) == values, pretty(messages)


def test_fee_question_while_a_situation_question_is_open(conversation):
    first = conversation.say("孩子出生要办什么")
    assert of_kind(first, "clarify")[0]["data"]["guide"] == "新生儿出生一件事"
    messages = conversation.say("要钱不")
    detail = of_kind(messages, "guide_detail")
    assert detail and detail[0]["data"] == {**detail[0]["data"], "guide": "新生儿出生一件事", "aspect": "ask_fee"}, \
        pretty(messages)
    assert not any(m["kind"] == "text" and "还有什么可以帮您" in m["text"] for m in messages)


def test_time_question_after_a_status_answer_is_about_that_application(live_gateway, conversation):
    response = httpx.post(f"{live_gateway}/api/applications", timeout=30,
                          json={"guide": "新生儿出生一件事", "data": NEWBORN, "sender": conversation.sender,
                                "token": conversation.token})
    number = response.json()["number"]
    conversation.say("查询办件进度")
    conversation.say(number)
    assert of_kind(conversation.say("5678"), "status_result")
    messages = conversation.say("那我什么时候能拿到户口本")
    detail = of_kind(messages, "status_detail")
    assert detail and detail[0]["data"]["number"] == number, pretty(messages)
    assert any("户口" in item for item in detail[0]["data"]["items"]), pretty(messages)


def test_side_question_in_a_form_gets_one_answer_then_the_form_question(conversation):
    conversation.say("孩子出生要办什么手续")
    started = conversation.say("/start_application")
    assert of_kind(started, "form_question"), pretty(started)
    messages = conversation.say("开饭馆要带什么材料")
    kinds = [m["kind"] for m in messages]
    assert kinds.count("form_question") == 1 and "clarify" not in kinds, pretty(messages)
    answer = of_kind(messages, "guide_answer")[0]
    assert not [b for b in answer["buttons"] if b["payload"] == "/start_application"], pretty(messages)
