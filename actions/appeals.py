"""Appeals (诉求): problems a department must solve, such as a broken street light or unpaid wages.

They are not guide questions and not status checks. Until ticket intake (工单) is built, the caller
is told truthfully how the appeal gets registered, and a request for a person is recorded.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.basics import HOTLINE
from actions.knowledge import in_context
from actions.messages import HotlineAction, button, say


class ActionReportProblem(HotlineAction):
    def name(self) -> str:
        return "action_report_problem"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        events = in_context(dispatcher, tracker)  # "海关那个就不用了" while a bundle is in focus
        if events is not None:
            return events
        say(dispatcher, "appeal",
            f"您反映的问题需要由相关部门处理。在线登记诉求（工单）的功能正在建设中，请拨打{HOTLINE}热线，"
            "由人工坐席为您登记并转交责任部门办理，办理结果会回复您。如遇正在发生的危险，请先拨打110、119或120。",
            data={"registered": False, "phone": HOTLINE},
            buttons=[button("转人工", "/request_human"), button("我能问什么", "/ask_capabilities")])
        return []
