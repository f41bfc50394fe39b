"""Real conversations with the running assistant (Rasa + actions + gateway) over HTTP."""
import sqlite3

import pytest


def test_greeting_offers_help_in_chinese(conversation):
    [reply] = conversation.say("你好")
    assert reply["kind"] == "greeting"
    assert "12345" in reply["text"]
    assert reply["buttons"], "the greeting offers quick replies"


def test_traditional_characters_are_understood_like_simplified(conversation):
    assert conversation.kinds("你是機器人嗎") == ["bot_identity"]
    assert conversation.kinds("謝謝你") == ["thanks"]


def test_out_of_scope_says_what_the_assistant_can_do(conversation):
    [reply] = conversation.say("给我讲个笑话吧")
    assert reply["kind"] == "out_of_scope"
    assert "办事指南" in reply["text"]


def test_two_misunderstandings_in_a_row_offer_a_human_agent(conversation):
    first = conversation.say("嗯嗯嗯")
    second = conversation.say("asdkjh qwe")
    assert first[0]["kind"] == "fallback" and not first[0]["data"]["offer_human"]
    assert second[0]["kind"] == "fallback" and second[0]["data"]["offer_human"]
    assert any(b["payload"] == "/request_human" for b in second[0]["buttons"])


def test_human_request_queues_the_caller_and_says_the_truth(conversation, live_stack):
    [reply] = conversation.say("我要转人工")
    assert reply["kind"] == "handoff" and reply["data"]["state"] == "queued"
    # no agent console is open in this stack: nobody is on duty, so no wait is pretended
    assert reply["data"]["agents_on_duty"] == 0 and reply["data"]["estimated_wait_seconds"] is None
    assert reply["data"]["offer_callback"] is True and "没有人工坐席在线" in reply["text"]
    db = live_stack["data_dir"] / "hotline.db"
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT state, reason FROM handoff_conversations WHERE sender = ?",
                           (conversation.sender,)).fetchall()
    assert rows == [("queued", "caller_request")]
    # "不用了" cancels the waiting; the assistant answers again
    [cancelled] = conversation.say("不用了")
    assert cancelled["kind"] == "handoff" and cancelled["data"]["state"] == "returned"
    assert conversation.say("孩子出生要办什么")[0]["data"].get("guide") == "新生儿出生一件事"


def test_call_back_left_when_nobody_is_on_duty(conversation):
    conversation.say("转人工")
    bad = conversation.say('/handoff_callback{"phone": "12345", "description": "营业执照补办"}')
    assert bad[0]["data"]["state"] == "callback_invalid"
    [ok] = conversation.say('/handoff_callback{"phone": "139 4776 1207", "description": "营业执照补办"}')
    assert ok["data"]["state"] == "callback_requested"
    assert "13947761207" not in ok["text"] and "1207" in ok["text"]


@pytest.mark.parametrize(("text", "number"), [("我家厨房着火了", "119"), ("有人晕倒了快来人", "120"),
                                              ("有人拿刀在砍人", "110")])
def test_emergency_gets_the_emergency_number_first(conversation, text, number):
    messages = conversation.say(text)
    assert messages[0]["kind"] == "emergency"
    assert number in messages[0]["data"]["numbers"]


def test_emergency_inside_another_flow_then_the_flow_continues(conversation):
    [question] = conversation.say("孩子刚出生要办什么手续")
    assert question["kind"] == "clarify"
    [alarm] = conversation.say("等一下，隔壁煤气泄漏了")
    assert alarm["kind"] == "emergency" and "119" in alarm["data"]["numbers"]
    # the pending situation question still applies: answering it completes the guidance
    answer = conversation.say(question["buttons"][0]["payload"])
    assert answer[-1]["kind"] == "guide_answer"
    assert answer[-1]["data"]["guide"] == "新生儿出生一件事"


def test_emergency_inside_an_application_form_then_the_form_resumes(conversation):
    started = conversation.say("我要申请退休一件事")
    asked = [m for m in started if m["kind"] == "form_question"][-1]["data"]["field"]
    [alarm] = conversation.say("先别填了，我家楼下着火了！")
    assert alarm["kind"] == "emergency" and "119" in alarm["data"]["numbers"]
    # the emergency did not consume or cancel the form: the same question is still open
    again = conversation.say("请继续")
    pending = [m for m in again if m["kind"] == "form_question"]
    assert pending and pending[-1]["data"]["field"] == asked
