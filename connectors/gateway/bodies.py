"""JSON bodies are checked once, before any route sees them, so bad input gets the right 4xx.

FastAPI turns every body it cannot parse into one 400; here each case gets its own answer:

    not UTF-8 (also a raw lone surrogate)            400 invalid_encoding
    not JSON, nested deeper than MAX_DEPTH, or a
    number too long for Python (over 4300 digits)    400 invalid_json
    a string with a lone surrogate ("\\ud800")       400 invalid_text   (it could not be stored or sent on)
    larger than MAX_BODY_BYTES                       413 body_too_large

The same check (`parse`) reads the WebSocket frames of the widget.
"""
from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.gateway.errors import MESSAGES, ApiError, error_body

MAX_DEPTH = 32
MAX_BODY_BYTES = 5 * 1024 * 1024  # as the guide editor's uploads (connectors/editor/api.py)
SURROGATE = re.compile("[\ud800-\udfff]")

MESSAGES.update({
    "invalid_text": "消息中含有无法识别的字符，请重新输入 / The text contains invalid Unicode (a lone surrogate)",
    "body_too_large": "请求内容过大 / The request body is too large",
})


def _check(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ApiError(400, "invalid_json")
    if isinstance(value, str):
        if SURROGATE.search(value):
            raise ApiError(400, "invalid_text")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def parse(raw: str | bytes) -> Any:
    """The JSON value of a body or frame, or ApiError with the code saying what is wrong with it."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_encoding") from None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, too deep for the parser, or an over-long number
        raise ApiError(400, "invalid_json") from None
    _check(value)
    return value


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            kind = value.split(b";")[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


class JsonBodyGuard:
    """ASGI middleware: a JSON body that `parse` refuses is answered here with its 4xx; others pass unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _answer(send, ApiError(413, "body_too_large"))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body.strip():
            try:
                parse(body)
            except ApiError as exc:
                await _answer(send, exc)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _answer(send: Send, exc: ApiError) -> None:
    payload = json.dumps(error_body(exc.code, exc.message), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": exc.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
