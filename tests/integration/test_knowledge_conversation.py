"""Guidance answers (一次告知) through /api/chat, grounded in the service guides."""
import httpx

from knowledge.catalog import get_catalog
from tests.conftest import Conversation


def _answer(messages):
    answers = [m for m in messages if m["kind"] == "guide_answer"]
    assert answers, messages
    return answers[-1]


def _answer_after_clarify(conversation, text, option_index=0, guide=None):
    """Ask, and answer the one clarifying question if the bot needs it.

    If the bot offers candidate guides (low confidence), the expected `guide` must be among them
    and is picked, as a caller would click it."""
    messages = conversation.say(text)
    if guide and messages[-1]["kind"] == "clarify" and messages[-1]["data"].get("question") == "guide":
        assert guide in messages[-1]["data"]["candidates"], messages
        pick = next(b for b in messages[-1]["buttons"] if b["title"] == guide)
        messages = conversation.say(pick["payload"])
    if messages[-1]["kind"] == "clarify" and messages[-1]["data"].get("question") != "guide":
        messages = conversation.say(messages[-1]["buttons"][option_index]["payload"])
    return _answer(messages)


def test_direct_question_gets_a_complete_notice_from_the_guide(conversation):
    answer = _answer_after_clarify(conversation, "我的身份证过期了，要怎么换")
    data = answer["data"]
    assert data["guide"] == "居民身份证换领补领"
    guide = get_catalog().get(data["guide"])
    assert data["time_limit"] == guide.time_limit.promised
    assert {m["name"] for m in data["materials"]} <= {m.name for m in guide.materials}
    assert data["where"] and data["fee"] and data["notice_url"].startswith("/notice?")
    assert data["speech"] and len(data["speech"]) < len(answer["text"])
    assert "内蒙古政务服务网" in answer["text"]


def test_situation_question_decides_the_material_list(conversation):
    [question] = conversation.say("孩子刚出生要办什么手续")
    assert question["kind"] == "clarify"
    assert question["data"]["guide"] == "新生儿出生一件事"
    labels = [b["title"] for b in question["buttons"]]
    assert len(labels) >= 2
    married = _answer(conversation.say(question["buttons"][0]["payload"]))
    assert married["data"]["situation"]
    # another caller giving the other answer to the same question is told to bring something different
    other = Conversation(conversation.base_url)
    assert other.say("孩子刚出生要办什么手续")[-1]["kind"] == "clarify"
    unmarried = _answer(other.say(question["buttons"][1]["payload"]))
    other.client.close()
    assert {m["name"] for m in unmarried["data"]["materials"]} != {m["name"] for m in married["data"]["materials"]}


def test_choosing_part_of_a_bundle_merges_materials_without_duplicates(conversation):
    full = _answer_after_clarify(conversation, "孩子刚出生要办哪些手续")
    part = _answer(conversation.say("我只办户口登记和医保参保"))
    assert set(part["data"]["items"]) == {"户口登记", "城乡居民医疗保险参保登记"}
    names = [m["name"] for m in part["data"]["materials"]]
    assert len(names) == len(set(names)), "a material needed by two items appears once"
    assert len(part["data"]["materials"]) < len(full["data"]["materials"])
    for material in part["data"]["materials"]:
        assert set(material["items"]) <= {"户口登记", "城乡居民医疗保险参保登记"}


def test_follow_ups_refer_to_the_current_guide(conversation):
    answer = _answer_after_clarify(conversation, "退休手续怎么办")
    guide = answer["data"]["guide"]
    assert guide == "退休一件事"
    for question, word in [("要多长时间", "时限"), ("在哪里办", "办理"), ("能网上办吗", guide), ("收费吗", "收费")]:
        [reply] = conversation.say(question)
        assert reply["kind"] == "guide_detail" and reply["data"]["guide"] == guide
        assert word in reply["text"]


def test_asking_again_what_to_bring_gets_the_material_list_of_the_current_guide(conversation):
    first = _answer_after_clarify(conversation, "社保卡丢了怎么补办")
    guide = first["data"]["guide"]
    for question in ("要带什么", "拿什么去", "带啥", "要啥材料", "都要什么"):   # as callers ask it, short
        again = _answer(conversation.say(question))
        assert again["data"]["guide"] == guide, question
        assert [m["name"] for m in again["data"]["materials"]] == [m["name"] for m in first["data"]["materials"]]
    assert conversation.say("你能做什么")[-1]["kind"] == "capabilities"      # the real question still works


