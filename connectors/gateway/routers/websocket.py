"""WebSocket channel for the web widget: same messages as /api/chat plus typing indicators, and the
live side of human handoff (an agent joined, agent messages, the agent typing, handed back, closed).

Reconnecting with the same ?sender=&token= resumes the same conversation, because Rasa keys its
tracker by sender id and the handoff state is in the database. The token (issued in the `session` frame)
proves the conversation is this client's: a sender id without it gets an error frame `sender_forbidden` and
the socket is closed (1008) before anything of that conversation is sent or subscribed to.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.exc import SQLAlchemyError

from connectors.gateway import bodies
from connectors.gateway.auth import client_address
from connectors.gateway.errors import ApiError
from connectors.gateway.handoff_bridge import HandoffBridge, caller_frames
from connectors.gateway.schemas import MESSAGE_ID_PATTERN, SENDER_PATTERN
from core import handoff, senders
from core.events import get_event_bus

log = logging.getLogger("hotline.ws")
RESUBSCRIBE_SECONDS = 2.0

router = APIRouter()
_SENDER = re.compile(SENDER_PATTERN)


def _frame(raw: str) -> dict:
    frame = bodies.parse(raw)  # 400 invalid_json / invalid_text, as for an HTTP body
    if not isinstance(frame, dict) or frame.get("type") not in ("message", "typing"):
        raise ApiError(422, "invalid_request", fields="type, text")
    if frame["type"] == "message" and not isinstance(frame.get("text"), str):
        raise ApiError(422, "invalid_request", fields="type, text")
    if frame.get("message_id") is not None and not (isinstance(frame["message_id"], str)
                                                    and re.fullmatch(MESSAGE_ID_PATTERN, frame["message_id"])):
        raise ApiError(422, "invalid_request", fields="message_id")
    return frame


async def _forward_agent_side(websocket: WebSocket, sender: str, ready: asyncio.Event, ratings=None) -> None:
    """Events of this caller's conversation (from any gateway process) as widget frames; after an agent closed
    the conversation, the rating invitation (connectors/gateway/ratings_hook.py, once per conversation)."""
    while True:
        try:
            async with get_event_bus().subscribe(handoff.conversation_topic(sender)) as subscription:
                ready.set()
                async for _, event in subscription:
                    for frame in caller_frames(event):
                        await websocket.send_json(frame)
                    if ratings is not None and event.get("type") == "handoff.state" and event.get("change") == "closed":
                        invitation = await ratings.after_agent_closed(sender, "web", event.get("conversation_id"))
                        if invitation is not None:
                            await websocket.send_json({"type": "bot", "message": invitation.model_dump()})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Redis restarted, fell behind, or a bad bus URL: the chat goes on
            log.warning("caller event subscription lost: %s", type(exc).__name__)
        finally:
            ready.set()  # the chat never waits on the live side
        await asyncio.sleep(RESUBSCRIBE_SECONDS)


async def _caller_typing(sender: str, on: bool) -> None:
    current = await asyncio.to_thread(handoff.current, sender)
    if current and current["state"] == handoff.CONNECTED:
        await handoff.publish([handoff.typing_event(sender, current["id"], "caller", on)])


async def _send_backlog(websocket: WebSocket, sender: str) -> None:
    """On (re)connecting while an agent answers: what the agent said since the caller's last line, which the
    socket may have missed (a reload, a dropped connection); the widget skips those it already shows."""
    try:
        current = await asyncio.to_thread(handoff.current, sender)
    except SQLAlchemyError:
        return
    if current and current["state"] == handoff.CONNECTED:
        for message in await HandoffBridge.backlog(current["id"]):
            await websocket.send_json({"type": "bot", "message": message.model_dump()})


async def _send_error(websocket: WebSocket, exc: ApiError) -> None:
    await websocket.send_json({"type": "error", "code": exc.code, "message": exc.message})


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket) -> None:
    services = websocket.app.state.services
    sender = websocket.query_params.get("sender") or ""
    token = websocket.query_params.get("token") or ""
    client = client_address(websocket)
    await websocket.accept()
    if _SENDER.match(sender):  # resuming: only with the token issued with the sender id (core/senders.py)
        if not senders.owns(sender, token):
            await _send_error(websocket, ApiError(403, "sender_forbidden"))
            await websocket.close(code=1008, reason="sender_forbidden")
            return
    else:
        sender, token = senders.new_sender()
    ready = asyncio.Event()
    forwarder = asyncio.create_task(_forward_agent_side(websocket, sender, ready, services.turns.ratings))
    try:
        await ready.wait()  # subscribed before the first turn, so no agent event is missed
        await websocket.send_json({"type": "session", "sender": sender, "token": token})
        await _send_backlog(websocket, sender)
        while True:
            raw = await websocket.receive_text()
            try:
                frame = _frame(raw)
                if frame["type"] == "typing":
                    await _caller_typing(sender, bool(frame.get("on")))
                    continue
                text = services.turns.check(sender, frame["text"], client)
            except ApiError as exc:
                await _send_error(websocket, exc)
                continue
            await websocket.send_json({"type": "typing", "on": True})
            try:
                for message in await services.turns.respond(sender, text, channel="web", client=client,
                                                            large_text=bool(frame.get("large_text")),
                                                            turn_id=frame.get("message_id")):
                    await websocket.send_json({"type": "bot", "message": message.model_dump()})
            except ApiError as exc:
                await _send_error(websocket, exc)
            finally:
                await websocket.send_json({"type": "typing", "on": False})
    except WebSocketDisconnect:
        return
    finally:
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await forwarder
