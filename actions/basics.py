"""Safety, fallback and the way to a human agent."""
from __future__ import annotations

import logging
from abc import abstractmethod
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import is_acknowledgement, pending_question, understand
from actions.messages import HotlineAction, button, say
from core.guides import unanswered
from core.settings import HOTLINE
from knowledge.notice import asks_materials
from nlu.textnorm import normalize

log = logging.getLogger(__name__)

FALLBACKS_BEFORE_HUMAN = 2


def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many user messages in a row (this one included) the assistant could not understand.

    Counted from what the assistant answered, not from the intent: a message the classifier could
    not place but the guides answered was understood.
    """
    count = 1
    replies: list[str] = []
    seen_current = False
    for event in reversed(tracker.events):
        if event.get("event") == "bot":
            replies.append(((event.get("data") or {}).get("custom") or {}).get("kind", ""))
        elif event.get("event") == "user":
            if not seen_current:
                seen_current, replies = True, []
                continue
            if "fallback" not in replies:
                break
            count += 1
            replies = []
    return count


class _ResponseUnlessAboutTheGuide(HotlineAction):
    """A fixed response for the intent, unless the message (as `about_guide` tells) was really about the guide in
    focus and the guide answers it: the classifier can hear a short follow-up as small talk."""

    response = ""

    @abstractmethod  # abstract, so the action server does not register this base class itself
    def about_guide(self, tracker: Tracker) -> bool:
        """Was the message about the guide in focus rather than what the intent says?"""

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        if self.about_guide(tracker):
            events = understand(dispatcher, tracker, search=False)
            if events is not None:
                return events
        dispatcher.utter_message(response=self.response)
        return []


class ActionGreet(_ResponseUnlessAboutTheGuide):
    """A greeting, unless it answered the question just asked about the guide in focus ("结婚了" to "父母是否已经
    登记结婚？" can read as a greeting)."""

    response = "utter_greet"

    def name(self) -> str:
        return "action_greet"

    def about_guide(self, tracker: Tracker) -> bool:
        return bool(pending_question(tracker).get("guide"))


class ActionCapabilities(_ResponseUnlessAboutTheGuide):
    """"我能问什么" (or its button), unless it was a short "要带什么" about the guide in focus, which the classifier
    can take for the same intent: then the guide's material list is what the caller asked for."""

    response = "utter_capabilities"

    def name(self) -> str:
        return "action_capabilities"

    def about_guide(self, tracker: Tracker) -> bool:
        return asks_materials(tracker.latest_message.get("text") or "")


class ActionFallback(HotlineAction):
    """When the intent alone does not decide: context and the guides first, then an honest reply.

    Reached for "not understood" (nlu_fallback, unclear), for a yes/no with nothing pending and for
    out-of-scope. A message the guides answer is answered; a bare "好的" gets "好的"; otherwise the
    caller is told we did not understand, and the second time in a row is offered a human agent.
    """

    def name(self) -> str:
        return "action_fallback"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        events = understand(dispatcher, tracker)
        if events is not None:
            return events
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = normalize(tracker.latest_message.get("text") or "")
        if intent in ("affirm", "deny") and is_acknowledgement(text):
            dispatcher.utter_message(response="utter_ok")
            return []
        if intent == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        unanswered.record(tracker.latest_message.get("text") or "", "fallback", tracker.sender_id)
        if consecutive_fallbacks(tracker) >= FALLBACKS_BEFORE_HUMAN:
            say(
                dispatcher,
                "fallback",
                f"抱歉，我还是没能理解您的问题。建议您拨打{HOTLINE}由人工坐席为您解答，需要我为您登记人工服务吗？",
                data={"attempt": 2, "offer_human": True},
                buttons=[button("转人工", "/request_human"), button("我换个说法", "/ask_capabilities")],
            )
        else:
            say(
                dispatcher,
                "fallback",
                "抱歉，我没有听明白。您可以换个说法，比如“孩子出生要办什么手续”或“查询办件进度”。",
                data={"attempt": 1, "offer_human": False},
                buttons=[button("我能问什么", "/ask_capabilities")],
            )
        return []
