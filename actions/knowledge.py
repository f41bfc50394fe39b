"""Answers to "what do I need for X" from the service guides, with situation questions and follow-ups."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.messages import HotlineAction, button, say
from knowledge.catalog import get_catalog
from knowledge.notice import Selection, compose, detect_items, detect_situation, next_question
from knowledge.retrieval import get_retriever, warm_up
from knowledge.schema import Guide

log = logging.getLogger(__name__)

NOT_FOUND_TEXT = (
    "抱歉，我的办事指南库里暂时没有找到与您问题对应的事项，为避免给您错误的信息，我先不作答复。"
    "您可以换个说法再问，或拨打12345由人工坐席为您查询。"
)


def _entity(tracker: Tracker, name: str) -> str | None:
    return next(tracker.get_latest_entity_values(name), None)


def _selection_from_slots(tracker: Tracker, guide: Guide) -> Selection:
    situation = tracker.get_slot("situation")
    return Selection(guide=guide, items=list(tracker.get_slot("chosen_items") or []),
                     situation=dict(situation) if isinstance(situation, dict) else {})


def _slots(sel: Selection) -> list[dict]:
    return [SlotSet("current_guide", sel.guide.name), SlotSet("chosen_items", list(sel.items)),
            SlotSet("situation", dict(sel.situation))]


def _apply_option(sel: Selection, option: str | None) -> None:
    """Payload of a situation button: "<situation id>=<option value>"."""
    sid, _, value = (option or "").partition("=")
    for situation in sel.guide.situations:
        if situation.id == sid and value in {o.value for o in situation.options}:
            sel.situation[sid] = value


def _ask_situation(dispatcher: CollectingDispatcher, sel: Selection) -> None:
    situation = next_question(sel)
    say(dispatcher, "clarify", f"关于{sel.guide.name}，材料要看您的具体情况：{situation.question}",
        data={"guide": sel.guide.name, "question": situation.id, "options": [o.model_dump() for o in situation.options]},
        buttons=[button(o.label, f'/choose_option{{"option": "{situation.id}={o.value}"}}') for o in situation.options])


def _answer(dispatcher: CollectingDispatcher, sel: Selection) -> list[dict]:
    if next_question(sel) is not None:
        _ask_situation(dispatcher, sel)
        return _slots(sel)
    answer = compose(sel)
    buttons = [button("我要申请", "/start_application")] if sel.guide.form else []
    if sel.guide.kind == "bundle" and len(sel.guide.items) > 1:
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


class ActionAnswerGuide(HotlineAction):
    def name(self) -> str:
        return "action_answer_guide"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        catalog = get_catalog()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        current = catalog.get(tracker.get_slot("current_guide"))

        if intent == "choose_guide":
            guide = catalog.get(_entity(tracker, "guide"))
            if guide is None:
                say(dispatcher, "clarify", "请告诉我您要办理的事项名称，例如“新生儿出生一件事”。")
                return []
            return _answer(dispatcher, Selection(guide=guide, situation=detect_situation(guide, text)))

        if intent == "choose_option":
            if current is None:
                say(dispatcher, "clarify", "请问您要咨询哪一项业务？", data={"question": "guide"})
                return []
            sel = _selection_from_slots(tracker, current)
            _apply_option(sel, _entity(tracker, "option"))
            return _answer(dispatcher, sel)

        result = None  # one retrieval per turn, shared by the follow-up check and the search
        if current is not None:
            found, items = detect_situation(current, text), detect_items(current, text)
            if intent != "ask_variant" and (found or items is not None):
                result = get_retriever().search(text, k=3)
            if intent == "ask_variant" or (result is not None and _still_about(result, current)):
                sel = _selection_from_slots(tracker, current)
                sel.situation.update(found)
                if items is not None:
                    sel.items = items
                elif intent == "ask_variant" and "几项" in text:
                    say(dispatcher, "clarify",
                        f"好的，{current.name}包括：" + "、".join(i.name for i in current.items)
                        + "。请告诉我您要办哪几项，例如“只办" + current.items[0].name + "”。",
                        data={"guide": current.name, "question": "items",
                              "options": [i.name for i in current.items]})
                    return []
                return _answer(dispatcher, sel)

        return self._search(dispatcher, text, result)

    @staticmethod
    def _search(dispatcher: CollectingDispatcher, text: str, result: dict | None = None) -> list[dict]:
        result = result or get_retriever().search(text, k=3)
        if result.get("suggestions"):  # close but not sure: ask, never answer with a guess
            names = result["suggestions"]
            say(dispatcher, "clarify", "抱歉，我不太确定您要咨询的事项。您是想问下面这项吗？如果都不是，可以换个说法或转人工。",
                data={"question": "guide", "candidates": names, "unsure": True},
                buttons=[button(n, f'/choose_guide{{"guide": "{n}"}}') for n in names]
                + [button("都不是，转人工", "/request_human")])
            return []
        if not result["answerable"]:
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
        return _answer(dispatcher, sel)


class ActionAnswerDetail(HotlineAction):
    """Follow-ups about the guide under discussion: time, place, online, fee."""

    def name(self) -> str:
        return "action_answer_detail"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        guide = get_catalog().get(tracker.get_slot("current_guide"))
        if guide is None:
            say(dispatcher, "clarify", "请问您问的是办理哪一项业务？例如“身份证换领”或“退休一件事”。",
                data={"question": "guide"})
            return []
        data = compose(_selection_from_slots(tracker, guide))["data"]
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "ask_time":
            text = f"{guide.name}承诺办理时限：{guide.time_limit.promised}；法定时限：{guide.time_limit.legal}。"
            if len(guide.items) > 1:
                text += "\n" + "\n".join(f"• {i.name}：{i.time_limit}" for i in guide.items)
        elif intent == "ask_where":
            text = f"{guide.name}可以到以下地点办理：\n" + "\n".join(f"• {w}" for w in guide.where.windows)
            if guide.where.note:
                text += f"\n{guide.where.note}"
        elif intent == "ask_online":
            text = f"{guide.name}：{data['online']}。"
        else:
            text = f"{guide.name}收费标准：{guide.fee}"
        say(dispatcher, "guide_detail", text, data={"guide": guide.name, "aspect": intent, "speech": text})
        return []


warm_up()  # before the first caller waits for the model
