"""POST /api/chat: one user message in, the bot's messages out. POST /api/chat/session: a new conversation.

A conversation belongs to the client it was issued to (core/senders.py): a request naming a sender id
must carry its token, else 403 `sender_forbidden`, and nothing of that conversation is read or continued.
"""
from fastapi import APIRouter, Depends, Request

from connectors.gateway.auth import client_address
from connectors.gateway.deps import Services, get_services
from connectors.gateway.errors import ApiError
from connectors.gateway.ratelimit import client_key, refuse_if_limited
from connectors.gateway.schemas import ChatRequest, ChatResponse, ChatSession, ErrorResponse
from core import senders

router = APIRouter(tags=["chat"])


def owned_sender(sender: str | None, token: str | None) -> tuple[str, str]:
    """(sender, token) of the caller's conversation: a new one when no sender is given; 403 when not theirs."""
    if sender is None:  # a token alone names no conversation: a new one is issued
        return senders.new_sender()
    if not senders.owns(sender, token):
        raise ApiError(403, "sender_forbidden")
    return sender, token or ""


@router.post(
    "/api/chat",
    response_model=ChatResponse,
    responses={400: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 413: {"model": ErrorResponse},
               422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def chat(body: ChatRequest, request: Request, services: Services = Depends(get_services)) -> ChatResponse:
    """One message of a conversation; without `sender` a new conversation starts and its id and token come back."""
    sender, token = owned_sender(body.sender, body.token)
    messages = await services.turns.handle(sender, body.message, channel="web", client=client_address(request),
                                           turn_id=body.message_id)
    return ChatResponse(messages=messages, sender=sender, token=token)


@router.post("/api/chat/session", response_model=ChatSession, status_code=201,
             responses={429: {"model": ErrorResponse}})
async def new_session(request: Request, services: Services = Depends(get_services)) -> ChatSession:
    """A new conversation id with its token, for channels that need the id before the first message."""
    limiter = services.turns.client_limiter  # the chat's per-address limit, counted apart from the turns
    if limiter is not None:
        refuse_if_limited(limiter.retry_after("session:" + client_key(client_address(request))))
    sender, token = senders.new_sender()
    return ChatSession(sender=sender, token=token)
