"""One conversational turn, whatever the channel (HTTP, WebSocket, voice).

Order matters: validate -> flood check -> emergency rule -> who answers (an agent or the assistant)
-> dialogue engine. The emergency rule answers before anyone else and leaves the conversation state
untouched, so a form in progress simply continues afterwards. While an agent holds the conversation
the assistant is silent (connectors/gateway/handoff_bridge.py).
"""
from __future__ import annotations

import logging

from connectors.gateway.errors import ApiError
from connectors.gateway.handoff_bridge import HandoffBridge
from connectors.gateway.rasa_client import DialogueUnavailable, RasaClient
from connectors.gateway.ratelimit import RateLimiter
from connectors.gateway.schemas import BotMessage
from core import safety
from core.privacy import mask_text

log = logging.getLogger("hotline.turns")


class TurnService:
    def __init__(self, rasa: RasaClient, limiter: RateLimiter, max_chars: int,
                 handoff: HandoffBridge | None = None) -> None:
        self.rasa, self.limiter, self.max_chars = rasa, limiter, max_chars
        self.handoff = handoff

    def check(self, sender: str, text: str) -> str:
        """Return the cleaned text or raise ApiError; counts toward the sender's rate limit."""
        text = (text or "").strip()
        if not text:
            raise ApiError(422, "empty_message")
        if len(text) > self.max_chars:
            raise ApiError(413, "message_too_long", limit=self.max_chars)
        wait = self.limiter.retry_after(sender)
        if wait:
            raise ApiError(429, "rate_limited", headers={"Retry-After": str(wait)}, seconds=wait)
        return text

    async def handle(self, sender: str, text: str, channel: str, *, large_text: bool = False) -> list[BotMessage]:
        return await self.respond(sender, self.check(sender, text), channel, large_text=large_text)

    async def respond(self, sender: str, text: str, channel: str, *, large_text: bool = False) -> list[BotMessage]:
        """The bot's reply to text that check() has accepted."""
        log.info("turn sender=%s channel=%s text=%s", sender[:16], channel, mask_text(text)[:200])
        emergency = safety.detect(text)
        if emergency is not None:
            return [BotMessage(kind="emergency", text=emergency.reply,
                               data={"numbers": list(emergency.numbers), "categories": list(emergency.categories)})]
        ticket = await self.handoff.current(sender) if self.handoff is not None else None
        if self.handoff is not None:
            routed = await self.handoff.route(sender, text, channel, ticket, large_text=large_text)
            if routed is not None:
                return routed  # an agent answers (or the caller changed their place in the queue)
        try:
            messages = await self.rasa.send(sender, text, {"channel": channel})
        except DialogueUnavailable as exc:
            raise ApiError(503, "dialogue_unavailable") from exc
        messages = messages or [BotMessage(kind="fallback", text="抱歉，我没有听明白，您可以换个说法再问一次。")]
        if self.handoff is not None:
            messages = await self.handoff.after_assistant(sender, text, channel, messages, ticket,
                                                          large_text=large_text)
        return messages
