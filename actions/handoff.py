"""The caller asks for a person: the action says so, with a summary an agent can read in ten seconds.

The gateway owns who answers a conversation, so this action does not queue anything itself: it emits
a `handoff` message whose `data.request` carries the reason and the summary, and the gateway turns it
into a place in the agent queue (connectors/gateway/handoff_bridge.py), answering the caller with the
real position and waiting time.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.applications import app_data, load_form
from actions.basics import consecutive_fallbacks
from actions.messages import HotlineAction, say
from core.settings import HOTLINE
from core.privacy import mask_text

ASKED_TURNS = 3   # the caller's last messages shown to the agent


def _kinds_before(tracker: Tracker) -> list[dict]:
    """Custom payloads the assistant sent before the caller's latest message, newest first."""
    events = tracker.events
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=len(events))
    return [((e.get("data") or {}).get("custom") or {}) for e in reversed(events[:last_user]) if e.get("event") == "bot"]


def reason_of(tracker: Tracker) -> str:
    """Why the caller is handed over: their own request, repeated misunderstandings, or a form they could not fill."""
    for custom in _kinds_before(tracker)[:3]:
        data = custom.get("data") or {}
        if custom.get("kind") == "form_invalid" and data.get("offer_human"):
            return "form_failures"
        if custom.get("kind") == "fallback" and data.get("offer_human"):
            return "repeated_fallback"
    return "caller_request"


def summary_of(tracker: Tracker) -> dict[str, Any]:
    """What the agent needs first, personal data masked: what was asked, guide and items, form, numbers."""
    asked = [mask_text(e.get("text") or "")[:200] for e in tracker.events
             if e.get("event") == "user" and (e.get("text") or "") and not (e.get("text") or "").startswith("/")]
    data = app_data(tracker)
    form = None
    if tracker.get_slot("app_guide"):
        _, loaded = load_form(tracker)
        active = loaded.active(data) if loaded is not None else []
        form = {"guide": tracker.get_slot("app_guide"), "state": tracker.get_slot("app_state"),
                "items": list(tracker.get_slot("app_items") or []),
                "filled": sum(1 for f in active if f.field in data), "total": len(active),
                "field": tracker.get_slot("app_field")}
    numbers = [n for n in (tracker.get_slot("app_number"),
                           (tracker.get_slot("status_focus") or {}).get("number")
                           if isinstance(tracker.get_slot("status_focus"), dict) else None) if n]
    return {
        "asked": asked[-ASKED_TURNS:],
        "guide": tracker.get_slot("current_guide"),
        "items": list(tracker.get_slot("chosen_items") or []),
        "situation": tracker.get_slot("situation") if isinstance(tracker.get_slot("situation"), dict) else {},
        "form": form,
        "applications": numbers,
        "reason": reason_of(tracker),
    }


class ActionRequestHuman(HotlineAction):
    def name(self) -> str:
        return "action_request_human"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        summary = summary_of(tracker)
        say(dispatcher, "handoff", f"正在为您转接人工客服。如转接不成功，也可以直接拨打{HOTLINE}。",
            data={"state": "requested", "phone": HOTLINE,
                  "request": {"reason": summary["reason"], "summary": summary,
                              "repeated_failures": consecutive_fallbacks(tracker) - 1}})
        return []
