"""The one bot-message shape every action emits: {kind, text, data, buttons} (docs/API.md)."""
from __future__ import annotations

import logging
from abc import ABCMeta, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

log = logging.getLogger(__name__)


def button(title: str, payload: str | None = None) -> dict[str, str]:
    return {"title": title, "payload": payload if payload is not None else title}


def say(
    dispatcher: CollectingDispatcher,
    kind: str,
    text: str,
    data: dict[str, Any] | None = None,
    buttons: list[dict[str, str]] | None = None,
) -> None:
    dispatcher.utter_message(json_message={"kind": kind, "text": text, "data": data or {}, "buttons": buttons or []})


class HotlineAction(Action, metaclass=ABCMeta):
    """Base of every custom action: a failure inside an action still gets the caller a polite answer.

    Subclasses implement act() instead of run().
    """

    @abstractmethod  # abstract, so the action server does not register this base class itself
    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        """The action's work; the list of events it returns goes back to Rasa."""

    def on_failure(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list:
        """What the caller hears, and the events returned, when act() fails."""
        say(dispatcher, "error",
            "抱歉，系统暂时出了点问题，没能完成您的请求。请稍后再试，或拨打12345由人工为您服务。",
            data={"action": self.name()}, buttons=[button("转人工", "/request_human")])
        return []

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        try:
            return self.act(dispatcher, tracker, domain)
        except Exception:
            log.exception("action %s failed", self.name())
            return self.on_failure(dispatcher, tracker)
