"""One-table application (一表申请) through conversation: start, fill, correct, pause, resume, cancel, submit.

The Rasa form `application_form` has one required slot, `app_answer`, asked again and again
by `action_ask_app_answer`; which guide field is being asked lives in `app_field` and the
answers in the dict slot `app_data`. The fields therefore come from the guide at run time
(knowledge.catalog reloads edited guides), so a new or edited form needs no retraining and
no generated domain. The validation action decides what each utterance means
(actions/form_filling.py) and rejects the turn when it is not an answer, so the normal
rules (guidance questions, 转人工, 暂停, 取消 ...) run and the form then asks again.
"""
from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.form_filling import CONFIRM, interpret
from actions.knowledge import understand
from actions.messages import HotlineAction, button, say
from core import applications as service
from core.application_forms import ApplicationForm, FieldSpec, UnknownItems, form_for
from core.privacy import mask_id_number, mask_phone
from knowledge.schema import Guide
from nlu.textnorm import normalize

log = logging.getLogger(__name__)

FORM = "application_form"
ANSWER = "app_answer"
REQUESTED = "requested_slot"
MAX_FAILURES = 3
FEATURED = ["新生儿出生一件事", "退休一件事", "企业开办一件事", "社会保障卡居民服务一件事", "个体工商户开办一件事"]
APP_SLOTS = ("app_guide", "app_items", "app_data", "app_field", "app_failures", "app_state", "app_quiet")
# Actions that may run between the caller's message and the form without consuming the message.
_PASS_THROUGH = {"action_listen", "action_extract_slots", FORM, "validate_application_form", None}


# -- helpers ------------------------------------------------------------------------------------------------
def get_catalog():
    from knowledge.catalog import get_catalog as _get

    return _get()


def load_form(tracker: Tracker) -> tuple[Guide | None, ApplicationForm | None]:
    guide = get_catalog().get(tracker.get_slot("app_guide"))
    if guide is None or not guide.form:
        return None, None
    try:
        return guide, form_for(guide, tracker.get_slot("app_items") or [])
    except UnknownItems:
        return guide, form_for(guide)


def app_data(tracker: Tracker) -> dict[str, str]:
    data = tracker.get_slot("app_data")
    return dict(data) if isinstance(data, dict) else {}


def fresh_user_input(tracker: Tracker, allowed: set[str | None] = _PASS_THROUGH) -> bool:
    """True when the latest user message has not been handled by another action yet."""
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            return True
        if kind == "action" and event.get("name") not in allowed:
            return False
    return False


def _ran_since_user(tracker: Tracker, action: str) -> bool:
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action" and event.get("name") == action:
            return True
    return False


def intent_of(tracker: Tracker) -> tuple[str, float]:
    intent = (tracker.latest_message or {}).get("intent") or {}
    return str(intent.get("name") or ""), float(intent.get("confidence") or 0.0)


def channel_of(tracker: Tracker) -> str:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return str(metadata.get("channel") or "web")[:32]


def display(spec: FieldSpec, value: str | None) -> str:
    if value is None:
        return "（未填写）"
    if value == "":
        return "（不填）"
    if spec.type == "id_number":
        return mask_id_number(value)
    if spec.type == "phone":
        return mask_phone(value)
    if spec.type == "date":
        try:
            d = date.fromisoformat(value)
            return f"{d.year}年{d.month}月{d.day}日"
        except ValueError:
            return value
    return value


def question_text(spec: FieldSpec) -> str:
    hints = {
        "id_number": f"请告诉我{spec.label}（18位，最后一位可能是X）。",
        "phone": f"请告诉我{spec.label}（11位手机号码）。",
        "date": f"请告诉我{spec.label}，例如“2024年3月5日”。",
        "address": f"请告诉我{spec.label}，请写到门牌号。",
        "choice": f"请选择{spec.label}：{'、'.join(spec.options)}。",
    }
    text = hints.get(spec.type, f"请告诉我{spec.label}。")
    if not spec.required:
        text += "（选填，不填请说“跳过”）"
    return text


