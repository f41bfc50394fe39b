"""The agent console's HTTP API (/api/agent/...) and the supervisor overview (/api/supervisor/...).

Thin: every rule (who may read or do what, capacity, states) is in core/handoff; a route parses its input,
calls one core function through `act` (in a worker thread, events published after the commit) and returns
the view. `act` is also the one place where core.handoff errors become HTTP answers (docs/API.md).
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Path as PathParam, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.gateway.auth import AgentStaff, SupervisorStaff
from connectors.gateway.errors import ApiError, from_domain
from connectors.gateway.schemas import ErrorResponse
from core import handoff
from core.handoff import console
from knowledge.catalog import get_catalog
from knowledge.retrieval import get_retriever

CANNED_FILE = Path(__file__).resolve().parent / "canned.yaml"
MAX_TEXT = 2000

# core.handoff error -> (HTTP status, error code in connectors/gateway/errors.py); subclasses before bases
HANDOFF_ERRORS: tuple[tuple[type[handoff.HandoffError], int, str], ...] = (
    (handoff.NotFound, 404, "handoff_not_found"),
    (handoff.NotHolder, 403, "not_holder"),
    (handoff.NotAllowed, 403, "handoff_not_allowed"),
    (handoff.AlreadyClaimed, 409, "already_claimed"),
    (handoff.InvalidState, 409, "invalid_state"),
    (handoff.CapacityReached, 409, "capacity_reached"),
    (handoff.AgentUnavailable, 409, "agent_unavailable"),
    (handoff.InvalidInput, 422, "invalid_input"),
)
DETAIL_KEYS = ("holder", "limit", "state", "field")


def api_error(exc: handoff.HandoffError) -> ApiError:
    """The HTTP answer to a domain error: status and code from HANDOFF_ERRORS, the domain's Chinese message."""
    return from_domain(exc, HANDOFF_ERRORS, (409, "invalid_state"), DETAIL_KEYS)


async def act(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a core.handoff function in a worker thread, publish its events, translate its errors."""
    try:
        return await handoff.perform(fn, *args, **kwargs)
    except handoff.HandoffError as exc:
        raise api_error(exc) from exc


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"     # callers' data: never kept by a browser or proxy


ERRORS = {status: {"model": ErrorResponse} for status in (401, 403, 404, 409, 422)}
router = APIRouter(prefix="/api/agent", tags=["agent console"], dependencies=[Depends(_no_store)],
                   responses=ERRORS)
supervisor_router = APIRouter(prefix="/api/supervisor", tags=["agent console"], dependencies=[Depends(_no_store)],
                              responses=ERRORS)
ConversationId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


# -- shapes --------------------------------------------------------------------------------------------------
class MessageRequest(BaseModel):
    """Either `text`, or a guide card: `guide` with optional `items` and `situation` (as in guide_answer)."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, max_length=MAX_TEXT)
    guide: str | None = Field(None, min_length=1, max_length=128)
    items: list[Annotated[str, Field(max_length=128)]] = Field(default_factory=list, max_length=30)
    situation: dict[str, Annotated[str, Field(max_length=128)]] = Field(default_factory=dict, max_length=20)

    @model_validator(mode="after")
    def _one_of(self) -> MessageRequest:
        if (self.text is None) == (self.guide is None):
            raise ValueError("give either text or guide")
        if self.text is not None and (self.items or self.situation):
            raise ValueError("items and situation go with guide")
        return self


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT)


class TypingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_staff_id: int = Field(ge=1, le=2**31 - 1)


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wrap_up: str = Field(max_length=16, description="one of " + " ".join(handoff.WRAP_UP_CODES))
    note: str = Field("", max_length=500)


class RevealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(max_length=32, description="one of " + " ".join(handoff.REVEALABLE_FIELDS))
    reason: str = Field(max_length=200, description="why the full value is needed (audited)")


class HeartbeatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_duty: bool = Field(True, description="false: off duty at once (示忙 / break)")


