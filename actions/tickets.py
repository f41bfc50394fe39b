"""Ticket intake (工单受理) in conversation: a caller's complaint, request, report or suggestion.

`action_report_problem` starts the intake from the caller's first sentence (which often already says
what, where and when); the Rasa form `ticket_form` then asks the missing fields one at a time through its
only slot `ticket_answer`. The field being asked is `ticket_field`, the answers are in `ticket_data`.
What each message means (an answer, several fields, a correction, a side question, a control word) is
decided by core/tickets/intake.py; filing, classification, routing and duplicates by core/tickets/service.py.
Police matters and emergencies never get here: the gateway answers them first (core/safety.py).
"""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.applications import channel_of, fresh_user_input, intent_of
from actions.knowledge import understand
from actions.messages import HotlineAction, button, say
from core.settings import HOTLINE
from core.tickets import intake
from core.tickets import service as tickets

FORM = "ticket_form"
ANSWER = "ticket_answer"
REQUESTED = "requested_slot"
# Below this intent confidence a confident guide answer wins (chosen on bench/data/chat_eval.yaml).
SURE_APPEAL = 0.85
_PASS_THROUGH = {"action_listen", "action_extract_slots", FORM, "validate_ticket_form", "action_report_problem", None}
_WHO_HANDLES = re.compile(r"哪个部门|什么部门|谁管|归谁|哪个单位|找谁|谁负责|哪里管")
_TYPE_BUTTONS = [button(t, f"改成{t}") for t in intake.PLACE_REQUIRED + ("建议", "咨询")]


def ticket_data(tracker: Tracker) -> dict[str, Any]:
    data = tracker.get_slot("ticket_data")
    return dict(data) if isinstance(data, dict) else {}


def ask(dispatcher: CollectingDispatcher, name: str, data: dict[str, Any]) -> None:
    required = intake.required(name, data)
    text = intake.QUESTIONS[name]
    if name == "caller_name" and data.get("appeal_type") == "举报":
        text = "请问怎么称呼您？举报可以匿名，不想留名请说“匿名”。"
    buttons = []
    if name == "phone":
        buttons = [button("不用答复")]
    elif name == "caller_name":
        buttons = [button("匿名" if data.get("appeal_type") == "举报" else "不留")]
    elif name == "occurred":
        buttons = [button("不清楚")]
    elif name == "address" and not required:
        buttons = [button("没有具体地点", "没有")]
    asked = [n for n in intake.ORDER if n != "phone" or data.get("reply_wanted") is not False]
    say(dispatcher, "ticket_question", text, data={
        "field": name, "label": intake.LABELS[name], "required": required, "appeal_type": data.get("appeal_type"),
        "progress": {"filled": sum(1 for n in asked if data.get(n) is not None), "total": len(asked)},
    }, buttons=buttons)


def show_summary(dispatcher: CollectingDispatcher, data: dict[str, Any]) -> None:
    say(dispatcher, "ticket_summary", intake.summary_text(data),
        data={"rows": intake.summary_rows(data), "appeal_type": data.get("appeal_type"), "masked": True},
        buttons=[button("确认提交"), button("修改", "我要修改"), button("取消", "/cancel_application")])


def reset_events() -> list:
    return [SlotSet("ticket_data", None), SlotSet("ticket_field", None), SlotSet(ANSWER, None)]


