"""Talks to the Rasa server over its REST channel and turns its output into BotMessages."""
from __future__ import annotations

import logging
from typing import Any

import httpx

from connectors.gateway.schemas import BotMessage
from core import senders

log = logging.getLogger(__name__)


# A balancer's "no backend answered" (502/503) is retried once; Rasa's own errors and timeouts are not.
RETRY_STATUSES = (502, 503)
CONVERSATION_HEADER = "X-Conversation"


class DialogueUnavailable(Exception):
    """Rasa did not answer in time or answered with an error."""


def to_bot_message(raw: dict[str, Any]) -> BotMessage:
    """Rasa sends custom payloads as {"custom": {...}} and plain responses as {"text", "buttons"}."""
    custom = raw.get("custom")
    if isinstance(custom, dict):
        return BotMessage.model_validate(
            {
                "text": str(custom.get("text", "")),
                "kind": str(custom.get("kind", "text")),
                "data": custom.get("data") if isinstance(custom.get("data"), dict) else {},
                "buttons": custom.get("buttons") or [],
            }
        )
    buttons = [{"title": b.get("title", ""), "payload": b.get("payload", "")} for b in raw.get("buttons") or []]
    return BotMessage(text=str(raw.get("text", "")), kind="text", buttons=buttons)


class RasaClient:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=100))

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotMessage]:
        payload = {"sender": sender, "message": text, "metadata": metadata}
        # in the scale-out mode the balancer sends a conversation's turns to the same Rasa process while it lives,
        # whose tracker store still holds the conversation (scripts/cluster.py); a keyed hash, not the sender id
        headers = {CONVERSATION_HEADER: senders.conversation_key(sender)}
        for attempt in (1, 2):
            try:
                response = await self._http.post(f"{self.base_url}/webhooks/rest/webhook", json=payload,
                                                  headers=headers)
                if attempt == 1 and response.status_code in RETRY_STATUSES:
                    log.warning("rasa answered %s; trying once more", response.status_code)
                    continue
                response.raise_for_status()
                raw = response.json()
                break
            except httpx.TransportError as exc:
                # The Rasa process died or restarted before it answered (in scale-out mode the balancer sends the
                # retry to another one). A timeout is not retried: that turn may still be being processed.
                if attempt == 1 and not isinstance(exc, httpx.TimeoutException):
                    log.warning("rasa call failed: %s; trying once more", type(exc).__name__)
                    continue
                log.warning("rasa call failed: %s", type(exc).__name__)
                raise DialogueUnavailable from exc
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("rasa call failed: %s", type(exc).__name__)
                raise DialogueUnavailable from exc
        return [to_bot_message(m) for m in raw if isinstance(m, dict)]

    async def ready(self) -> tuple[bool, str]:
        try:
            response = await self._http.get(f"{self.base_url}/status", timeout=3)
            if response.status_code == 200 and response.json().get("model_file"):
                return True, "model loaded"
            return False, f"status {response.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            return False, type(exc).__name__

    async def close(self) -> None:
        await self._http.aclose()
