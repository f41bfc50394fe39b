"""Reading a caller's words while an appeal is taken (core/tickets/intake.py)."""
from __future__ import annotations

import pytest

from core.tickets import intake
from core.tickets.intake import CONFIRM, first_message, interpret, next_field


def fill(data: dict, text: str, asked: str | None, **kw) -> intake.Outcome:
    out = interpret(text, data, asked, **kw)
    data.update(out.updates)
    return out


def test_the_first_sentence_gives_what_where_and_when():
    data = first_message("我们幸福小区门口的路灯坏了好几天了，晚上出门很不方便")
    assert data["description"] == "我们幸福小区门口的路灯坏了好几天了，晚上出门很不方便"   # kept verbatim
    assert data["address"] == "幸福小区" and data["occurred"] == "好几天了"
    assert data["appeal_type"] == "投诉"
    assert next_field(data) == "caller_name"


@pytest.mark.parametrize("opening", ["我要投诉", "我想反映个问题", "你好，我要举报", "我想提个建议"])
def test_an_opening_without_the_problem_asks_what_happened(opening):
    data = first_message(opening)
    assert "description" not in data and next_field(data) == "description"
    out = fill(data, opening, "description")
    assert "description" in out.errors


def test_one_answer_can_give_several_fields():
    data = first_message("工地半夜还在打桩，吵得睡不着")
    out = fill(data, "我叫王芳，电话13947761207", "caller_name")
    assert data["caller_name"] == "王芳" and data["phone"] == "13947761207" and data["reply_wanted"] is True
    assert out.errors == {}


@pytest.mark.parametrize("text,field,value", [
    ("地址说错了，应该是幸福小区东门", "address", "幸福小区东门"),
    ("时间不对，是上个月开始的", "occurred", "上个月开始的"),
    ("不是投诉，是求助", "appeal_type", "求助"),
    ("改成举报", "appeal_type", "举报"),
    ("电话改成 139-4776-1208", "phone", "13947761208"),
])
def test_corrections_at_the_summary(text, field, value):
    data = first_message("幸福小区门口的路灯坏了好几天了")
    data.update(caller_name="王芳", phone="13947761207", reply_wanted=True)
    out = fill(data, text, CONFIRM)
    assert data[field] == value and field in out.corrected and not out.confirmed


def test_a_supplement_is_added_to_the_callers_words():
    data = first_message("幸福小区门口的路灯坏了好几天了")
    fill(data, "补充一下：灯杆也歪了", "caller_name")
    assert data["description"].startswith("幸福小区门口的路灯坏了好几天了") and "灯杆也歪了" in data["description"]


def test_a_side_question_is_not_taken_as_an_answer():
    data = first_message("幸福小区门口的路灯坏了好几天了")
    out = fill(data, "办居住证要什么材料？", "caller_name", intent="ask_guide", confidence=0.9)
    assert out.question and "caller_name" not in data


@pytest.mark.parametrize("intent", ["cancel_application", "pause_application", "request_human", "check_status"])
def test_control_words_leave_the_form_to_the_dialogue(intent):
    data = first_message("幸福小区门口的路灯坏了好几天了")
    assert interpret("先不弄了", data, "occurred", intent=intent, confidence=0.9).interrupt


def test_a_vague_place_is_asked_again_but_not_forever():
    data = first_message("我要投诉")
    fill(data, "工地半夜还在打桩，吵得睡不着", "description")
    assert "address" in fill(data, "我们这里", "address").errors
    data["_tries"] = {"address": 2}
    assert fill(data, "就在楼下", "address").errors == {} and data["address"]


def test_suggestions_need_no_place_and_reports_may_be_anonymous():
    suggestion = first_message("建议在我们小区附近加一个公交站")
    assert suggestion["appeal_type"] == "建议"
    assert fill(suggestion, "没有", "address").errors == {} and suggestion["address"] == ""
    report = first_message("我要举报红旗村有一家黑作坊偷偷生产食品")
    fill(report, "匿名", "caller_name")
    assert report["caller_name"] == "" and report["anonymous"] is True


def test_no_reply_wanted_skips_the_phone():
    data = first_message("幸福小区门口的路灯坏了好几天了")
    data.update(caller_name="")
    assert "phone" in fill(data, "1394776", "phone").errors
    fill(data, "不用答复了", "phone")
    assert data["reply_wanted"] is False and next_field(data) is None


def test_the_summary_masks_the_phone_and_confirm_submits():
    data = first_message("幸福小区门口的路灯坏了好几天了，我叫王芳，电话13947761207")
    rows = {r["field"]: r["value"] for r in intake.summary_rows(data)}
    assert rows["phone"] == "139****1207" and "13947761207" not in intake.summary_text(data)
    assert interpret("确认提交", data, CONFIRM).confirmed
    assert interpret("不对", data, CONFIRM).edit_requested


@pytest.mark.parametrize(("text", "asked", "question"), [
    ("我是问社保卡怎么补", "address", True),          # a service question, not where the problem is
    ("不是投诉 我就问问", "occurred", False),
    ("我不投诉了", "caller_name", False),
])
def test_a_caller_who_did_not_mean_to_file_is_not_recorded(text, asked, question):
    out = intake.interpret(text, {"appeal_type": "投诉", "description": "噪音扰民"}, asked)
    assert out.withdrawn and out.question is question and not out.updates and not out.errors


def test_a_type_change_is_not_taken_for_a_withdrawal():
    out = intake.interpret("不是投诉，是举报", {"appeal_type": "投诉", "description": "噪音扰民"}, "address")
    assert not out.withdrawn and out.updates == {"appeal_type": "举报"}


def test_a_late_answer_about_when_is_not_taken_for_a_name():
    out = intake.interpret("去年十月开始", {"appeal_type": "投诉", "description": "拖欠工资"}, "caller_name")
    assert "caller_name" in out.errors and not out.updates
    assert intake.interpret("李月", {"appeal_type": "投诉"}, "caller_name").updates == {"caller_name": "李月"}
