"""Answers to "what do I need for X" from the service guides, with situation questions and follow-ups.

`understand()` is the second line behind the intent classifier: when the classifier is unsure, says
"not understood", or hears a bare yes/no/cancel where nothing is pending, the conversation's context
(the guide in focus, the question just asked) and then knowledge retrieval decide before the caller
is told "I did not understand".
"""
from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.messages import HotlineAction, button, say
from core.guides import live as guide_store, unanswered
from knowledge.catalog import get_catalog
from knowledge.items import detect_items, mentioned_items, parse_item_list, without_item_mentions
from knowledge.notice import (Selection, asks_materials, compose, detail_text, detect_aspect, detect_situation,
                              material_asked, material_check, material_line, materials, next_question)
from knowledge.retrieval import get_retriever, warm_up
from knowledge.schema import Guide
from nlu.textnorm import normalize

log = logging.getLogger(__name__)

NOT_FOUND_TEXT = (
    "抱歉，我的办事指南库里暂时没有找到与您问题对应的事项，为避免给您错误的信息，我先不作答复。"
    "您可以换个说法再问，或拨打12345由人工坐席为您查询。"
)
APPLICATION_FORM = "application_form"
# Bare acknowledgements: never worth a knowledge search.
_ACK = re.compile(r"^(好|好的|行|可以|对|是|是的|嗯|恩|哦|噢|没问题|不用|不用了|不要|没有|不是|不对|算了|没事|没了|"
                  r"谢谢|知道了|明白|收到|ok|OK)+[了的啊吧呀哈嘛呢!！。.,，~\s]*$")


def _entity(tracker: Tracker, name: str) -> str | None:
    return next(tracker.get_latest_entity_values(name), None)


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def pending_question(tracker: Tracker) -> dict:
    """data of the assistant's last message before this turn, if it asked the caller something."""
    events = tracker.events
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=len(events))
    for event in reversed(events[:last_user]):
        if event.get("event") == "user":
            return {}
        if event.get("event") == "bot":
            custom = (event.get("data") or {}).get("custom") or {}
            if custom.get("kind") == "clarify":
                return dict(custom.get("data") or {})
    return {}


def is_acknowledgement(text: str) -> bool:
    """"好的", "不用了", "嗯": a bare yes/no/thanks rather than a question."""
    return bool(_ACK.match(normalize(text)))


# "Check the status" with no word of a status question at all ("营业执照丢了" scored as check_status) is a
# guess: the conversation's context and the guides are asked first, and answer when they can. With such
# a word ("低保批下来没有") the classifier is trusted, whatever its score (chosen on bench/data/chat_eval.yaml).
_STATUS_WORDS = re.compile(r"进度|办到|结果|审批|审核|状态|受理编号|回执|办好|批下来|下来了|下来没|好了没|好了吗|做好|"
                           r"怎么样了|到哪|哪一步|通过|查一下|查询|查查|我的件|我的申请|我提交")


def unsure_start(tracker: Tracker) -> bool:
    """Is "check the status" only a guess: no word of a status question in the message?"""
    return not _STATUS_WORDS.search(normalize(tracker.latest_message.get("text") or ""))


def _in_form(tracker: Tracker) -> bool:
    return tracker.active_loop_name == APPLICATION_FORM


def _selection_from_slots(tracker: Tracker, guide: Guide) -> Selection:
    situation = tracker.get_slot("situation")
    return Selection(guide=guide, items=list(tracker.get_slot("chosen_items") or []),
                     situation=dict(situation) if isinstance(situation, dict) else {})


def _slots(sel: Selection) -> list[dict]:
    return [SlotSet("current_guide", sel.guide.name), SlotSet("chosen_items", list(sel.items)),
            SlotSet("situation", dict(sel.situation)), SlotSet("status_focus", None)]


def _apply_option(sel: Selection, option: str | None) -> None:
    """Payload of a situation button: "<situation id>=<option value>"."""
    sid, _, value = (option or "").partition("=")
    for situation in sel.guide.situations:
        if situation.id == sid and value in {o.value for o in situation.options}:
            sel.situation[sid] = value


def _ask_situation(dispatcher: CollectingDispatcher, sel: Selection, prefix: str = "") -> None:
    situation = next_question(sel)
    say(dispatcher, "clarify", f"{prefix}关于{sel.guide.name}，材料要看您的具体情况：{situation.question}",
        data={"guide": sel.guide.name, "question": situation.id, "options": [o.model_dump() for o in situation.options]},
        buttons=[button(o.label, f'/choose_option{{"option": "{situation.id}={o.value}"}}') for o in situation.options])


