"""After every turn: the conversation event for the dashboard, and a rating invitation when a service ended.

TurnService calls `after_turn` once per answered turn (its row is stored with others a moment later,
core/conversation_events.py `defer`; a turn that ends a service is stored at once, in a worker thread, with its
invitation; a failure is logged and never costs the caller the answer) and `intercept` before anything else, so a rating button's payload
(`/rate{"level": 4}`, also what a voice line sends for a keypad press) is recorded on any channel without
reaching the dialogue engine. The caller's WebSocket calls `after_agent_closed` when an agent closed the
conversation. The rules (one invitation per subject, one rating each, follow-ups) are in core/ratings.

A service ends with `goodbye`, `application_submitted` (not a repeat), `ticket_created`, or an agent closing the
handoff; the gateway then appends one `rating_request` (never twice for the same conversation or 办件).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from connectors.gateway.schemas import BotMessage
from core import conversation_events, ratings

log = logging.getLogger("hotline.ratings")

SAFETY_KINDS = frozenset({"emergency", "police_referral"})


def answered_by(messages: list[BotMessage]) -> str:
    """Who answered a turn, from its messages: the emergency rule, an agent (nothing comes back: the caller's
    text went to the agent holding the conversation), or the assistant (queue messages included)."""
    if any(m.kind in SAFETY_KINDS for m in messages):
        return "safety"
    if not messages:
        return "agent"
    return "assistant"


def end_of_service(messages: list[BotMessage]) -> tuple[str, str | None] | None:
    """(trigger, number) when these messages end a service; a 办件 wins over a goodbye in the same turn."""
    found = None
    for m in messages:
        data = m.data or {}
        if m.kind == "application_submitted" and data.get("number") and not data.get("duplicate"):
            return "application_submitted", str(data["number"])
        if m.kind == "ticket_created" and data.get("number") and not data.get("duplicate"):
            return "ticket_created", str(data["number"])
        if m.kind == "goodbye":
            found = ("goodbye", None)
    return found


def _bot(message: dict[str, Any]) -> BotMessage:
    return BotMessage(kind=message["kind"], text=message.get("text", ""), data=message.get("data") or {},
                      buttons=message.get("buttons") or [])


def _rows(sender: str, channel: str, messages: list[BotMessage]) -> list[tuple[str, str, dict[str, Any]]]:
    return conversation_events.turn_rows(sender, channel, [{"kind": m.kind, "data": m.data} for m in messages],
                                         answered_by=answered_by(messages))


class RatingsHook:
    """Records turns and invites ratings for one gateway process (all state in the database)."""

    def _after_turn(self, sender: str, channel: str, messages: list[BotMessage],
                    end: tuple[str, str | None]) -> BotMessage | None:
        conversation_events.record_many_safely(_rows(sender, channel, messages))
        trigger, number = end
        try:
            invitation = ratings.invite(sender, channel, trigger, number=number)
        except Exception as exc:  # noqa: BLE001 - an invitation is optional; the answer goes out anyway
            log.warning("rating invitation failed: %s", type(exc).__name__)
            return None
        return _bot(invitation) if invitation else None

    async def after_turn(self, sender: str, channel: str, messages: list[BotMessage]) -> list[BotMessage]:
        end = end_of_service(messages)
        if end is None:  # most turns: no invitation, so nothing to wait for
            conversation_events.defer(_rows(sender, channel, messages))
            return messages
        invitation = await asyncio.to_thread(self._after_turn, sender, channel, messages, end)
        return messages + [invitation] if invitation is not None else messages

    async def intercept(self, sender: str, text: str, channel: str) -> list[BotMessage] | None:
        """The answer to a `/rate{...}` payload (rating_thanks, or why it was not taken), None for other text."""
        body = ratings.parse_rate_payload(text)
        if body is None:
            return None
        try:
            result = await asyncio.to_thread(
                ratings.rate, sender, body.get("level"), tags=body.get("tags"), comment=body.get("comment") or "",
                number=body.get("number"), channel=channel)
        except ratings.AlreadyRated as exc:
            return [BotMessage(kind="rating_thanks", text=exc.message, data={"already_rated": True})]
        except ratings.RatingError as exc:
            return [BotMessage(kind="text", text=f"评价未能提交：{exc.message}")]
        return [_bot(result["message"])]

    async def after_agent_closed(self, sender: str, channel: str, handoff_id: int | None) -> BotMessage | None:
        """The rating invitation after an agent closed the conversation (once; None if already asked)."""
        try:
            invitation = await asyncio.to_thread(ratings.invite, sender, channel, "handoff_closed",
                                                 handoff_id=handoff_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("rating invitation after handoff failed: %s", type(exc).__name__)
            return None
        return _bot(invitation) if invitation else None