def ask_field(dispatcher: CollectingDispatcher, form: ApplicationForm, spec: FieldSpec, data: dict) -> None:
    buttons = [button(o) for o in spec.options] if spec.type == "choice" else []
    if not spec.required:
        buttons.append(button("跳过"))
    active = form.active(data)
    filled = sum(1 for f in active if data.get(f.field) is not None)
    say(dispatcher, "form_question", question_text(spec), data={
        "form": form.guide, "field": spec.field, "label": spec.label, "type": spec.type,
        "options": list(spec.options), "required": spec.required, "needed_by": list(spec.needed_by),
        "progress": {"filled": filled, "total": len(active)},
    }, buttons=buttons)


def summary_rows(form: ApplicationForm, data: dict) -> list[dict[str, str]]:
    return [{"field": f.field, "label": f.label, "value": display(f, data.get(f.field))} for f in form.active(data)]


def show_summary(dispatcher: CollectingDispatcher, form: ApplicationForm, data: dict) -> None:
    rows = summary_rows(form, data)
    lines = "\n".join(f"{r['label']}：{r['value']}" for r in rows)
    say(dispatcher, "form_summary",
        f"请核对您的「{form.guide}」申请信息：\n{lines}\n办理事项：{'、'.join(form.items)}\n"
        "以上信息无误请说“确认提交”；需要修改请直接告诉我，例如“电话改成13900001111”。",
        data={"form": form.guide, "items": list(form.items), "rows": rows, "masked": True},
        buttons=[button("确认提交", "/confirm_application"), button("修改", "我要修改"), button("暂停", "/pause_application")])


def fields_count(form: ApplicationForm) -> str:
    """"共8项信息", or "共8项信息（另有3项视您的选择填写）" when some fields depend on answers."""
    conditional = sum(1 for f in form.fields if f.when)
    text = f"共{len(form.fields) - conditional}项信息"
    return text + (f"（另有{conditional}项视您的选择填写）" if conditional else "")


def featured() -> list[str]:
    catalog = get_catalog()
    return [n for n in FEATURED if (g := catalog.get(n)) is not None and g.form]


def reset_events() -> list:
    return [SlotSet(name, None) for name in APP_SLOTS]


# -- resolving which guide the caller wants to apply for --------------------------------------------------------
_START_WORDS = re.compile(r"我想|我要|帮我|麻烦|请|现在|马上|在线|网上|直接|开始|申请|办理|填表|填写|提交|一表|表格|"
                          r"一下|这个|那个|吧|的|了|就|办|[，。,.!！?？\s]")


def resolve_guide(text: str, current: str | None) -> tuple[Guide | None, list[str]]:
    """Guide named in the words (names, aliases, then the retriever), else the one being discussed."""
    guide, candidates = guide_in_words(text)
    if guide is None and not candidates and current:
        found = get_catalog().get(current)
        if found is not None and found.form:
            return found, []
    return guide, candidates


def guide_in_words(text: str) -> tuple[Guide | None, list[str]]:
    catalog = get_catalog()
    norm = normalize(text)
    best, best_len = None, 0
    for guide in catalog.guides:
        if not guide.form:
            continue
        for key in {guide.name, guide.name.removesuffix("一件事"), *guide.aliases}:
            if len(key) >= 2 and key in norm and len(key) > best_len:
                best, best_len = guide, len(key)
    if best is not None:
        return best, []
    candidates: list[str] = []
    rest = _START_WORDS.sub("", norm)
    if len(rest) >= 2:
        try:
            from knowledge.retrieval import get_retriever

            result = get_retriever().search(rest, k=3)
        except Exception:  # no index yet: fall back to asking
            log.warning("retriever unavailable for guide resolution", exc_info=True)
            result = None
        if result and result.get("answerable"):
            pick = result["results"][0]["name"] if result.get("clear") else lexical_winner(result)
            found = catalog.get(pick) if pick else None
            if found is not None and found.form:
                return found, []
            candidates = [c for c in result.get("candidates", []) if (g := catalog.get(c)) is not None and g.form]
    return None, candidates