def ask_items(dispatcher: CollectingDispatcher, guide: Guide) -> None:
    """Which covered items: a multiple choice (the widget shows toggles and a confirm button)."""
    names = [i.name for i in guide.items]
    say(dispatcher, "clarify",
        f"好的，{guide.name}包括：" + "、".join(names) + "。请选择您要办的事项（可多选），也可以直接说，"
        "例如“只办" + names[0] + "”或“" + names[-1] + "先不办”。",
        data={"guide": guide.name, "question": "items", "multi": True,
              "options": [{"value": n, "label": n} for n in names],
              "payload_template": '/choose_items{"items": "{values}"}', "separator": "|"},
        buttons=[button(n, f'/choose_items{{"items": "{n}"}}') for n in names]
        + [button("全部都办", f'/choose_items{{"items": "{"|".join(names)}"}}')])


def _answer(dispatcher: CollectingDispatcher, tracker: Tracker, sel: Selection) -> list[dict]:
    """The one-time notice, or first the one situation question worth asking.

    Inside an application form the caller gets one answer and then the form's question again:
    no situation question (materials that depend on it are marked conditional) and no
    "我要申请" button (the application is already open).
    """
    in_form = _in_form(tracker)
    if not in_form and next_question(sel) is not None:
        _ask_situation(dispatcher, sel)
        return _slots(sel)
    answer = compose(sel)
    buttons = [button("我要申请", "/start_application")] if sel.guide.form and not in_form else []
    if sel.guide.kind == "bundle" and len(sel.guide.items) > 1 and not in_form:
        buttons.append(button("只办其中几项", "我只办其中几项"))
    say(dispatcher, "guide_answer", answer["text"], data=answer["data"], buttons=buttons)
    return _slots(sel)


def _candidates(dispatcher: CollectingDispatcher, names: list[str]) -> None:
    say(dispatcher, "clarify", "您想咨询的是下面哪一项？",
        data={"question": "guide", "candidates": names},
        buttons=[button(n, f'/choose_guide{{"guide": "{n}"}}') for n in names])


def _still_about(result: dict, guide: Guide) -> bool:
    """A situation or item follow-up stays on the current guide unless retrieval clearly names another."""
    top = result["results"][0]["name"] if result["results"] else None
    return not result["answerable"] or top == guide.name


def answer_detail(dispatcher: CollectingDispatcher, tracker: Tracker, guide: Guide, aspect: str,
                  items: list[str] | None = None) -> list:
    sel = _selection_from_slots(tracker, guide)
    if items:  # "营业执照要多久" inside a bundle: about that item
        sel.items = items
    text = detail_text(sel, aspect)
    say(dispatcher, "guide_detail", text, data={"guide": guide.name, "aspect": aspect, "speech": text})
    return []


def answer_material_check(dispatcher: CollectingDispatcher, tracker: Tracker, guide: Guide, thing: str) -> list:
    """Whether `thing` is on the guide's material list for the selection so far, said from the list itself."""
    listed = materials(_selection_from_slots(tracker, guide))
    found = material_check(listed, thing)
    if found:
        text = f"需要。{guide.name}的材料清单中有：\n" + "\n".join(material_line(m) for m in found)
    else:
        text = (f"{guide.name}的材料清单中没有“{thing}”。按您目前的情形共需准备{len(listed)}项材料，"
                "您可以说“要带什么”查看完整清单；以窗口一次性告知为准。")
    say(dispatcher, "guide_detail", text, data={"guide": guide.name, "aspect": "material_check", "thing": thing,
                                                 "found": bool(found), "materials": [m["name"] for m in found],
                                                 "speech": text})
    return []


