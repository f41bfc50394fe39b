"""POST /api/chat: one user message in, the bot's messages out."""
from fastapi import APIRouter, Depends

from connectors.gateway.deps import Services, get_services
from connectors.gateway.schemas import ChatRequest, ChatResponse, ErrorResponse

router = APIRouter(tags=["chat"])


@router.post(
    "/api/chat",
    response_model=ChatResponse,
    responses={400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
               429: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def chat(body: ChatRequest, services: Services = Depends(get_services)) -> ChatResponse:
    messages = await services.turns.handle(body.sender, body.message, channel="web")
    return ChatResponse(messages=messages)
