"""Filing appeals (工单) in conversation over HTTP, the way the widget does it."""
from __future__ import annotations

import re

import pytest

from tests.conftest import Conversation


def last(messages: list[dict], kind: str) -> dict:
    found = [m for m in messages if m["kind"] == kind]
    assert found, f"no {kind} in {[m['kind'] for m in messages]}"
    return found[-1]


def file_through(convo: Conversation, opening: str, answers: dict[str, str]) -> dict:
    """Answer whatever is asked from `answers` (by field) until the summary, then confirm."""
    messages = convo.say(opening)
    for _ in range(8):
        kinds = [m["kind"] for m in messages]
        if "ticket_summary" in kinds:
            break
        question = last(messages, "ticket_question")
        messages = convo.say(answers[question["data"]["field"]])
    else:
        pytest.fail("the summary never came")
    return last(convo.say("确认提交"), "ticket_created")


ANSWERS = {"description": "小区门口的路灯坏了一个月了", "address": "锦绣华城小区南门", "occurred": "上个月开始",
           "caller_name": "王女士", "phone": "13947761207"}


@pytest.mark.parametrize("opening,appeal_type", [
    ("我要投诉，春晖小区门口的垃圾站好几天没人清运了，臭得不行", "投诉"),
    ("我要举报，红旗村有一家黑作坊偷偷生产食品", "举报"),
    ("建议在新华大街和锡林路路口加一个红绿灯", "建议"),
    ("求助，我家楼上漏水好几天了找不到人，家里老人没法住", "求助"),
    ("咨询一下，我们小区供暖费为什么今年涨了", "咨询"),
])
def test_each_appeal_type_gets_a_ticket_with_number_department_and_deadline(live_gateway, opening, appeal_type):
    convo = Conversation(live_gateway)
    created = file_through(convo, opening, ANSWERS)
    data = created["data"]
    assert re.fullmatch(r"GD\d{8}[0-9A-Z]{6}", data["number"]) and data["number"] in created["text"]
    assert data["appeal_type"] == appeal_type
    assert data["due"] and "答复期限" in created["text"]
    if data["department"]:   # routed: the caller is told to whom
        assert data["level1"] and data["department"] in created["text"]
    else:                    # unsure classification waits for staff, and the caller is told so
        assert "确认问题分类" in created["text"]


def test_corrections_and_a_side_question_keep_the_ticket(conversation):
    messages = conversation.say("和平路上有个井盖丢了，很危险")
    assert last(messages, "ticket_started")
    messages = conversation.say("我叫李明，电话13812345678")
    assert "联系电话" in last(messages, "ticket_ack")["text"] and "姓名" in last(messages, "ticket_ack")["text"]
    messages = conversation.say("办居住证要什么材料？")   # answered, then the same question again
    assert {"clarify", "guide_answer"} & {m["kind"] for m in messages}
    assert last(messages, "ticket_question")["data"]["field"] == "occurred"
    summary = last(conversation.say("昨天晚上"), "ticket_summary")
    assert "138****5678" in summary["text"] and "13812345678" not in summary["text"]
    corrected = conversation.say("地址说错了，应该是和平路与新华大街路口")
    assert "和平路与新华大街路口" in last(corrected, "ticket_correction")["text"]
    assert "求助" in last(conversation.say("不是投诉，是求助"), "ticket_correction")["text"]
    reminded = conversation.say("井盖归哪个部门管？")   # a question at the summary: answered or not, the ticket waits
    assert "还没有提交" in last(reminded, "ticket_edit")["text"]
    created = last(conversation.say("确认提交"), "ticket_created")
    assert created["data"]["appeal_type"] == "求助"


def test_cancel_files_nothing_and_pause_resumes(live_gateway):
    convo = Conversation(live_gateway)
    convo.say("我要投诉，楼下饭店油烟太大熏得没法开窗")
    assert "ticket_paused" in convo.kinds("暂停一下")
    resumed = convo.say("继续登记")
    assert last(resumed, "ticket_question")
    cancelled = convo.say("取消")
    assert last(cancelled, "ticket_cancelled") and "不会提交" in last(cancelled, "ticket_cancelled")["text"]
    assert "ticket_created" not in convo.kinds("确认提交")


def test_a_second_caller_about_the_same_problem_is_linked_and_can_check_progress(live_gateway):
    first = file_through(Conversation(live_gateway), "振华小区3号楼门口的下水道堵了，污水冒到路上了",
                         dict(ANSWERS, address="振华小区3号楼"))
    second_convo = Conversation(live_gateway)
    second = file_through(second_convo, "振华小区3号楼那里下水道又堵了，污水流得到处都是",
                          dict(ANSWERS, phone="13912340000", caller_name="不留"))
    assert second["data"]["duplicate_of"] == first["data"]["number"]
    assert first["data"]["number"] in second["text"] and "已有市民反映" in second["text"]
    assert second["data"]["callers"] == 2
    # progress by number + the last four digits of the phone given
    second_convo.say("查询工单进度")
    second_convo.say(second["data"]["number"])
    status = last(second_convo.say("0000"), "ticket_status")
    assert status["data"]["duplicate_of"] == first["data"]["number"] and status["data"]["state_label"] == "已受理"


def test_police_matters_and_emergencies_are_not_filed(conversation):
    police = last(conversation.say("我被骗了两万块钱，对方把我拉黑了"), "police_referral")
    assert "110" in police["text"] and "派出所" in police["text"]
    emergency = last(conversation.say("有个人正在撬楼下的电动车锁，人还没走"), "emergency")
    assert "110" in emergency["data"]["numbers"]
    complaint = conversation.say("120急救车来得太慢了我要投诉")
    assert "emergency" not in [m["kind"] for m in complaint] and last(complaint, "ticket_started")


def test_confirming_again_after_filing_says_the_appeal_is_registered(live_gateway):
    convo = Conversation(live_gateway)
    created = file_through(convo, "我要投诉，春晖小区门口的垃圾站好几天没人清运了", ANSWERS)
    again = convo.say("确认提交")
    assert [m["kind"] for m in again] == ["ticket_status"], again
    assert created["data"]["number"] in again[0]["text"] and "无需重复提交" in again[0]["text"]


def test_a_caller_who_only_wanted_to_ask_is_answered_and_offered_to_drop_the_ticket(live_gateway):
    convo = Conversation(live_gateway)
    messages = convo.say("我要投诉，春晖小区门口的垃圾站好几天没人清运了")
    asked = last(messages, "ticket_question")["data"]["field"]
    reply = convo.say("不是投诉，我是问社保卡丢了怎么补")
    offer = last(reply, "ticket_edit")
    assert [b["title"] for b in offer["buttons"]] == ["取消登记", "继续登记"]
    assert any(m["kind"] in ("guide_answer", "clarify") and m["data"].get("guide") == "社会保障卡居民服务一件事"
               for m in reply), [m["kind"] for m in reply]
    assert last(reply, "ticket_question")["data"]["field"] == asked       # nothing was taken as the answer
    gone = convo.say("/cancel_application")
    assert not any(m["kind"] == "ticket_created" for m in gone)
