"""The one bot-message shape every action emits: {kind, text, data, buttons} (docs/API.md)."""
from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher


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