def follow_up(dispatcher: CollectingDispatcher, tracker: Tracker, current: Guide, text: str,
              *, variant: bool = False, result: dict | None = None) -> tuple[list | None, dict | None]:
    """Treat the message as a follow-up about the guide in focus, if it is one.

    Returns (events, retrieval result): events is None when the message is not a follow-up; the
    retrieval result (if one was needed) is handed back so a turn searches at most once.
    """
    pending = pending_question(tracker)
    asked = pending.get("question") if pending.get("guide") == current.name else None
    named = mentioned_items(current, text)
    thing = material_asked(text)
    if thing and not named:  # "还要照片吗": that one thing, looked up in the material list
        return answer_material_check(dispatcher, tracker, current, thing), result
    aspect = detect_aspect(text)
    # naming two or more items of the bundle in focus picks them, as an answer to "which items" does
    items = detect_items(current, text, expecting=asked == "items" or (len(named) >= 2 and aspect is None))
    found = {} if asked == "items" else detect_situation(current, without_item_mentions(current, text))
    if not variant and (found or items is not None) and asked not in ("items",) and not (
            asked and asked in {s.id for s in current.situations}):
        result = result or get_retriever().search(text, k=3)
        if not _still_about(result, current):
            return None, result
    if variant or found or items is not None:
        sel = _selection_from_slots(tracker, current)
        sel.situation.update(found)
        if items is not None:
            sel.items = items
        elif variant and re.search(r"几项|哪几|部分|其中", text):
            ask_items(dispatcher, current)
            return [], result
        return _answer(dispatcher, tracker, sel), result
    if asks_materials(text):  # "要带什么": the material list again, for the items and situation chosen so far
        return _answer(dispatcher, tracker, _selection_from_slots(tracker, current)), result
    if aspect and len(normalize(text)) <= 15:
        events = answer_detail(dispatcher, tracker, current, aspect, named)
        if asked and asked in {s.id for s in current.situations}:  # answer, then the open question again
            _ask_situation(dispatcher, _selection_from_slots(tracker, current), prefix="另外，")
        return events, result
    return None, result


def search_and_answer(dispatcher: CollectingDispatcher, tracker: Tracker, text: str,
                      result: dict | None = None, *, only_if_found: bool = False) -> list | None:
    """Answer from the best guide; ask when unsure; None (with only_if_found) when nothing came close."""
    result = result or get_retriever().search(text, k=3)
    if result.get("suggestions"):  # close but not sure: ask, never answer with a guess
        names = result["suggestions"]
        unanswered.record(text, "did_you_mean", tracker.sender_id, names)  # the guide editor's queue
        say(dispatcher, "clarify", "抱歉，我不太确定您要咨询的事项。您是想问下面这项吗？如果都不是，可以换个说法或转人工。",
            data={"question": "guide", "candidates": names, "unsure": True},
            buttons=[button(n, f'/choose_guide{{"guide": "{n}"}}') for n in names]
            + [button("都不是，转人工", "/request_human")])
        return []
    if not result["answerable"]:
        if only_if_found:
            return None
        unanswered.record(text, "not_found", tracker.sender_id)
        say(dispatcher, "guide_not_found", NOT_FOUND_TEXT, data={"query": text, "answerable": False},
            buttons=[button("转人工", "/request_human"), button("我能问什么", "/ask_capabilities")])
        return [SlotSet("current_guide", None), SlotSet("chosen_items", []), SlotSet("situation", {})]
    if not result["clear"] and len(result["candidates"]) > 1:
        _candidates(dispatcher, result["candidates"])
        return []
    guide = get_catalog().get(result["results"][0]["name"])
    if guide is None:  # index and guide folder out of step during a rebuild
        say(dispatcher, "guide_not_found", NOT_FOUND_TEXT, data={"query": text, "answerable": False})
        return []
    sel = Selection(guide=guide, items=detect_items(guide, text) or [], situation=detect_situation(guide, text))
    return _answer(dispatcher, tracker, sel)


def understand(dispatcher: CollectingDispatcher, tracker: Tracker, *, search: bool = True,
               require_clear: bool = False) -> list | None:
    """Context, then retrieval, for a message the intent classifier could not place.

    Returns the events of the answer given, or None when neither context nor the guides explain
    the message (the caller then decides: "not understood", "好的", out of scope ...). With
    search=False only the guide in focus is asked; with require_clear only an unambiguous guide
    answers (no "did you mean" question).
    """
    text = tracker.latest_message.get("text") or ""
    clean = normalize(text)
    if not clean or clean.startswith("/") or is_acknowledgement(clean):
        return None
    current = get_catalog().get(tracker.get_slot("current_guide"))
    result = None
    if current is not None:
        events, result = follow_up(dispatcher, tracker, current, text)
        if events is not None:
            return events
    if not search or len(clean) < 3:  # two characters of noise do not make a question
        return None
    result = result or get_retriever().search(text, k=3)
    if require_clear and not (result["answerable"] and result["clear"]):
        return None
    return search_and_answer(dispatcher, tracker, text, result, only_if_found=True)