class ActionReportProblem(HotlineAction):
    """Start taking an appeal, unless the words are really a question a guide answers."""

    def name(self) -> str:
        return "action_report_problem"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = (tracker.latest_message or {}).get("text") or ""
        if tracker.active_loop_name == FORM:   # a new problem while one is being taken: an addition to it
            return []
        # "海关那个就不用了" while a bundle is in focus; "轮椅辅具能申请不，俺家老头瘫了" when only a weak guess
        confidence = intent_of(tracker)[1]
        events = understand(dispatcher, tracker, search=confidence < SURE_APPEAL, require_clear=True)
        if events is not None:
            return events
        data = intake.first_message(text)
        paused = ticket_data(tracker) if tracker.get_slot("ticket_state") == "paused" else {}
        intro = ("好的，我来为您登记这个诉求（工单），登记后会转给负责的部门办理并在期限内答复。"
                 "过程中可以随时修改，也可以说“暂停”或“取消”。")
        if paused:
            intro = "您之前暂存的诉求已放弃，现在登记新的诉求。" + intro
        say(dispatcher, "ticket_started", intro, data={"appeal_type": data["appeal_type"],
                                                       "fields": [k for k in intake.ORDER if k in data]})
        return reset_events() + [SlotSet("ticket_data", data), SlotSet("ticket_state", "filling"),
                                 FollowupAction(FORM)]


