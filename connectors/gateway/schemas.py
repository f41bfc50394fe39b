"""Request and response shapes of the public API (docs/API.md)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core import senders
from nlu.textnorm import ZERO_WIDTH

SENDER_PATTERN = r"^[A-Za-z0-9_.:\-]{1,128}$"
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9_\-]{8,64}$"
TOKEN_PATTERN = senders.TOKEN_PATTERN


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sender: str | None = Field(None, pattern=SENDER_PATTERN,
                               description="the conversation's id as issued by the gateway; omit to start a new one")
    token: str | None = Field(None, pattern=TOKEN_PATTERN,
                              description="the token issued with `sender` (required with it): proves the conversation is yours")
    # documented as accepted (checked by the turn itself, with its own codes: empty_message, message_too_long)
    message: str = Field(description="what the user said or typed (Simplified or Traditional Chinese); at least one "
                                     "visible character, at most MAX_MESSAGE_CHARS (2000) characters",
                         json_schema_extra={"minLength": 1, "maxLength": 2000,
                                            "pattern": f"[^\\s{ZERO_WIDTH}]"})
    message_id: str | None = Field(None, pattern=MESSAGE_ID_PATTERN,
                                   description="the client's id for this message (8-64 letters, digits, `-`, `_`): "
                                               "a message sent again with the same id after its reply was lost is "
                                               "answered with that reply and not run a second time")


class ChatSession(BaseModel):
    sender: str = Field(description="the conversation's id; send it with `token` on every later request")
    token: str = Field(description="secret of this conversation: keep it with the client, never show or log it")


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
    sender: str = Field(description="the conversation's id (new when the request had none)")
    token: str = Field(description="its token, to send with `sender` next time")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    detail: ErrorDetail
