"""Tickets (工单) API for callers and channels (docs/API.md "Tickets (工单)").

POST /api/tickets/classify: category, department, appeal type and confidence of an appeal's text, from
core/tickets/classifier.py. Public like the chat (no staff login), rate-limited per client address; the
model is loaded once per process, on first use (about 2 s, so that first answer is slow). It is not warmed
at start-up: most gateways never classify, and the model costs some 0.5 GB of memory per process.
"""
from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from connectors.gateway.auth import client_address
from connectors.gateway.errors import MESSAGES, ApiError
from connectors.gateway.ratelimit import client_key, limit
from connectors.gateway.schemas import ErrorResponse
from core.settings import get_settings
from core.tickets import classifier

log = logging.getLogger(__name__)

CLASSIFY_MAX_CHARS = 8000  # a long written appeal (the longest real ones run to ~4,300 characters)

MESSAGES.update({
    "ticket_text_empty": "诉求内容不能为空 / The text must not be empty",
    "ticket_text_too_long": "诉求内容过长，请精简到{limit}字以内 / The text is longer than {limit} characters",
    "classifier_unavailable": "工单分类暂时不可用，请稍后再试 / The ticket classifier is not available",
})

router = APIRouter(tags=["tickets"])


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # the limits are checked in the route (400 with its own code), and documented here
    text: str = Field(description="the appeal in the caller's words (title and body, or one message)",
                      json_schema_extra={"minLength": 1, "maxLength": CLASSIFY_MAX_CHARS, "pattern": r"\S"})


class Candidate(BaseModel):
    level1: str
    level2: str
    level3: str
    score: float


class ClassifyResponse(BaseModel):
    level1: str
    level2: str
    level3: str
    department: str
    appeal_type: str
    confidence: float
    candidates: list[Candidate]
    manual: bool


@router.post("/api/tickets/classify", response_model=ClassifyResponse,
             responses={400: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
                        429: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
async def classify(body: ClassifyRequest, request: Request) -> ClassifyResponse:
    text = body.text.strip()
    if not text:
        raise ApiError(400, "ticket_text_empty", extra={"field": "text"})
    if len(body.text) > CLASSIFY_MAX_CHARS:
        raise ApiError(400, "ticket_text_too_long", extra={"field": "text"}, limit=CLASSIFY_MAX_CHARS)
    limit(request, "tickets_limiter", get_settings().rate_limit_per_minute, client_key(client_address(request)))
    try:
        result = await asyncio.to_thread(classifier.classify, text)
    except Exception as exc:  # model folder missing or broken, routing table invalid: say so, never a 500
        log.exception("ticket classification failed")
        raise ApiError(503, "classifier_unavailable") from exc
    return ClassifyResponse.model_validate(result.as_dict())