def test_is_this_on_the_list_is_answered_from_the_material_list(conversation):
    first = _answer_after_clarify(conversation, "社保卡丢了怎么补办")
    guide, names = first["data"]["guide"], [m["name"] for m in first["data"]["materials"]]
    [on_list] = conversation.say("要身份证吗")                                   # not the 身份证 guide
    assert on_list["kind"] == "guide_detail" and on_list["data"]["guide"] == guide
    assert on_list["data"]["found"] is True and on_list["text"].startswith("需要")
    assert on_list["data"]["materials"] and set(on_list["data"]["materials"]) <= set(names)
    assert not any("户口" in n for n in names)                                  # this guide does not ask for it
    [missing] = conversation.say("还要户口本吗")
    assert missing["data"]["aspect"] == "material_check" and missing["data"]["guide"] == guide
    assert missing["data"]["found"] is False and missing["data"]["materials"] == []
    assert "没有“户口本”" in missing["text"] and f"共需准备{len(names)}项材料" in missing["text"]


def test_a_typed_answer_to_the_situation_question_is_taken_whatever_it_sounds_like(conversation):
    [question] = conversation.say("孩子刚出生要办什么手续")
    assert question["kind"] == "clarify" and question["data"]["question"] == "marriage"
    answer = _answer(conversation.say("结婚了"))                                 # not taken for a greeting
    assert answer["data"]["guide"] == "新生儿出生一件事" and answer["data"]["situation"]["marriage"] == "married"
    assert conversation.say("你好")[-1]["kind"] == "greeting"                  # nothing asked now: a greeting


def test_what_if_follow_up_changes_the_situation(conversation):
    _answer_after_clarify(conversation, "孩子出生了要办什么", option_index=0)
    answer = _answer(conversation.say("那如果是外地户口呢"))
    assert answer["data"]["situation"].get("household") == "one_nonlocal"


def test_traditional_question_is_answered(conversation):
    answer = _answer_after_clarify(conversation, "失業了怎麼領失業金")
    assert answer["data"]["guide"] == "失业保险金申领"


def test_question_outside_the_knowledge_base_is_declined_honestly(conversation):
    [reply] = conversation.say("出国护照怎么办理")
    assert reply["kind"] == "guide_not_found"
    assert any(b["payload"] == "/request_human" for b in reply["buttons"])
    assert "materials" not in reply["data"]


def test_printable_notice_and_search_api(live_gateway, conversation):
    answer = _answer_after_clarify(conversation, "营业执照丢了怎么补", guide="营业执照遗失补领")
    with httpx.Client(base_url=live_gateway) as client:
        page = client.get(answer["data"]["notice_url"])
        assert page.status_code == 200 and "一次性告知单" in page.text
        for material in answer["data"]["materials"]:
            assert material["name"] in page.text
        found = client.get("/api/knowledge/search", params={"q": "孩子刚出生要办什么", "k": 3}).json()
        assert found["answerable"] and found["results"][0]["name"] == "新生儿出生一件事"
        refused = client.get("/api/knowledge/search", params={"q": "护照怎么办理"}).json()
        assert refused["answerable"] is False
        assert client.get("/notice", params={"guide": "不存在的事项"}).status_code == 404
        assert client.get("/api/knowledge/search", params={"q": ""}).status_code == 422


def test_apply_button_starts_the_one_table_form_for_the_chosen_items(conversation):
    _answer_after_clarify(conversation, "孩子刚出生要办哪些手续")
    part = _answer(conversation.say("我只办户口登记和医保参保"))
    apply = next(b for b in part["buttons"] if b["title"] == "我要申请")
    messages = conversation.say(apply["payload"])
    started = [m for m in messages if m["kind"] == "application_started"]
    assert started, messages
    assert started[0]["data"]["form"] == "新生儿出生一件事"
    assert set(started[0]["data"]["items"]) == {"户口登记", "城乡居民医疗保险参保登记"}
    assert messages[-1]["kind"] == "form_question"


def test_a_near_miss_is_offered_as_a_question_not_answered_with_a_guess(conversation):
    [reply] = conversation.say("我爸去世了要办哪些手续")
    if reply["kind"] == "guide_answer":  # confidently answered is fine too, as long as it is the right guide
        assert reply["data"]["guide"] == "身后一件事"
        return
    assert reply["kind"] == "clarify" and reply["data"]["unsure"] is True
    assert "身后一件事" in reply["data"]["candidates"]
    assert any(b["payload"] == "/request_human" for b in reply["buttons"])
    pick = next(b for b in reply["buttons"] if b["title"] == "身后一件事")
    messages = conversation.say(pick["payload"])
    if messages[-1]["kind"] == "clarify":  # the guide's one situation question
        assert messages[-1]["data"]["guide"] == "身后一件事"
        messages = conversation.say(messages[-1]["buttons"][0]["payload"])
    assert _answer(messages)["data"]["guide"] == "身后一件事"
