"""Appeals (诉求): problems a department must solve, such as a broken street light or unpaid wages.

They are not guide questions and not status checks. Until ticket intake (工单) is built, the caller
is told truthfully how the appeal gets registered and can ask for a person.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import understand
from actions.messages import HotlineAction, button, say
from core.settings import HOTLINE

# Below this intent confidence a confident guide answer wins (chosen on bench/data/chat_eval.yaml).
SURE_APPEAL = 0.85


class ActionReportProblem(HotlineAction):
    def name(self) -> str:
        return "action_report_problem"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        # "海关那个就不用了" while a bundle is in focus; "轮椅辅具能申请不，俺家老头瘫了" when only a weak guess
        confidence = float((tracker.latest_message.get("intent") or {}).get("confidence") or 0.0)
        events = understand(dispatcher, tracker, search=confidence < SURE_APPEAL, require_clear=True)
        if events is not None:
            return events
        say(dispatcher, "appeal",
            f"您反映的问题需要由相关部门处理。在线登记诉求（工单）的功能正在建设中，请拨打{HOTLINE}热线，"
            "由人工坐席为您登记并转交责任部门办理，办理结果会回复您。如遇正在发生的危险，请先拨打110、119或120。",
            data={"registered": False, "phone": HOTLINE},
            buttons=[button("转人工", "/request_human"), button("我能问什么", "/ask_capabilities")])
        return []
