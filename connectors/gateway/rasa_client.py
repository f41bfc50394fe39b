"""Talks to the Rasa server over its REST channel and turns its output into BotMessages.

The one call every turn makes goes through aiohttp: httpx's connection pool spent about half of the gateway's
CPU per turn under load, walking every pooled connection for each request (docs/BENCHMARKS.md, session 11).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

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


# Rasa's server (Sanic) closes a connection idle for 5 s: ours are let go before that, so a kept connection is
# never reused just as the server closes it.
KEEPALIVE_SECONDS = 4
MAX_CONNECTIONS = 100


class RasaClient:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http: aiohttp.ClientSession | None = None   # made on first use, inside the running event loop

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS),
                timeout=aiohttp.ClientTimeout(total=self.timeout), json_serialize=_compact_json)
        return self._http

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotMessage]:
        payload = {"sender": sender, "message": text, "metadata": metadata}
        # in the scale-out mode the balancer sends a conversation's turns to the same Rasa process while it lives,
        # whose tracker store still holds the conversation (scripts/cluster.py); a keyed hash, not the sender id
        headers = {CONVERSATION_HEADER: senders.conversation_key(sender)}
        for attempt in (1, 2):
            try:
                async with self._session().post(f"{self.base_url}/webhooks/rest/webhook", json=payload,
                                                 headers=headers) as response:
                    if attempt == 1 and response.status in RETRY_STATUSES:
                        log.warning("rasa answered %s; trying once more", response.status)
                        continue
                    if response.status >= 400:
                        raise DialogueUnavailable(f"rasa answered {response.status}")
                    raw = json.loads(await response.read())
                break
            except asyncio.TimeoutError as exc:   # not retried: that turn may still be being processed
                log.warning("rasa call failed: %s", type(exc).__name__)
                raise DialogueUnavailable from exc
            except aiohttp.ClientConnectionError as exc:
                # The Rasa process died or restarted before it answered (in scale-out mode the balancer sends the
                # retry to another one).
                if attempt == 1:
                    log.warning("rasa call failed: %s; trying once more", type(exc).__name__)
                    continue
                log.warning("rasa call failed: %s", type(exc).__name__)
                raise DialogueUnavailable from exc
            except DialogueUnavailable as exc:
                log.warning("rasa call failed: %s", exc)
                raise
            except (aiohttp.ClientError, ValueError) as exc:
                log.warning("rasa call failed: %s", type(exc).__name__)
                raise DialogueUnavailable from exc
        return [to_bot_message(m) for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []

    async def ready(self) -> tuple[bool, str]:
        try:
            async with self._session().get(f"{self.base_url}/status",
                                           timeout=aiohttp.ClientTimeout(total=3)) as response:
                if response.status == 200 and json.loads(await response.read()).get("model_file"):
                    return True, "model loaded"
                return False, f"status {response.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, AttributeError) as exc:
            return False, type(exc).__name__

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
