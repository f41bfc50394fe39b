"""`WS /ws/voice`: a media WebSocket for PBX audio forks (FreeSWITCH mod_audio_fork / mod_audio_stream,
jambonz listen) and the widget's microphone button.

Protocol (docs/API.md "Voice"): the first text frame is JSON with `sample_rate` (8000 or 16000) and
optional call metadata (`call_id`, `caller`, `sender`); then binary frames of 16-bit little-endian mono
PCM at real-time pace. The server sends bot speech as binary frames at the same rate (20 ms each, paced)
and JSON events `transcript`, `bot`, `clear`, `transfer`, `hangup`; the client may send
`{"type": "dtmf", "digit"}` and `{"type": "hangup"}`. Errors: `{"type": "error", "code", "message"}`.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from connectors.gateway.errors import MESSAGES

log = logging.getLogger("hotline.voice.ws")
router = APIRouter()
_SENDER = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
SETUP_SECONDS = 10.0
_ENGINES_LOCK = asyncio.Lock()


async def engines():
    """The process's speech engines, loaded in a worker thread on first use."""
    from speech.engines import get_engines

    async with _ENGINES_LOCK:
        return await asyncio.to_thread(get_engines)


class WebSocketSink:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.open = True

    async def _send(self, fn, payload) -> None:
        if not self.open:
            return
        try:
            await fn(payload)
        except (WebSocketDisconnect, RuntimeError):
            self.open = False

    async def audio(self, pcm: bytes) -> None:
        await self._send(self.websocket.send_bytes, pcm)

    async def event(self, event: dict) -> None:
        await self._send(self.websocket.send_json, event)

    async def transfer(self, target: str) -> None:
        await self.event({"type": "transfer", "target": target})

    async def hangup(self) -> None:
        await self.event({"type": "hangup"})


def _error(code: str, **fmt) -> dict:
    return {"type": "error", "code": code, "message": MESSAGES[code].format(**fmt)}


def _setup(raw: str) -> dict:
    try:
        frame = json.loads(raw)
    except ValueError:
        return _error("invalid_json")
    if not isinstance(frame, dict) or frame.get("sample_rate") not in (8000, 16000):
        return _error("invalid_request", fields="sample_rate (8000 or 16000)")
    return frame


@router.websocket("/ws/voice")
async def voice_socket(websocket: WebSocket) -> None:
    from connectors.voice.session import VoiceConfig, VoiceSession

    await websocket.accept()
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), SETUP_SECONDS)
    except (asyncio.TimeoutError, WebSocketDisconnect, KeyError):
        with contextlib.suppress(Exception):
            await websocket.send_json(_error("invalid_request", fields="first frame: JSON with sample_rate"))
            await websocket.close(code=1008)
        return
    setup = _setup(raw)
    if setup.get("type") == "error":
        await websocket.send_json(setup)
        await websocket.close(code=1008)
        return
    call = str(setup.get("sender") or setup.get("call_id") or "")
    sender = call if _SENDER.match(call) else secrets.token_hex(8)
    sender = sender if sender.startswith("voice-") else "voice-" + sender
    try:
        speech = await engines()
    except Exception as exc:  # noqa: BLE001 - models missing or TTS down: say so, do not 500
        log.error("voice engines unavailable: %s", exc)
        await websocket.send_json({"type": "error", "code": "voice_unavailable",
                                   "message": "语音服务暂不可用，请稍后再拨或使用文字咨询 / Voice engines unavailable"})
        await websocket.close(code=1011)
        return
    sink = WebSocketSink(websocket)
    config = VoiceConfig()
    wait = setup.get("no_input_seconds")
    if isinstance(wait, (int, float)) and 1 <= wait <= 60:  # the PBX's (or a test's) own patience
        config.no_input_seconds = float(wait)
    session = VoiceSession(websocket.app.state.services.turns, speech, sink, sender=sender,
                           sample_rate=int(setup["sample_rate"]), config=config)
    await websocket.send_json({"type": "session", "sender": sender, "sample_rate": session.rate})
    await session.start()
    try:
        while True:
            message = await websocket.receive()
            if message.get("type") == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                session.feed(message["bytes"])
                continue
            try:
                frame = json.loads(message.get("text") or "")
            except ValueError:
                await sink.event(_error("invalid_json"))
                continue
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "dtmf" and isinstance(frame.get("digit"), str) and len(frame["digit"]) == 1:
                session.dtmf(frame["digit"])
            elif kind == "hangup":
                break
            else:
                await sink.event(_error("invalid_request", fields="type (dtmf, hangup), digit"))
    except WebSocketDisconnect:
        pass
    finally:
        sink.open = False
        await session.hangup()
        with contextlib.suppress(Exception):
            await websocket.close()