# -- the queue and conversations -------------------------------------------------------------------------------
@router.get("/queue")
async def queue(staff: AgentStaff) -> dict[str, Any]:
    """Waiting conversations (priority, then oldest), call-backs to make and the agent's own conversations."""
    return await act(console.board, staff)


@router.get("/conversations/{conversation_id}")
async def conversation(conversation_id: ConversationId, staff: AgentStaff) -> dict[str, Any]:
    """Transcript (internal notes included), brief, state, holder and what this viewer may do (`can`).

    Agents read conversations waiting for anyone and their own; supervisors read all (monitoring).
    """
    return await act(console.conversation, conversation_id, staff)


@router.post("/conversations/{conversation_id}/claim")
async def claim(conversation_id: ConversationId, staff: AgentStaff) -> dict[str, Any]:
    """Take a waiting conversation (or a call-back). 409 `already_claimed` / `capacity_reached`."""
    return {"conversation": console.with_brief(await act(handoff.claim, conversation_id, staff))}


@router.post("/conversations/{conversation_id}/messages")
async def send_message(conversation_id: ConversationId, body: MessageRequest, staff: AgentStaff) -> dict[str, Any]:
    """Reply to the caller: text, or the guide_answer card the assistant would send (knowledge.notice.compose)."""
    if body.guide is not None:
        message = await act(console.send_guide, conversation_id, staff, body.guide, body.items, body.situation)
    else:
        message = await act(handoff.add_message, conversation_id, "agent", body.text, staff=staff)
    return {"message": message}


@router.post("/conversations/{conversation_id}/notes")
async def add_note(conversation_id: ConversationId, body: NoteRequest, staff: AgentStaff) -> dict[str, Any]:
    """An internal note: staff only (published on conversation:<sender>:staff, never to the caller)."""
    return {"message": await act(handoff.add_message, conversation_id, "agent", body.text, staff=staff,
                                 internal=True, kind="note")}


@router.post("/conversations/{conversation_id}/typing")
async def typing(conversation_id: ConversationId, body: TypingRequest, staff: AgentStaff) -> dict[str, Any]:
    """Show or hide "客服正在输入" to the caller (holder only)."""
    return await act(console.agent_typing, conversation_id, staff, body.on)


@router.post("/conversations/{conversation_id}/release")
async def release(conversation_id: ConversationId, staff: AgentStaff) -> dict[str, Any]:
    """Hand the conversation back to the assistant (交还智能助手)."""
    return {"conversation": console.with_brief(await act(handoff.release, conversation_id, staff))}


@router.post("/conversations/{conversation_id}/transfer")
async def transfer(conversation_id: ConversationId, body: TransferRequest, staff: AgentStaff) -> dict[str, Any]:
    """Give the conversation to another agent on duty (GET /api/agent/agents lists them)."""
    return {"conversation": console.with_brief(await act(handoff.transfer, conversation_id, staff,
                                                         body.to_staff_id))}


@router.post("/conversations/{conversation_id}/close")
async def close(conversation_id: ConversationId, body: CloseRequest, staff: AgentStaff) -> dict[str, Any]:
    """End the conversation with a wrap-up code (结束类型)."""
    return {"conversation": console.with_brief(await act(handoff.close, conversation_id, staff, body.wrap_up,
                                                         body.note))}


@router.post("/conversations/{conversation_id}/reveal")
async def reveal(conversation_id: ConversationId, body: RevealRequest, staff: AgentStaff) -> dict[str, Any]:
    """The full value of a masked field (the call-back number) for the holder or a supervisor; audited."""
    value = await act(handoff.reveal, conversation_id, staff, body.field, body.reason)
    return {"field": body.field, "value": value}


@router.get("/agents")
async def agents(staff: AgentStaff) -> dict[str, Any]:
    """Other agents on duty with their load (transfer targets), least busy first."""
    return {"agents": await act(console.colleagues, staff)}


