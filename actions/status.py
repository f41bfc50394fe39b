"""Verified application status checks (办件进度) in conversation.

`status_form` asks for the receipt number and a verification factor (last 4 digits of the
phone or last 6 characters of the ID number); only then does `action_check_status` answer.
Unknown numbers and wrong factors get the same reply, and repeated failures lock the
sender out for a while (core/applications.check_status), so numbers cannot be enumerated.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.applications import fresh_user_input, intent_of
from actions.form_filling import CONTROL_INTENTS, OTHER_INTENTS, looks_like_question
from actions.knowledge import understand, unsure_start
from actions.messages import HotlineAction, button, say
from core import applications as service
from core.tickets import service as tickets
from nlu.textnorm import normalize

FORM = "status_form"
REQUESTED = "requested_slot"
_PASS_THROUGH = {"action_listen", "action_extract_slots", FORM, "validate_status_form", "action_pause_application", None}
# a receipt number of an application (NM...) or a ticket number (GD...)
_NUMBER = re.compile(rf"(?<![A-Z0-9])(?:{service.NUMBER_PATTERN.pattern}|{tickets.NUMBER_PATTERN.pattern})(?![A-Z0-9])")
_NUMBER_LIKE = re.compile(r"(?:NM|GD)[0-9A-Z]{4,}|[0-9]{8}[A-Z0-9]{6,}")
_FACTOR = re.compile(r"(?<![0-9A-Z])([0-9]{4}|[0-9]{5}[0-9X]|1[3-9][0-9]{9}|[0-9]{17}[0-9X])(?![0-9A-Z])")
TICKET_UNVERIFIED = "未能查询到与该工单编号和手机号后4位相符的工单。请核对工单编号和登记诉求时留的手机号码后4位后重试。"
UNVERIFIED = "未能查询到与该受理编号和验证信息相符的办件。请核对受理编号，以及申请时登记的手机号码后4位或身份证号码后6位后重试。"


def _compact(text: str) -> str:
    return re.sub(r"[\s\-－_]", "", normalize(text or "")).upper()


def is_ticket(number: str | None) -> bool:
    """A ticket number (工单, checked with the phone's last 4 digits), not an application's receipt number."""
    return bool(tickets.NUMBER_PATTERN.fullmatch(number or ""))


def parse_number(text: str) -> str | None:
    m = _NUMBER.search(_compact(text))
    return m.group(0) if m else None


def parse_factor(text: str) -> str | None:
    """4 digits, 6 ID characters, or a whole phone/ID number (its last 4/6 are used)."""
    rest = _NUMBER.sub(" ", _compact(text))
    m = _FACTOR.search(rest)
    if not m:
        return None
    value = m.group(1)
    if len(value) == 11:
        return value[-4:]
    if len(value) == 18:
        return value[-6:]
    return value


def due_text(value: str | None) -> str:
    try:
        d = date.fromisoformat(value or "")
    except ValueError:
        return ""
    return f"{d.year}年{d.month}月{d.day}日"


def status_text(view: dict[str, Any]) -> str:
    lines = [f"受理编号{view['number']}" + (f"（{view['guide']}）" if view.get("guide") else "")
             + f"当前总体状态：{view['overall']}。"]
    for item in view["items"]:
        line = f"• {item['name']}：{item['status']}"
        if item["status"] == "需补正":
            line += f"——{item['note'] or '请联系受理窗口了解需补正的内容'}"
            if item.get("due"):
                line += f"（请于{due_text(item['due'])}前补交）"
        elif item.get("note"):
            line += f"（{item['note']}）"
        lines.append(line)
    if view["overall"] == "需补正":
        lines.append("请按上述要求补交，可通过蒙速办APP上传，或携带原件到原受理窗口办理；逾期未补交的，相关事项可能按撤回申请处理。")
    return "\n".join(lines)


# "编号我忘了", "真不记得了 找不到了": the caller has no number to give
_NO_NUMBER = re.compile(r"忘|不记得|记不清|记不住|找不到|找不着|不知道|没有编号|没编号|丢了|弄丢")


class ValidateStatusForm(HotlineAction):
    def name(self) -> str:
        return "validate_status_form"

    def on_failure(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        say(dispatcher, "error", "抱歉，刚才没能记录您的回答，请再说一遍。")
        return [SlotSet(REQUESTED, tracker.get_slot(REQUESTED) or "status_number")]  # keep the form asking

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        number, factor = tracker.get_slot("status_number"), tracker.get_slot("status_verify")
        asked = tracker.get_slot(REQUESTED) if tracker.active_loop_name == FORM else None
        events: list = []
        if fresh_user_input(tracker, _PASS_THROUGH):
            text = (tracker.latest_message or {}).get("text") or ""
            new_number, new_factor = parse_number(text), parse_factor(text)
            if asked is None and not new_number and unsure_start(tracker):
                # an unsure "status" guess ("营业执照丢了"): context and the guides first, no form started
                answered = understand(dispatcher, tracker)
                if answered is not None:
                    return answered + [ActiveLoop(None), SlotSet(REQUESTED, None)]
            if new_number:
                number = new_number
                events.append(SlotSet("status_number", number))
            if new_factor and (number or asked == "status_verify"):
                factor = new_factor
                events.append(SlotSet("status_verify", factor))
            if asked and not new_number and not new_factor:
                intent, confidence = intent_of(tracker)
                if looks_like_question(normalize(text), strict=False) or (
                        intent in CONTROL_INTENTS | OTHER_INTENTS | {"deny"} and confidence >= 0.6):
                    return []  # not an answer: let the other rules handle it
                self._explain(dispatcher, asked, text, number)
                events.append(SlotSet(asked, None))
        next_slot = "status_number" if not number else ("status_verify" if not factor else None)
        return events + [SlotSet(REQUESTED, next_slot)]

    @staticmethod
    def _explain(dispatcher: CollectingDispatcher, asked: str, text: str, number: str | None) -> None:
        if asked == "status_number":
            if _NO_NUMBER.search(normalize(text)):   # asking again for what they do not have would go round in circles
                hint = ("没有编号也有办法：受理编号在提交成功的回执和短信里，工单编号在登记成功的短信里；都找不到的话，"
                        "可以带上身份证到受理窗口查询，或者转人工，由坐席帮您查找。")
                say(dispatcher, "form_invalid", hint, data={"form": "status", "field": "number", "reason": hint,
                                                             "no_number": True},
                    buttons=[button("转人工", "/request_human"), button("不查了", "/cancel_application")])
                return
            hint = ("受理编号共18位：NM加8位日期再加8位字母或数字，例如NM20250301ABCD2345，可在提交成功的回执中找到；"
                    "工单编号共16位：GD加8位日期再加6位字母或数字，例如GD20261130K7P3QX。")
            if _NUMBER_LIKE.search(_compact(text)):
                hint = "这个编号的格式不对。" + hint
            say(dispatcher, "form_invalid", hint, data={"form": "status", "field": "number", "reason": hint})
        elif is_ticket(number):
            hint = "请提供登记诉求时留的手机号码后4位。"
            say(dispatcher, "form_invalid", hint, data={"form": "status", "field": "verify", "reason": hint})
        else:
            hint = "请提供申请时登记的手机号码后4位，或身份证号码后6位（最后一位可能是X）。"
            say(dispatcher, "form_invalid", hint, data={"form": "status", "field": "verify", "reason": hint})


class ActionAskStatusNumber(HotlineAction):
    def name(self) -> str:
        return "action_ask_status_number"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        mine = [n for n in (tracker.get_slot("app_number"), tracker.get_slot("ticket_number")) if n]
        say(dispatcher, "status_question", "请告诉我您的受理编号（以NM开头，共18位）或工单编号（以GD开头，共16位）。",
            data={"field": "number", "label": "受理编号或工单编号"}, buttons=[button(n) for n in mine])
        return []


class ActionAskStatusVerify(HotlineAction):
    def name(self) -> str:
        return "action_ask_status_verify"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        if is_ticket(tracker.get_slot("status_number")):
            say(dispatcher, "status_question", "为保护您的个人信息，请提供登记诉求时留的手机号码后4位。",
                data={"field": "verify", "label": "手机号后4位"})
            return []
        say(dispatcher, "status_question", "为保护您的个人信息，请提供申请时登记的手机号码后4位，或身份证号码后6位。",
            data={"field": "verify", "label": "手机号后4位或身份证号后6位"})
        return []


class ActionCheckStatus(HotlineAction):
    def name(self) -> str:
        return "action_check_status"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        reset = [SlotSet("status_number", None), SlotSet("status_verify", None)]
        number, factor = tracker.get_slot("status_number"), tracker.get_slot("status_verify")
        if not number or not factor:
            return reset
        ticket = is_ticket(number)
        check = tickets.check_progress if ticket else service.check_status
        client = ((tracker.latest_message or {}).get("metadata") or {}).get("client")  # keyed hash of the address
        outcome = check(number, factor, requester=f"chat:{tracker.sender_id}",
                        client=client if isinstance(client, str) else None)
        again = [button("重新查询", "/check_status"), button("转人工", "/request_human")]
        if outcome.result == "ok" and ticket:
            say(dispatcher, "ticket_status", tickets.progress_text(outcome.view), data=outcome.view)
        elif outcome.result == "ok":
            view = outcome.view
            items = [{"name": i["name"], "status": i["status"], "note": i["note"], "due": i.get("due")}
                     for i in view["items"]]
            say(dispatcher, "status_result", status_text(view), data={
                "number": view["number"], "guide": view.get("guide", ""), "overall": view["overall"],
                "items": items, "updated_at": view.get("updated_at"),
            })
            # follow-ups such as "那我什么时候能拿到户口本" are about this application (verified just now)
            reset.append(SlotSet("status_focus", {"number": view["number"], "guide": view.get("guide", ""),
                                                  "overall": view["overall"], "items": items}))
        elif outcome.result == "locked":
            minutes = max(1, (outcome.retry_after + 59) // 60)
            say(dispatcher, "status_locked",
                f"验证失败次数过多，为保护办件信息，查询已暂时锁定，请{minutes}分钟后再试，或拨打12345由人工为您查询。",
                data={"retry_after_seconds": outcome.retry_after}, buttons=[button("转人工", "/request_human")])
        elif outcome.result == "unavailable":
            say(dispatcher, "status_unavailable", "抱歉，办件进度查询系统暂时无法连接，请稍后再试，或拨打12345由人工为您查询。",
                buttons=again)
        elif ticket:
            say(dispatcher, "status_unverified", TICKET_UNVERIFIED, data={}, buttons=again)
        else:
            say(dispatcher, "status_unverified", UNVERIFIED, data={}, buttons=again)
        if tracker.get_slot("app_state") == "paused":
            say(dispatcher, "application_reminder", f"您还有一份未填完的「{tracker.get_slot('app_guide')}」申请表，说“继续填表”即可接着填写。",
                buttons=[button("继续填表", "/resume_application")])
        return reset
