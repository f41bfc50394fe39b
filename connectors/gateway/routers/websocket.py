"""WebSocket channel for the web widget: same messages as /api/chat plus typing indicators.

Reconnecting with the same ?sender= resumes the same conversation, because Rasa keys its
tracker by sender id.
"""
from __future__ import annotations

import json
import re
import secrets

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from connectors.gateway.errors import ApiError
from connectors.gateway.schemas import SENDER_PATTERN

router = APIRouter()
_SENDER = re.compile(SENDER_PATTERN)


def _frame_text(raw: str) -> str:
    try:
        frame = json.loads(raw)
    except ValueError:
        raise ApiError(400, "invalid_json") from None
    if not isinstance(frame, dict) or frame.get("type") != "message" or not isinstance(frame.get("text"), str):
        raise ApiError(422, "invalid_request", fields="type, text")
    return frame["text"]


async def _send_error(websocket: WebSocket, exc: ApiError) -> None:
    await websocket.send_json({"type": "error", "code": exc.code, "message": exc.message})


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket) -> None:
    services = websocket.app.state.services
    sender = websocket.query_params.get("sender") or ""
    if not _SENDER.match(sender):
        sender = "web-" + secrets.token_hex(8)
    await websocket.accept()
    await websocket.send_json({"type": "session", "sender": sender})
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                text = services.turns.check(sender, _frame_text(raw))
            except ApiError as exc:
                await _send_error(websocket, exc)
                continue
            await websocket.send_json({"type": "typing", "on": True})
            try:
                for message in await services.turns.respond(sender, text, channel="web"):
                    await websocket.send_json({"type": "bot", "message": message.model_dump()})
            except ApiError as exc:
                await _send_error(websocket, exc)
            finally:
                await websocket.send_json({"type": "typing", "on": False})
    except WebSocketDisconnect:
        return