def lexical_winner(result: dict, margin: float = 1.3) -> str | None:
    """Among close candidates, the one whose words clearly match best ("社保卡" -> 社会保障卡…)."""
    close = [r for r in result.get("results", []) if r["name"] in result.get("candidates", [])]
    if len(close) < 2:
        return None
    close.sort(key=lambda r: r.get("lexical") or 0.0, reverse=True)
    top, runner = close[0].get("lexical") or 0.0, close[1].get("lexical") or 0.0
    return close[0]["name"] if top > 0 and top >= margin * runner else None


def chosen_items(guide: Guide, text: str, tracker: Tracker) -> list[str]:
    names = [i.name for i in guide.items]
    norm = normalize(text)
    named = [n for n in names if n in norm]
    if named:
        return named
    if tracker.get_slot("current_guide") == guide.name:
        picked = [i for i in (tracker.get_slot("chosen_items") or []) if i in names]
        if picked:
            return picked
    return []


# -- actions ------------------------------------------------------------------------------------------------------
class ActionStartApplication(HotlineAction):
    def name(self) -> str:
        return "action_start_application"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = (tracker.latest_message or {}).get("text") or ""
        if tracker.active_loop_name == FORM and guide_in_words(text)[0] is None:
            say(dispatcher, "application_resumed", f"您正在填写「{tracker.get_slot('app_guide')}」申请表，我们接着填写。",
                data={"form": tracker.get_slot("app_guide"), "filled": len(app_data(tracker))})
            return []
        guide, candidates = resolve_guide(text, tracker.get_slot("current_guide"))
        if guide is None:
            options = candidates or featured()
            say(dispatcher, "application_choose",
                "好的，请问您要在线申请办理哪一件事？您可以直接说名称，例如“新生儿出生一件事”。",
                data={"candidates": options}, buttons=[button(n, f"我要申请{n}") for n in options])
            return []
        state = tracker.get_slot("app_state")
        if guide.name == tracker.get_slot("app_guide") and state in ("filling", "paused") and app_data(tracker):
            say(dispatcher, "application_resumed", f"您正在填写「{guide.name}」申请表，我们接着填写。",
                data={"form": guide.name, "filled": len(app_data(tracker))})
            return [SlotSet("app_state", "filling"), FollowupAction(FORM)]
        items = chosen_items(guide, text, tracker)
        form = form_for(guide, items)
        replaced = tracker.get_slot("app_guide") if state in ("filling", "paused") and app_data(tracker) else None
        intro = (f"好的，我来帮您在线填写「{guide.name}」联办申请表（一表申请），涉及{len(form.items)}个事项："
                 f"{'、'.join(form.items)}，{fields_count(form)}，每项只需填写一次。"
                 "填写中您可以随时修改已填内容或咨询问题，也可以说“暂停”或“取消”。")
        if replaced and replaced != guide.name:
            intro = f"您之前未填完的「{replaced}」申请表已放弃。" + intro
        say(dispatcher, "application_started", intro,
            data={"form": guide.name, "items": list(form.items), "fields": [f.as_dict() for f in form.fields]})
        return reset_events() + [
            SlotSet("app_guide", guide.name), SlotSet("app_items", list(form.items) if items else []),
            SlotSet("app_data", {}), SlotSet("app_failures", {}), SlotSet("app_state", "filling"),
            FollowupAction(FORM),
        ]