class ValidateTicketForm(HotlineAction):
    """Reads each answer; returns no events (the form turn is rejected) for 暂停, 取消, 转人工 and the like."""

    def name(self) -> str:
        return "validate_ticket_form"

    def on_failure(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        say(dispatcher, "error", "抱歉，刚才没能记录您的回答，请再说一遍。")
        return [SlotSet(ANSWER, None), SlotSet(REQUESTED, ANSWER)]

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        keep = [SlotSet(ANSWER, None), SlotSet(REQUESTED, ANSWER)]
        asked = tracker.get_slot("ticket_field")
        if not asked or not fresh_user_input(tracker, _PASS_THROUGH):
            return keep
        data = ticket_data(tracker)
        intent, confidence = intent_of(tracker)
        text = (tracker.latest_message or {}).get("text") or ""
        outcome = intake.interpret(text, data, asked, intent=intent, confidence=confidence)
        if outcome.interrupt:
            return []
        if outcome.withdrawn:   # "不是投诉，我就问问": answer what they asked, offer to drop the ticket, store nothing
            answered = understand(dispatcher, tracker, search=True) if outcome.question else None
            say(dispatcher, "ticket_edit", "好的。如果您只是咨询、不需要登记诉求，请点“取消登记”；需要继续登记，"
                "请直接回答刚才的问题。", buttons=[button("取消登记", "/cancel_application"), button("继续登记")])
            return (answered or []) + keep
        events: list = []
        if outcome.question:   # a side question: answer it, keep the ticket, ask again
            answered = understand(dispatcher, tracker, search=True)
            if answered is None and _WHO_HANDLES.search(text) and data.get("description"):
                answered = who_handles(dispatcher, data)
            if answered is None:
                say(dispatcher, "fallback", "这个问题我暂时回答不了，登记完诉求后可以转人工咨询。我们先接着登记。")
            events += answered or []
        data.update(outcome.updates)
        tries = dict(data.get("_tries") or {})
        for name in outcome.updates:
            tries.pop(name, None)
        for name in outcome.corrected:
            shown = next((r["value"] for r in intake.summary_rows(data) if r["field"] == name), "")
            say(dispatcher, "ticket_correction", f"好的，已将{intake.LABELS[name]}改为：{shown}。",
                data={"field": name, "label": intake.LABELS[name], "value": shown})
        extra = [n for n in outcome.updates if n in intake.LABELS and n not in outcome.corrected and n != asked
                 and n != "reply_wanted"]
        if extra:
            say(dispatcher, "ticket_ack", "已记下：" + "、".join(intake.LABELS[n] for n in extra) + "。",
                data={"fields": extra})
        for name, reason in outcome.errors.items():
            tries[name] = tries.get(name, 0) + 1
            say(dispatcher, "form_invalid", reason, data={"form": "ticket", "field": name,
                                                          "label": intake.LABELS[name], "attempts": tries[name]})
        data["_tries"] = tries
        events += [SlotSet("ticket_data", data)]
        if asked == intake.CONFIRM:
            if outcome.confirmed:
                return events + [SlotSet(ANSWER, "confirmed"), SlotSet("ticket_state", "confirmed"),
                                 SlotSet(REQUESTED, None)]
            if outcome.edit_requested:
                say(dispatcher, "ticket_edit", "好的，请告诉我要修改哪一项和正确的内容，例如“地址改成新华大街8号”"
                    "“电话改成13900001111”或“不是投诉，是建议”。", data={"fields": list(intake.LABELS)},
                    buttons=_TYPE_BUTTONS)
            elif outcome.question:
                say(dispatcher, "ticket_edit", "您的诉求还没有提交：核对无误请说“确认提交”，需要修改请直接告诉我。",
                    buttons=[button("确认提交"), button("修改", "我要修改")])
            elif outcome.unclear:
                say(dispatcher, "ticket_edit", "请确认以上信息：无误请说“确认提交”；需要修改请直接告诉我要改的内容。",
                    buttons=[button("确认提交")])
            return events + [SlotSet("ticket_quiet", not outcome.updates)] + keep
        return events + keep


def who_handles(dispatcher: CollectingDispatcher, data: dict[str, Any]) -> list | None:
    """"这归哪个部门管？": the department the routing table sends this kind of problem to."""
    classes = tickets.classify(data["description"])
    if classes["manual"] or not classes["department"]:
        return None
    category = "—".join(x for x in (classes["level1"], classes["level2"]) if x)
    say(dispatcher, "ticket_hint", f"您反映的这类问题（{category}）一般由{classes['department']}负责，"
        "登记后会直接转交给他们办理。", data={"department": classes["department"], "level1": classes["level1"],
                                     "level2": classes["level2"]})
    return []


class ActionAskTicketAnswer(HotlineAction):
    """Asks the next missing field, or shows the summary when everything needed is there."""

    def name(self) -> str:
        return "action_ask_ticket_answer"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        data = ticket_data(tracker)
        name = intake.next_field(data)
        if name is not None:
            ask(dispatcher, name, data)
            return [SlotSet("ticket_field", name), SlotSet("ticket_quiet", False)]
        if not (tracker.get_slot("ticket_quiet") and tracker.get_slot("ticket_field") == intake.CONFIRM):
            show_summary(dispatcher, data)
        return [SlotSet("ticket_field", intake.CONFIRM), SlotSet("ticket_quiet", False)]


class ActionSubmitTicket(HotlineAction):
    def name(self) -> str:
        return "action_submit_ticket"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        state = tracker.get_slot("ticket_state")
        if state == "submitted" and tracker.get_slot("ticket_number"):
            say(dispatcher, "ticket_status", f"您的诉求已经登记，工单编号：{tracker.get_slot('ticket_number')}，无需重复提交。",
                data={"number": tracker.get_slot("ticket_number")}, buttons=[button("查询工单进度", "/check_status")])
            return []
        if state != "confirmed":
            say(dispatcher, "ticket_none", "目前没有待提交的诉求。遇到问题需要反映时，直接告诉我发生了什么即可。")
            return []
        data = ticket_data(tracker)
        appeal = tickets.Appeal(
            appeal_type=data.get("appeal_type") or "投诉", description=data.get("description") or "",
            address=data.get("address") or "", occurred=data.get("occurred") or "",
            caller_name=data.get("caller_name") or None, phone=data.get("phone") or None,
            reply_wanted=bool(data.get("reply_wanted", bool(data.get("phone")))),
            anonymous=bool(data.get("anonymous")), channel=channel_of(tracker), sender=tracker.sender_id)
        try:
            filed = tickets.file_ticket(appeal)
        except tickets.TicketError as exc:
            say(dispatcher, "form_invalid", exc.message + " 请补充后再确认。", data={"form": "ticket", "errors": exc.errors})
            kept = {k: v for k, v in data.items() if k not in exc.errors}
            return [SlotSet("ticket_data", kept), SlotSet("ticket_state", "filling"), FollowupAction(FORM)]
        view, duplicate = filed.view, filed.duplicate
        say(dispatcher, "ticket_created", created_text(view, duplicate, filed.created, bool(appeal.phone)), data={
            "number": view["number"], "appeal_type": view["appeal_type"], "level1": view["level1"],
            "level2": view["level2"], "level3": view["level3"], "department": view["department"],
            "due": view["due"], "duplicate_of": view["duplicate_of"], "state": view["state"],
            "classification": view["classification"], "created": filed.created,
            "callers": (duplicate or {}).get("callers", 1), "reply": bool(appeal.phone),
        }, buttons=[button("查询工单进度", "/check_status")])
        return [SlotSet("ticket_number", view["number"]), SlotSet("ticket_state", "submitted"),
                SlotSet("ticket_data", None), SlotSet("ticket_field", None)]


def created_text(view: dict[str, Any], duplicate: dict[str, Any] | None, created: bool, reply: bool) -> str:
    if not created:
        return f"您的这个诉求已经登记过了，无需重复提交。工单编号：{view['number']}。"
    lines = [f"您的{view['appeal_type']}已登记，工单编号：{view['number']}，请记好，查询进度时需要用到。"]
    if duplicate:
        lines.append(f"这个问题已有市民反映过（工单{duplicate['number']}，{duplicate['state_label']}），"
                     f"已由{duplicate['department'] or '相关部门'}在办理，共{duplicate['callers']}位市民反映。"
                     "您的诉求已并入一同办理，办理结果会一并答复。")
    if view["department"]:
        category = "—".join(x for x in (view["level1"], view["level2"]) if x)
        lines.append(f"问题分类：{category}；承办单位：{view['department']}。")
    else:
        lines.append("工作人员会尽快确认问题分类并转给负责的部门。")
    lines.append(f"答复期限：{tickets.due_text(view['due'])}前（按工作日计算）。")
    if reply:
        lines.append("查询进度请说“查询工单进度”，并提供工单编号和登记手机号的后4位。")
    else:
        lines.append(f"您没有留联系电话，办理结果不会回电答复，也不能在线查询进度；需要时可拨打{HOTLINE}，凭工单编号由人工查询。")
    return "\n".join(lines)


class ActionPauseTicket(HotlineAction):
    def name(self) -> str:
        return "action_pause_ticket"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        if tracker.get_slot("ticket_state") in ("filling", "confirmed") and ticket_data(tracker):
            intent = intent_of(tracker)[0]
            text = ("好的，您正在登记的诉求已暂存，需要继续时说“继续登记”即可。"
                    if intent in ("pause_application", "goodbye") else "您正在登记的诉求已暂存，稍后说“继续登记”即可接着登记。")
            say(dispatcher, "ticket_paused", text, data={"filled": [k for k in intake.ORDER if ticket_data(tracker).get(k)]},
                buttons=[button("继续登记", "/resume_application")])
            return [ActiveLoop(None), SlotSet(REQUESTED, None), SlotSet("ticket_state", "paused")]
        return [ActiveLoop(None), SlotSet(REQUESTED, None)] if tracker.active_loop_name == FORM else []


class ActionCancelTicket(HotlineAction):
    def name(self) -> str:
        return "action_cancel_ticket"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        say(dispatcher, "ticket_cancelled", "好的，已取消这次诉求登记，您说的内容不会提交给任何部门。还有什么可以帮您？")
        return [ActiveLoop(None), SlotSet(REQUESTED, None), SlotSet("ticket_state", None)] + reset_events()


def resume_ticket(dispatcher: CollectingDispatcher, tracker: Tracker) -> list | None:
    """"继续" with a paused ticket: pick it up where it stopped (None: no paused ticket)."""
    if tracker.get_slot("ticket_state") != "paused" or not ticket_data(tracker):
        return None
    say(dispatcher, "ticket_resumed", "好的，我们接着登记您的诉求。", data={})
    return [SlotSet("ticket_state", "filling"), FollowupAction(FORM)]
