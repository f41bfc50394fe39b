"""One conversational turn, whatever the channel (HTTP, WebSocket, voice).

Order matters: validate -> flood check -> emergency rule -> police matters (110, not a ticket) -> who answers (an agent or the assistant)
-> dialogue engine. The emergency rule answers before anyone else and leaves the conversation state
untouched, so a form in progress simply continues afterwards. While an agent holds the conversation
the assistant is silent (connectors/gateway/handoff_bridge.py).
"""
from __future__ import annotations

import hashlib
import logging
import uuid

from connectors.gateway.bodies import SURROGATE
from connectors.gateway.errors import ApiError
from connectors.gateway.handoff_bridge import HandoffBridge
from connectors.gateway.rasa_client import DialogueUnavailable, RasaClient
from connectors.gateway.ratelimit import RateLimiter, client_key, refuse_if_limited
from connectors.gateway.ratings_hook import RatingsHook
from connectors.gateway.schemas import BotMessage
from core import safety, senders
from core.privacy import mask_text
from nlu.textnorm import strip_invisible

log = logging.getLogger("hotline.turns")


class TurnService:
    def __init__(self, rasa: RasaClient, limiter: RateLimiter, max_chars: int,
                 handoff: HandoffBridge | None = None, ratings: RatingsHook | None = None, *,
                 client_limiter: RateLimiter | None = None) -> None:
        self.rasa, self.limiter, self.max_chars = rasa, limiter, max_chars
        self.client_limiter = client_limiter  # second line: per client address, whatever the sender id
        self.handoff = handoff
        self.ratings = ratings   # conversation events + rating invitations (connectors/gateway/ratings_hook.py)

    def check(self, sender: str, text: str, client: str | None = None) -> str:
        """Return the cleaned text (zero-width characters removed) or raise ApiError; counts toward the rate limits."""
        text = strip_invisible(text or "").strip()
        if SURROGATE.search(text):
            raise ApiError(400, "invalid_text")  # cannot be stored or sent on; the caller should retype it
        if not text:
            raise ApiError(422, "empty_message")
        if len(text) > self.max_chars:
            raise ApiError(413, "message_too_long", limit=self.max_chars)
        refuse_if_limited(self.limiter.retry_after(sender))
        if client is not None and self.client_limiter is not None:
            refuse_if_limited(self.client_limiter.retry_after(client_key(client)))
        return text

    async def handle(self, sender: str, text: str, channel: str, *, large_text: bool = False,
                     client: str | None = None, turn_id: str | None = None) -> list[BotMessage]:
        return await self.respond(sender, self.check(sender, text, client), channel, large_text=large_text,
                                  client=client, turn_id=turn_id)

    async def respond(self, sender: str, text: str, channel: str, *, large_text: bool = False,
                      client: str | None = None, turn_id: str | None = None) -> list[BotMessage]:
        """The bot's reply to text that check() has accepted; the turn is recorded for the dashboard, a rating
        button's payload is taken here, and a rating invitation follows when a service ended.

        `turn_id` is the client's id of this message, if it sent one. The dialogue engine answers a turn it has
        already stored with the replies it gave then, without running it again (scripts/rasa_server.py
        `_install_turn_replay`). With the client's id (bound to the text, so a reused id with other words is a
        new message), a message sent again after its reply was lost, or re-sent by the balancer to another
        gateway, counts once; without one, the turn gets a fresh id that still covers this gateway's own re-send."""
        rated = await self.ratings.intercept(sender, text, channel) if self.ratings is not None else None
        if rated is not None:
            return rated
        turn = hashlib.sha256(f"{turn_id}\0{text}".encode()).hexdigest()[:32] if turn_id else uuid.uuid4().hex
        messages = await self._answer(sender, text, channel, large_text=large_text, client=client, turn_id=turn)
        return await self.ratings.after_turn(sender, channel, messages) if self.ratings is not None else messages

    async def _answer(self, sender: str, text: str, channel: str, *, large_text: bool = False,
                      client: str | None = None, turn_id: str) -> list[BotMessage]:
        log.info("turn sender=%s channel=%s text=%s", sender[:16], channel, mask_text(text)[:200])
        emergency = safety.detect(text)
        if emergency is not None:
            return [BotMessage(kind="emergency", text=emergency.reply,
                               data={"numbers": list(emergency.numbers), "categories": list(emergency.categories)})]
        police = safety.police_matter(text)
        if police is not None:  # a crime that already happened: 110 or the police station, not a 12345 ticket
            return [BotMessage(kind="police_referral", text=police.reply,
                               data={"numbers": ["110"], "category": police.category})]
        ticket = None
        if self.handoff is not None:
            ticket = await self.handoff.current(sender)
            routed = await self.handoff.route(sender, text, channel, ticket, large_text=large_text)
            if routed is not None:
                return routed  # an agent answers (or the caller changed their place in the queue)
        try:
            metadata = {"channel": channel, "turn_id": turn_id}
            if client:  # status verification locks count per client address too (core/verification.py)
                metadata["client"] = senders.client_tag(client_key(client))
            messages = await self.rasa.send(sender, text, metadata)
        except DialogueUnavailable as exc:
            raise ApiError(503, "dialogue_unavailable") from exc
        messages = messages or [BotMessage(kind="fallback", text="抱歉，我没有听明白，您可以换个说法再问一次。")]
        if self.handoff is not None:
            messages = await self.handoff.after_assistant(sender, text, channel, messages, ticket,
                                                          large_text=large_text)
        return messages
