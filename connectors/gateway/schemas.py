"""Request and response shapes of the public API (docs/API.md)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SENDER_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sender: str = Field(pattern=SENDER_PATTERN, description="stable id of the conversation, chosen by the channel")
    message: str = Field(description="what the user said or typed (Simplified or Traditional Chinese)")


class Button(BaseModel):
    title: str
    payload: str


class BotMessage(BaseModel):
    text: str = ""
    kind: str = "text"
    data: dict[str, Any] = Field(default_factory=dict)
    buttons: list[Button] = Field(default_factory=list)


class ChatResponse(BaseModel):
    messages: list[BotMessage]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    detail: ErrorDetail