class ValidateApplicationForm(HotlineAction):
    """Reads each answer; returns no events (= rejects the form turn) when the message is not an answer."""

    def name(self) -> str:
        return "validate_application_form"

    def on_failure(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        say(dispatcher, "error", "抱歉，刚才没能记录您的回答，请再说一遍。")
        return [SlotSet(ANSWER, None), SlotSet(REQUESTED, ANSWER)]  # keep the form asking

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        keep = [SlotSet(ANSWER, None), SlotSet(REQUESTED, ANSWER)]
        guide, form = load_form(tracker)
        if form is None:
            say(dispatcher, "application_choose", "抱歉，没有找到正在填写的申请表。请告诉我您要申请办理哪一件事。",
                buttons=[button(n, f"我要申请{n}") for n in featured()])
            return reset_events() + [SlotSet(REQUESTED, None), ActiveLoop(None)]
        asked = tracker.get_slot("app_field")
        if not asked or not fresh_user_input(tracker):
            return keep + self._sync_items(dispatcher, tracker, guide)
        data = app_data(tracker)
        intent, confidence = intent_of(tracker)
        outcome = interpret((tracker.latest_message or {}).get("text") or "", form, data, asked,
                            intent=intent, confidence=confidence)
        if outcome.interrupt:
            return []
        if outcome.repeat:
            return keep
        before = set(data)
        data.update(outcome.updates)
        data, dropped = form.prune(data)   # a corrected choice can make later answers no longer apply
        failures = dict(tracker.get_slot("app_failures") or {})
        for name in list(outcome.updates) + dropped:
            failures.pop(name, None)
        self._report(dispatcher, form, data, asked, outcome, failures)
        removed = [n for n in dropped if n in before]
        if removed:
            labels = "、".join(form.get(n).label for n in removed)
            say(dispatcher, "form_dropped", f"根据您的修改，{labels}不再需要填写，已为您删除。",
                data={"form": form.guide, "fields": removed})
        events = [SlotSet("app_data", data), SlotSet("app_failures", failures)]
        if asked == CONFIRM:
            if outcome.confirmed:
                return events + [SlotSet(ANSWER, "confirmed"), SlotSet("app_state", "confirmed"), SlotSet(REQUESTED, None)]
            if outcome.edit_requested:
                say(dispatcher, "form_edit", "好的，请告诉我需要修改哪一项和正确的内容，例如“电话改成13900001111”或“孩子姓名改成王小明”。",
                    data={"form": form.guide, "fields": [f.field for f in form.active(data)]})
            elif outcome.unclear:
                say(dispatcher, "form_edit", "请确认以上信息：无误请说“确认提交”；需要修改请直接告诉我，例如“电话改成13900001111”。",
                    data={"form": form.guide}, buttons=[button("确认提交", "/confirm_application")])
            quiet = not outcome.updates
            return events + [SlotSet("app_quiet", quiet)] + keep
        return events + keep

    @staticmethod
    def _report(dispatcher, form: ApplicationForm, data: dict, asked: str, outcome, failures: dict) -> None:
        for name in outcome.corrected:
            spec = form.get(name)
            say(dispatcher, "form_correction", f"好的，已将{spec.label}更正为{display(spec, data.get(name))}。",
                data={"form": form.guide, "field": name, "label": spec.label, "value": display(spec, data.get(name))})
        extra = [n for n in outcome.updates if n not in outcome.corrected and n != asked]
        if extra:
            labels = "、".join(form.get(n).label for n in ([asked] if asked in outcome.updates else []) + extra)
            say(dispatcher, "form_ack", f"已记下：{labels}。", data={"form": form.guide, "fields": extra})
        for name, reason in outcome.errors.items():
            spec = form.get(name)
            failures[name] = failures.get(name, 0) + 1
            offer = failures[name] >= MAX_FAILURES
            text = reason if name == asked else f"{spec.label}没有记录：{reason}"
            buttons = []
            if offer:
                text += "如果不方便在这里填写，可以转人工服务，或拨打12345由人工坐席协助办理。"
                buttons = [button("转人工", "/request_human")]
            say(dispatcher, "form_invalid", text, data={
                "form": form.guide, "field": name, "label": spec.label, "type": spec.type, "reason": reason,
                "attempts": failures[name], "offer_human": offer}, buttons=buttons)

    @staticmethod
    def _sync_items(dispatcher, tracker: Tracker, guide: Guide) -> list:
        """After a guidance question the caller may have picked other items of the same bundle."""
        if tracker.get_slot("current_guide") != guide.name or not _ran_since_user(tracker, "action_answer_guide"):
            return []
        names = [i.name for i in guide.items]
        picked = [i for i in (tracker.get_slot("chosen_items") or []) if i in names]
        current = tracker.get_slot("app_items") or []
        if not picked or sorted(picked) == sorted(current or names):
            return []
        form = form_for(guide, picked)
        say(dispatcher, "form_items_changed", f"已按您的选择调整申请表，办理事项：{'、'.join(form.items)}。",
            data={"form": guide.name, "items": list(form.items)})
        return [SlotSet("app_items", list(form.items))]


class ActionAskAppAnswer(HotlineAction):
    """Asks the next empty field of the current form, or shows the summary when all are filled."""

    def name(self) -> str:
        return "action_ask_app_answer"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        _, form = load_form(tracker)
        if form is None:
            return []
        data = app_data(tracker)
        missing = form.missing(data)
        if missing:
            ask_field(dispatcher, form, missing[0], data)
            return [SlotSet("app_field", missing[0].field), SlotSet("app_quiet", False)]
        if not (tracker.get_slot("app_quiet") and tracker.get_slot("app_field") == CONFIRM):
            show_summary(dispatcher, form, data)
        return [SlotSet("app_field", CONFIRM), SlotSet("app_quiet", False)]


class ActionSubmitApplication(HotlineAction):
    def name(self) -> str:
        return "action_submit_application"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        state = tracker.get_slot("app_state")
        if state not in ("confirmed", "submitted"):
            if intent_of(tracker)[0] == "confirm_application":
                if state in ("filling", "paused"):
                    say(dispatcher, "application_incomplete", "您的申请表还没有填写完整，说“继续填表”即可接着填写。",
                        buttons=[button("继续填表", "/resume_application")])
                elif tracker.get_slot("ticket_state") == "submitted" and tracker.get_slot("ticket_number"):
                    number = tracker.get_slot("ticket_number")   # "确认提交" again after filing an appeal
                    say(dispatcher, "ticket_status", f"您的诉求已经登记，工单编号：{number}，无需重复提交。",
                        data={"number": number}, buttons=[button("查询工单进度", "/check_status")])
                else:
                    say(dispatcher, "application_none", "目前没有待提交的申请表。请问您要申请办理哪一件事？",
                        buttons=[button(n, f"我要申请{n}") for n in featured()])
            return []
        guide, form = load_form(tracker)
        if form is None:
            say(dispatcher, "application_none", "目前没有待提交的申请表。请问您要申请办理哪一件事？")
            return []
        data = app_data(tracker)
        try:
            sub = service.create_application(guide=form.guide, items=form.items, data=data,
                                             channel=channel_of(tracker), sender=tracker.sender_id)
        except service.InvalidApplication as exc:
            say(dispatcher, "form_invalid", f"提交前检查发现以下信息需要更正：{exc.message}。我们重新填写这几项。",
                data={"form": form.guide, "errors": exc.errors})
            kept = {k: v for k, v in data.items() if k not in exc.errors}
            return [SlotSet("app_data", kept), SlotSet("app_state", "filling"), FollowupAction(FORM)]
        except service.ApplicationError as exc:
            say(dispatcher, "application_error", exc.message)
            return []
        number = sub.view["number"]
        if sub.created:
            text = f"您的「{form.guide}」申请已提交成功！受理编号：{number}，请妥善保存，查询进度时需要用到。\n"
        else:
            text = f"您的这份申请已经提交过了，无需重复提交。受理编号仍为：{number}。\n"
        text += next_steps_text(sub.next_steps, sub.print_url)
        say(dispatcher, "application_submitted", text, data={
            "number": number, "guide": form.guide, "items": list(form.items), "duplicate": not sub.created,
            "status": sub.view["overall"], "print_url": sub.print_url, "next_steps": sub.next_steps,
        }, buttons=[button("查询办件进度", "/check_status")])
        return [SlotSet("app_number", number), SlotSet("app_state", "submitted")]


def next_steps_text(steps: dict[str, Any], url: str) -> str:
    windows = steps.get("windows") or []
    parts = []
    if steps.get("originals"):
        parts.append(f"下一步：请携带{'、'.join(steps['originals'])}等材料原件，到{windows[0] if windows else '政务服务中心'}"
                     + (f"（或{windows[1]}）" if len(windows) > 1 else "") + "核验，窗口工作人员会一次性告知其他所需材料。")
    elif windows:
        parts.append(f"下一步：请留意短信通知，如需核验原件请到{windows[0]}办理。")
    if steps.get("promised_time"):
        parts.append(f"承诺时限：{steps['promised_time']}。")
    if steps.get("deferral_note"):
        parts.append(f"容缺受理：{steps['deferral_note']}")
    parts.append(f"可打印的申请表：{url}（请打印后签字，到窗口时携带）。")
    return "\n".join(parts)


class ActionPauseApplication(HotlineAction):
    def name(self) -> str:
        return "action_pause_application"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        state = tracker.get_slot("app_state")
        if tracker.get_slot("app_guide") and state in ("filling", "paused"):
            filled = len(app_data(tracker))
            if intent_of(tracker)[0] == "check_status":
                text = f"好的，您的「{tracker.get_slot('app_guide')}」申请表已为您保存（已填{filled}项），查询完后说“继续填表”即可接着填写。"
            else:
                text = (f"好的，已为您保存「{tracker.get_slot('app_guide')}」申请表已填写的{filled}项内容。"
                        "您可以先准备材料或咨询其他问题，需要继续时说“继续填表”即可。")
            say(dispatcher, "application_paused", text, data={"form": tracker.get_slot("app_guide"), "filled": filled},
                buttons=[button("继续填表", "/resume_application")])
            return [ActiveLoop(None), SlotSet(REQUESTED, None), SlotSet("app_state", "paused")]
        if tracker.active_loop_name is None:  # "消防那个先不办" heard as "pause": about the guide's items
            events = understand(dispatcher, tracker)
            if events is not None:
                return events
        say(dispatcher, "application_none", "目前没有正在填写的申请表。需要在线申请时，告诉我要办理的事项即可。")
        return [ActiveLoop(None), SlotSet(REQUESTED, None)] if tracker.active_loop_name == FORM else []


class ActionResumeApplication(HotlineAction):
    def name(self) -> str:
        return "action_resume_application"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        from actions.tickets import resume_ticket  # a paused appeal (工单) is resumed by the same words

        resumed = resume_ticket(dispatcher, tracker)
        if resumed is not None:
            return resumed
        state = tracker.get_slot("app_state")
        guide = tracker.get_slot("app_guide")
        if guide and state in ("filling", "paused", "confirmed"):
            filled = len(app_data(tracker))
            say(dispatcher, "application_resumed", f"好的，我们继续填写「{guide}」申请表（已填写{filled}项）。",
                data={"form": guide, "filled": filled})
            return [SlotSet("app_state", "filling"), FollowupAction(FORM)]
        if state == "submitted" and tracker.get_slot("app_number"):
            say(dispatcher, "application_none",
                f"您的「{guide}」申请已经提交，受理编号：{tracker.get_slot('app_number')}。如需办理其他事项，请告诉我。",
                buttons=[button("查询办件进度", "/check_status")])
            return []
        say(dispatcher, "application_none", "目前没有未填完的申请表。请问您要申请办理哪一件事？",
            buttons=[button(n, f"我要申请{n}") for n in featured()])
        return []


class ActionCancelApplication(HotlineAction):
    def name(self) -> str:
        return "action_cancel_application"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        if tracker.active_loop_name == "status_form":
            say(dispatcher, "status_cancelled", "好的，已取消本次进度查询。还有什么可以帮您？")
            return [ActiveLoop(None), SlotSet(REQUESTED, None), SlotSet("status_number", None),
                    SlotSet("status_verify", None)]
        state = tracker.get_slot("app_state")
        if tracker.get_slot("app_guide") and state in ("filling", "paused", "confirmed"):
            say(dispatcher, "application_cancelled",
                f"好的，已取消「{tracker.get_slot('app_guide')}」的在线申请，您填写的信息不会保存。如需重新申请，随时告诉我。",
                data={"form": tracker.get_slot("app_guide")})
            return [ActiveLoop(None), SlotSet(REQUESTED, None)] + reset_events()
        if tracker.active_loop_name is None:  # "消防那个先不办" is about the guide's items, not a form
            events = understand(dispatcher, tracker)
            if events is not None:
                return events
        say(dispatcher, "application_none", "目前没有正在进行的申请或查询。还有什么可以帮您？")
        return [ActiveLoop(None), SlotSet(REQUESTED, None)] if tracker.active_loop_name == FORM else []
