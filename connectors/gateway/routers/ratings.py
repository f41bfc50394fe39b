"""POST /api/ratings: a caller rates the service (好差评). Public, like the chat: the conversation must be the
caller's (its token, core/senders.py, as for /api/chat) and have taken place, a 办件 number must be that
sender's, and both the client address and the sender are rate-limited. The rules are in core/ratings."""
from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from connectors.gateway.auth import client_address
from connectors.gateway.errors import ApiError, from_domain
from connectors.gateway.ratelimit import client_key, limit
from connectors.gateway.schemas import SENDER_PATTERN, ErrorResponse
from core import ratings, senders
from core.settings import get_settings

router = APIRouter(tags=["ratings"])
FIELDS = frozenset({"sender", "token", "level", "tags", "comment", "number"})
_SENDER = re.compile(SENDER_PATTERN)

# core.ratings error -> (HTTP status, error code); subclasses before bases
RATING_ERRORS: tuple[tuple[type[ratings.RatingError], int, str], ...] = (
    (ratings.InvalidRating, 400, "invalid_rating"),
    (ratings.AlreadyRated, 409, "already_rated"),
    (ratings.SubjectNotFound, 404, "rating_subject_not_found"),
    (ratings.NotFound, 404, "rating_not_found"),
    (ratings.NotAllowed, 403, "rating_not_allowed"),
    (ratings.InvalidState, 409, "invalid_state"),
)


def rating_error(exc: ratings.RatingError) -> ApiError:
    return from_domain(exc, RATING_ERRORS, (400, "invalid_rating"), ("field", "state", "subject"))


def _bad(field: str, reason: str) -> ApiError:
    return ApiError(400, "invalid_rating", extra={"field": field}, reason=reason)


@router.post("/api/ratings", status_code=201,
             responses={400: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse},
                        429: {"model": ErrorResponse}})
async def rate(request: Request, body: Any = Body(None)) -> JSONResponse:
    """`{"sender", "token", "level" (1-5, 5 = 非常满意), "tags"?, "comment"?, "number"?}` -> 201 {"rating", "message"}."""
    if not isinstance(body, dict):
        raise _bad("body", "请求内容应为JSON对象")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise _bad(unknown[0], f"不支持的字段：{', '.join(unknown)[:80]}")
    sender = body.get("sender")
    if not isinstance(sender, str) or not _SENDER.match(sender):
        raise _bad("sender", "会话标识无效")
    token = body.get("token")
    if not senders.owns(sender, token if isinstance(token, str) else None):
        raise ApiError(403, "sender_forbidden")
    limit(request, "ratings_limiter", get_settings().ratings_per_minute, client_key(client_address(request)),
          f"sender:{sender}")
    try:
        result = await asyncio.to_thread(ratings.rate, sender, body.get("level"), tags=body.get("tags"),
                                         comment=body.get("comment") if body.get("comment") is not None else "",
                                         number=body.get("number"))
    except ratings.RatingError as exc:
        raise rating_error(exc) from exc
    return JSONResponse(result, status_code=201)