@router.post("/heartbeat")
async def heartbeat(staff: AgentStaff, body: HeartbeatRequest | None = None) -> dict[str, Any]:
    """The console is open: on duty for HANDOFF_ON_DUTY_SECONDS (the WebSocket sends these by itself)."""
    if body is not None and not body.on_duty:
        await act(handoff.sign_off, staff)
        on_duty = False
    else:
        await act(handoff.heartbeat, staff)
        on_duty = True
    return {"on_duty": on_duty, "agents_on_duty": await act(handoff.agents_on_duty)}


# -- knowledge and canned replies ------------------------------------------------------------------------------
def _guide_facts(name: str) -> dict[str, Any]:
    guide = get_catalog().get(name)
    if guide is None:
        return {}
    return {"code": guide.code, "kind": guide.kind, "items": [i.name for i in guide.items],
            "situations": [{"id": s.id, "question": s.question,
                            "options": [{"value": o.value, "label": o.label} for o in s.options]}
                           for s in guide.situations],
            "time_limit": guide.time_limit.promised, "online_available": guide.where.online.available}


def _search(q: str, k: int) -> dict[str, Any]:
    result = get_retriever().search(q, k=k)
    results = [{"name": r["name"], "score": r["score"], **_guide_facts(r["name"])} for r in result["results"]]
    return {"answerable": result["answerable"], "clear": result["clear"], "candidates": result["candidates"],
            "suggestions": result.get("suggestions", []), "results": results}


@router.get("/knowledge/search")
async def knowledge_search(staff: AgentStaff, q: str = Query(min_length=1, max_length=500),
                           k: int = Query(5, ge=1, le=20)) -> dict[str, Any]:
    """The assistant's retriever for the console, with each guide's items and situations to pick from."""
    try:
        return await asyncio.to_thread(_search, q, k)
    except FileNotFoundError as exc:
        raise ApiError(503, "index_unavailable") from exc


@router.get("/knowledge/card")
async def knowledge_card(staff: AgentStaff, guide: str = Query(min_length=1, max_length=128),
                         items: list[str] = Query(default=[], max_length=30),
                         situation: list[str] = Query(default=[], max_length=20,
                                                      description="id:value pairs")) -> dict[str, Any]:
    """Preview of the guide_answer card `POST .../messages {"guide": ...}` would send: {"text", "data"}."""
    picked = dict(pair.partition(":")[::2] for pair in situation if ":" in pair)
    card = await act(console.guide_card, guide, items, picked)
    return {"kind": "guide_answer", "text": card["text"], "data": card["data"]}


class _CannedFile:
    """canned.yaml, reread when it changes."""

    def __init__(self, path: Path) -> None:
        self.path, self._stamp, self._groups, self._lock = path, None, [], threading.Lock()

    def groups(self) -> list[dict[str, Any]]:
        with self._lock:
            stamp = self.path.stat().st_mtime_ns
            if stamp != self._stamp:
                raw = yaml.safe_load(self.path.read_text(encoding="utf-8")) or []
                self._groups = [{"group": str(g["group"]),
                                 "replies": [{"id": str(r["id"]), "title": str(r["title"]), "text": str(r["text"])}
                                             for r in g.get("replies", [])]} for g in raw]
                self._stamp = stamp
            return self._groups


_canned = _CannedFile(CANNED_FILE)


@router.get("/canned")
async def canned(staff: AgentStaff) -> dict[str, Any]:
    """Common replies (connectors/agent/canned.yaml), `{name}` filled with the agent's display name."""
    name = staff.public_name
    return {"groups": [{"group": g["group"],
                        "replies": [{**r, "text": r["text"].replace("{name}", name)} for r in g["replies"]]}
                       for g in _canned.groups()]}


# -- supervisor --------------------------------------------------------------------------------------------------
@supervisor_router.get("/overview")
async def overview(staff: SupervisorStaff) -> dict[str, Any]:
    """All live conversations, queue length and waits, agents on duty and their load (supervisor role)."""
    return await act(console.overview, staff)
