"""The caller's side of human handoff: who answers a turn, and what the caller sees of the agent side.

The gateway owns who answers a conversation. TurnService asks `route()` before Rasa:

    connected to an agent  -> the caller's text goes to the agent (core.handoff.add_message), Rasa is silent
    waiting in the queue   -> "不用了" cancels; a phone number with 回拨 leaves a call-back; anything else is
                              answered by the assistant meanwhile and copied to the transcript the agent will see
    otherwise              -> the assistant (Rasa)

A `handoff` message from the dialogue (actions/handoff.py, `data.request`) becomes a place in the queue
here, and the caller is told the real position and an honest wait, or that nobody is on duty and a
call-back can be left. Live events of the conversation (agent joined, agent messages, typing, handed
back, closed) reach the caller through `caller_frames()`, whatever gateway process the agent uses.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from connectors.gateway.handoff_memo import NoHandoffMemo
from connectors.gateway.schemas import BotMessage
from core import handoff
from core.handoff import HandoffError
from core.privacy import find_mobile, mask_text
from core.settings import HOTLINE
from nlu.textnorm import normalize

log = logging.getLogger("hotline.handoff")

CANCEL = re.compile(r"^(不用了|不用|算了|不等了|我不等了|取消|取消排队|不转了|不要人工了|不找人工了)[了吧啊呀。！!，,\s]*$")
CALLBACK_WORDS = re.compile(r"回拨|回电|打给我|打回来|联系我|给我打")
CANCEL_PAYLOAD = "/handoff_cancel"
CALLBACK_PAYLOAD = "/handoff_callback"
HISTORY_EVENTS = 40   # assistant-side turns copied into the transcript when a caller joins the queue
# what the caller is told for each change an agent makes; the caller's own changes are answered in the turn
CALLER_STATES = {"claimed": "connected", "transferred": "connected", "released": "returned", "closed": "closed"}


def _minutes(seconds: int) -> str:
    return "1分钟" if seconds <= 60 else f"{(seconds + 59) // 60}分钟"


def queued_message(ticket: dict[str, Any]) -> BotMessage:
    """Where the caller stands, said honestly; a call-back is offered when nobody can come soon."""
    data = {key: ticket.get(key) for key in ("position", "queue_length", "estimated_wait_seconds", "agents_on_duty",
                                             "offer_callback")}
    data.update({"state": "queued", "conversation_id": ticket["id"], "phone": HOTLINE,
                 "callback_payload": CALLBACK_PAYLOAD})
    buttons = [{"title": "不用了，继续问智能助手", "payload": CANCEL_PAYLOAD}]
    if not ticket.get("agents_on_duty"):
        text = ("现在没有人工坐席在线。您可以直接发来您的手机号码和要办的事，"
                "工作人员上班后会尽快给您回电；也可以继续向我咨询，或稍后拨打" + HOTLINE + "。")
    else:
        ahead = max(0, (ticket.get("position") or 1) - 1)
        wait = ticket.get("estimated_wait_seconds") or 0
        text = "已为您转接人工客服。" + (f"您前面还有{ahead}位，" if ahead else "") + \
            ("马上为您接通。" if wait == 0 else f"预计等待约{_minutes(wait)}。")
        if ticket.get("offer_callback"):
            text += "等待时间较长，您也可以直接发来手机号码，由工作人员回电。"
        text += "等待期间您可以继续向我咨询；说“不用了”可以取消排队。"
    return BotMessage(kind="handoff", text=text, data=data, buttons=buttons)


def _state_message(text: str, state: str, **data: Any) -> BotMessage:
    return BotMessage(kind="handoff", text=text, data={"state": state, **data})


def parse_callback(text: str, *, offered: bool = False) -> dict[str, str] | None:
    """`/handoff_callback{"phone": ..., "description": ...}` (the widget's form) or "请回拨13947761207，想问…"; once
    the queue has offered a call-back, any message with a mobile number ("我电话是138…，社保卡补办")."""
    if text.startswith(CALLBACK_PAYLOAD):
        try:
            body = json.loads(text[len(CALLBACK_PAYLOAD):] or "{}")
        except ValueError:
            return {"phone": "", "description": ""}
        return {"phone": str(body.get("phone", "")), "description": str(body.get("description", ""))[:200]} \
            if isinstance(body, dict) else {"phone": "", "description": ""}
    clean = normalize(text)
    phone = find_mobile(clean)
    if phone and (offered or CALLBACK_WORDS.search(clean)):
        return {"phone": phone, "description": mask_text(clean)[:200]}
    return None


class HandoffBridge:
    """Caller-side handoff for one gateway process; the state itself is in the database (core/handoff)."""

    def __init__(self, rasa_url: str, http: httpx.AsyncClient | None = None, memo: NoHandoffMemo | None = None) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self._http = http or httpx.AsyncClient(timeout=5)
        self.memo = memo or NoHandoffMemo()   # callers known to have no handoff (connectors/gateway/handoff_memo.py)

    def start(self) -> None:
        """Follow the agents topic, so turns of callers without a handoff skip the database (needs a running loop)."""
        self.memo.start()

    async def close(self) -> None:
        await self.memo.close()
        await self._http.aclose()

    # -- before the assistant ---------------------------------------------------------------------------
    async def current(self, sender: str) -> dict[str, Any] | None:
        """{"id", "state"} of the caller's handoff at the start of a turn; None, without a query, for a caller
        this process knows has none."""
        if self.memo.has_none(sender):
            return None
        generation = self.memo.generation
        ticket = await asyncio.to_thread(handoff.current, sender)
        if ticket is None:
            self.memo.remember_none(sender, generation)
        return ticket

    async def route(self, sender: str, text: str, channel: str, ticket: dict[str, Any] | None, *,
                    large_text: bool = False) -> list[BotMessage] | None:
        """Messages answering this turn on the handoff side, or None to let the assistant answer."""
        state = ticket["state"] if ticket else None
        if state == handoff.CONNECTED:
            # what the agent said since the caller's last line: the reply to a channel that has no live events
            # (plain HTTP, the voice line); a socket that showed them live skips them by their message id
            backlog = await self.backlog(ticket["id"])
            try:
                await handoff.perform(handoff.add_message, ticket["id"], "caller", text)
            except HandoffError as exc:  # the agent closed a moment ago: the assistant answers
                log.info("caller message not delivered to the agent: %s", exc.code)
                return None
            return backlog
        if text == CANCEL_PAYLOAD or (state == handoff.QUEUED and CANCEL.match(normalize(text))):
            return [await self._cancel(sender)]
        callback = parse_callback(text) if state in (handoff.QUEUED, handoff.CALLBACK) or \
            text.startswith(CALLBACK_PAYLOAD) else None
        if callback is None and state == handoff.QUEUED and find_mobile(normalize(text)) and \
                await self._callback_offered(sender):
            callback = parse_callback(text, offered=True)
        if callback is not None:
            return [await self._callback(sender, channel, callback, large_text=large_text)]
        return None

    @staticmethod
    async def backlog(conversation_id: int) -> list[BotMessage]:
        """The agent side's messages since the caller's latest line (core.handoff.caller_backlog), for the caller."""
        try:
            events = await asyncio.to_thread(handoff.caller_backlog, conversation_id)
        except (HandoffError, SQLAlchemyError) as exc:  # the turn goes on; the socket still shows them live
            log.warning("agent messages not read back: %s", type(exc).__name__)
            return []
        return [BotMessage(**frame["message"]) for event in events for frame in caller_frames(event)
                if frame.get("type") == "bot"]

    @staticmethod
    async def _callback_offered(sender: str) -> bool:
        """Has the queue offered this waiting caller a call-back (nobody on duty, or a long wait)? Asked only for a
        message with a mobile number in it."""
        try:
            ticket = await asyncio.to_thread(handoff.ticket, sender)
        except SQLAlchemyError:
            return False
        return bool(ticket and ticket.get("offer_callback"))

    async def _cancel(self, sender: str) -> BotMessage:
        try:
            await handoff.perform(handoff.cancel, sender)
        except HandoffError as exc:
            return _state_message(exc.message, "unchanged")
        return _state_message("好的，已为您取消人工服务。您可以继续向我咨询。", "returned")

    async def _callback(self, sender: str, channel: str, callback: dict[str, str], *, large_text: bool) -> BotMessage:
        try:
            ticket = await handoff.perform(handoff.request_callback, sender, callback["phone"], callback["description"],
                                           channel=channel, large_text=large_text)
        except handoff.InvalidInput as exc:
            return BotMessage(kind="handoff", text=f"{exc.message}请重新填写手机号码。",
                              data={"state": "callback_invalid", "field": "phone", "reason": exc.message,
                                    "callback_payload": CALLBACK_PAYLOAD})
        except HandoffError as exc:
            return _state_message(exc.message, "unchanged")
        finally:  # this process learns at once, whether or not the event reaches the bus
            self.memo.forget(sender)
        return _state_message(f"已登记回拨：工作人员将尽快致电{ticket.get('callback_phone')}，请保持电话畅通。"
                              "您也可以继续向我咨询。", "callback_requested", phone=ticket.get("callback_phone"))

    # -- after the assistant --------------------------------------------------------------------------------
    async def after_assistant(self, sender: str, text: str, channel: str, messages: list[BotMessage],
                              ticket: dict[str, Any] | None, *, large_text: bool = False) -> list[BotMessage]:
        """Turn a handoff request into a place in the queue; while queued, copy the turn for the agent."""
        out: list[BotMessage] = []
        for message in messages:
            request = message.data.get("request") if message.kind == "handoff" else None
            if isinstance(request, dict):
                out.append(await self._enqueue(sender, channel, request, large_text=large_text))
            else:
                out.append(message)
        if ticket and ticket["state"] == handoff.QUEUED and not any(m.kind == "handoff" for m in out):
            await self._copy_turn(ticket["id"], text, out)
        return out

    async def _enqueue(self, sender: str, channel: str, request: dict, *, large_text: bool) -> BotMessage:
        summary = request.get("summary") if isinstance(request.get("summary"), dict) else {}
        try:
            outcome = await asyncio.to_thread(
                handoff.request, sender, channel, str(request.get("reason") or "caller_request"), summary,
                large_text=large_text, repeated_failures=int(request.get("repeated_failures") or 0))
        except (HandoffError, SQLAlchemyError, ValueError, TypeError) as exc:
            log.warning("handoff request refused: %s", type(exc).__name__)
            return BotMessage(kind="handoff", text=f"抱歉，暂时无法为您转接人工客服，请直接拨打{HOTLINE}。",
                              data={"state": "unavailable", "phone": HOTLINE})
        finally:  # as in _callback
            self.memo.forget(sender)
        ticket = outcome.view
        if ticket.get("state") == handoff.CONNECTED:
            return _state_message(f"人工客服{ticket.get('holder')}正在为您服务，请直接输入您的问题。", "connected",
                                  agent=ticket.get("holder"), conversation_id=ticket["id"])
        if ticket.get("created"):  # the agent who opens it should see what happened before
            try:
                await self._copy_history(sender, ticket["id"])
            except Exception:  # noqa: BLE001 - the caller is queued whatever happened to the history
                log.exception("conversation history not copied for the agent")
        await handoff.publish(outcome)   # every gateway's memo of callers without a handoff hears of it here
        if ticket.get("state") == handoff.CALLBACK:
            return _state_message("您已登记回拨，工作人员将尽快致电。您也可以继续向我咨询。", "callback_requested",
                                  phone=ticket.get("callback_phone"))
        return queued_message(ticket)

    async def _copy_history(self, sender: str, conversation_id: int) -> None:
        """The assistant-side conversation so far (from Rasa's tracker), masked, into the handoff transcript."""
        try:
            response = await self._http.get(f"{self.rasa_url}/conversations/{sender}/tracker",
                                             params={"include_events": "APPLIED"})
            response.raise_for_status()
            events = response.json().get("events") or []
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("conversation history not available for the agent: %s", type(exc).__name__)
            return
        lines = []
        for event in events[-HISTORY_EVENTS:]:
            if event.get("event") == "user" and event.get("text"):
                lines.append(("caller", event["text"], "text", {}))
            elif event.get("event") == "bot":
                custom = (event.get("data") or {}).get("custom") or {}
                if custom.get("text") and custom.get("kind") != "handoff":
                    data = custom.get("data") or {}
                    lines.append(("assistant", custom["text"], custom.get("kind", "text"),
                                  {"guide": data.get("guide"), "material_count": len(data.get("materials") or [])}))
        await handoff.publish(await asyncio.to_thread(_add_lines, conversation_id, lines))

    async def _copy_turn(self, conversation_id: int, text: str, messages: list[BotMessage]) -> None:
        lines = [("caller", text, "text", {})] + [
            ("assistant", m.text, m.kind, {"guide": m.data.get("guide"),
                                           "material_count": len(m.data.get("materials") or [])})
            for m in messages if m.text]
        await handoff.publish(await asyncio.to_thread(_add_lines, conversation_id, lines))


def _add_lines(conversation_id: int, lines: list[tuple[str, str, str, dict]]) -> list:
    """Transcript lines for the agent, in one transaction; their events (a previewing console sees them live).

    A copy for the agent is best effort: a database hiccup here must not cost the caller their answer.
    """
    try:
        return list(handoff.add_lines(conversation_id, lines).events)
    except (HandoffError, SQLAlchemyError) as exc:
        log.warning("transcript copy for the agent failed: %s", type(exc).__name__)
        return []


# -- live events to the caller --------------------------------------------------------------------------------
def caller_frames(event: dict[str, Any]) -> list[dict[str, Any]]:
    """WebSocket frames for the caller from one event of their conversation (agent side only)."""
    kind = event.get("type")
    if kind == "handoff.typing":
        if event.get("role") != "agent":
            return []
        return [{"type": "typing", "on": bool(event.get("on")), "who": "agent", "name": event.get("name")}]
    message = event.get("message") or {}
    if kind == "handoff.state":
        state = CALLER_STATES.get((message.get("data") or {}).get("change") or "")
        if state is None:
            return []
        data = {"state": state, "conversation_id": event.get("conversation_id"), "message_id": message.get("id")}
        if state == "connected":
            data["agent"] = event.get("holder")
        bot = BotMessage(kind="handoff", text=str(message.get("text") or ""), data=data)
        return [{"type": "bot", "message": bot.model_dump()}]
    if kind == "handoff.message" and message.get("role") == "agent":
        data = dict(message.get("data") or {})
        data["agent"] = message.get("staff_name")
        data["message_id"] = message.get("id")
        msg_kind = message.get("kind") or "text"
        bot = BotMessage(kind="agent_message" if msg_kind == "text" else msg_kind,
                         text=str(message.get("text") or ""), data=data)
        return [{"type": "bot", "message": bot.model_dump()}]
    return []