class ActionAnswerGuide(HotlineAction):
    def name(self) -> str:
        return "action_answer_guide"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        catalog = get_catalog()
        intent = _intent(tracker)
        text = tracker.latest_message.get("text") or ""
        current = catalog.get(tracker.get_slot("current_guide"))

        if intent == "choose_guide":
            guide = catalog.get(_entity(tracker, "guide"))
            if guide is not None and pending_question(tracker).get("unsure"):
                unanswered.accepted(tracker.sender_id, guide.name)   # "did you mean" taken: answered after all
            if guide is None:
                say(dispatcher, "clarify", "请告诉我您要办理的事项名称，例如“新生儿出生一件事”。")
                return []
            return _answer(dispatcher, tracker, Selection(guide=guide, situation=detect_situation(guide, text)))

        if intent in ("choose_option", "choose_items"):
            if current is None:
                say(dispatcher, "clarify", "请问您要咨询哪一项业务？", data={"question": "guide"})
                return []
            sel = _selection_from_slots(tracker, current)
            if intent == "choose_option":
                _apply_option(sel, _entity(tracker, "option"))
            else:
                sel.items = parse_item_list(current, _entity(tracker, "items")) or sel.items
            return _answer(dispatcher, tracker, sel)

        result = None  # one retrieval per turn, shared by the follow-up check and the search
        if current is not None:
            events, result = follow_up(dispatcher, tracker, current, text, variant=intent == "ask_variant")
            if events is not None:
                return events
        return search_and_answer(dispatcher, tracker, text, result)


class ActionAnswerDetail(HotlineAction):
    """Follow-ups about the guide (or the application) under discussion: time, place, online, fee."""

    def name(self) -> str:
        return "action_answer_detail"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        intent = _intent(tracker)
        focus = tracker.get_slot("status_focus")
        if isinstance(focus, dict) and focus.get("guide") and intent == "ask_time":
            return answer_status_time(dispatcher, focus, tracker.latest_message.get("text") or "")
        guide = get_catalog().get(tracker.get_slot("current_guide"))
        if guide is None:  # "身份证换领要多久": the guide may be named in the question itself
            result = get_retriever().search(tracker.latest_message.get("text") or "", k=3)
            guide = get_catalog().get(result["results"][0]["name"]) if result["answerable"] and result["clear"] \
                and result["results"] else None
            if guide is not None:
                return answer_detail(dispatcher, tracker, guide, intent or "ask_fee") + _slots(Selection(guide=guide))
            say(dispatcher, "clarify", "请问您问的是办理哪一项业务？例如“身份证换领”或“退休一件事”。",
                data={"question": "guide"})
            return []
        thing = material_asked(tracker.latest_message.get("text") or "")
        if thing:  # "还要照片吗" taken for a fee or time question: it asks about the material list
            return answer_material_check(dispatcher, tracker, guide, thing)
        return answer_detail(dispatcher, tracker, guide, intent or "ask_fee")


def answer_status_time(dispatcher: CollectingDispatcher, focus: dict, text: str) -> list:
    """"那我什么时候能拿到户口本" right after a status answer: about that application, not a new search."""
    guide = get_catalog().get(focus.get("guide"))
    items = focus.get("items") or []
    clean = normalize(text)
    named = [i for i in items if any(part in clean for part in _item_words(i["name"]))]
    lines = [f"您查询的办件（受理编号{focus.get('number')}，{focus.get('guide')}）目前总体状态：{focus.get('overall')}。"]
    for item in named or items:
        lines.append(f"• {item['name']}：{item['status']}")
    if guide is not None:
        lines.append(f"按承诺时限，{guide.name}{guide.time_limit.promised}。办结后会通过短信通知您，"
                     "证照可到受理窗口领取或选择免费邮寄。")
    if focus.get("overall") == "需补正":
        lines.append("目前需要您先补交材料，补齐后才会继续计时办理。")
    text_out = "\n".join(lines)
    say(dispatcher, "status_detail", text_out, data={
        "number": focus.get("number"), "guide": focus.get("guide"), "overall": focus.get("overall"),
        "items": [i["name"] for i in (named or items)], "aspect": "ask_time", "speech": text_out})
    return []


def _item_words(name: str) -> list[str]:
    clean = normalize(name)
    words = [clean] + [clean[i:i + 2] for i in range(len(clean) - 1)]
    return [w for w in words if w not in {"登记", "办理", "申领", "服务", "证明", "信息", "一件", "件事"}]


warm_up()  # before the first caller waits for the model
guide_store.follow_store_in_action_server()  # published guides from the guide editor's store
