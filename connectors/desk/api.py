"""The ticket desk's HTTP API (/api/staff/tickets/...): docs/API.md, "Ticket desk (staff)".

Thin: every rule (life cycle, taxonomy and routing checks, audit) is in core/tickets/desk.py; a route parses
its input, calls one core function in a worker thread and returns its view. `_call` is the one place where
core.tickets.desk errors become HTTP answers (DESK_ERRORS).

Roles: every route needs the `agent` role, which supervisors and admins have too. At a 12345 centre the
agents who take the calls also register, dispatch and follow up tickets (话务员 / 派单员), and the desk keeps
every change in the staff audit log, so the desk does not split the work between roles.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path as PathParam, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from connectors.gateway.auth import AgentStaff
from connectors.gateway.errors import ApiError, from_domain
from connectors.gateway.schemas import ErrorResponse
from core.tickets import desk

# core.tickets.desk error -> (HTTP status, error code in connectors/gateway/errors.py)
DESK_ERRORS: tuple[tuple[type[desk.DeskError], int, str], ...] = (
    (desk.TicketNotFound, 404, "ticket_not_found"),
    (desk.InvalidTransition, 409, "ticket_invalid_state"),
    (desk.InvalidInput, 422, "ticket_invalid_input"),
    (desk.PlatformNotConfigured, 409, "platform_not_configured"),
)
DETAIL_KEYS = ("field", "state", "allowed", "original", "retryable")


def api_error(exc: desk.DeskError) -> ApiError:
    if isinstance(exc, desk.TicketNotFound):
        return ApiError(404, "ticket_not_found")
    if isinstance(exc, desk.PlatformFailed):
        retryable = exc.detail.get("retryable")
        return from_domain(exc, (), (503, "platform_unavailable") if retryable else (502, "platform_rejected"),
                           DETAIL_KEYS)
    return from_domain(exc, DESK_ERRORS, (409, "ticket_invalid_state"), DETAIL_KEYS)


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a desk function in a worker thread (database, maybe the platform) and translate its errors."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except desk.DeskError as exc:
        raise api_error(exc) from exc


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"     # callers' appeals: never kept by a browser or proxy


ERRORS = {status: {"model": ErrorResponse} for status in (401, 403, 404, 409, 422, 502, 503)}
router = APIRouter(prefix="/api/staff/tickets", tags=["ticket desk"], dependencies=[Depends(_no_store)],
                   responses=ERRORS)
Number = Annotated[str, PathParam(min_length=1, max_length=40, description="ticket number, e.g. GD20250301ABC234")]


# -- shapes --------------------------------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RevealRequest(Strict):
    field: str = Field(max_length=32, description="one of " + " ".join(desk.REVEALABLE_FIELDS))
    reason: str = Field(max_length=200, description="why the full value is needed (audited)")


class ReclassifyRequest(Strict):
    level1: str = Field(max_length=64)
    level2: str = Field(max_length=64)
    level3: str = Field(max_length=64)
    department: str | None = Field(None, max_length=64, description="empty = from the routing table")


class ReassignRequest(Strict):
    department: str = Field(max_length=64)
    note: str = Field("", max_length=desk.MAX_REASON)


class TextRequest(Strict):
    text: str = Field(max_length=desk.MAX_TEXT)


class AdvanceRequest(Strict):
    state: str = Field(max_length=16, description="the next state: dispatched in_progress resolved visited")
    note: str = Field("", max_length=desk.MAX_REASON, description="an internal note kept with the change")
    forward: bool | None = Field(None, description="dispatching: forward to the 工单 platform (default: if configured)")


class ReturnRequest(Strict):
    reason: str = Field(max_length=desk.MAX_REASON)
    department: str | None = Field(None, max_length=64, description="who returned it (default: its department)")


class UnlinkRequest(Strict):
    reason: str = Field(max_length=desk.MAX_REASON)


# -- reading ---------------------------------------------------------------------------------------------------------
@router.get("")
async def list_tickets(staff: AgentStaff,
                       state: str | None = Query(None, max_length=16, description="a state, open or done"),
                       level1: str | None = Query(None, max_length=64),
                       department: str | None = Query(None, max_length=64),
                       overdue: bool | None = Query(None, description="past the reply deadline and not resolved"),
                       pending: bool | None = Query(None, description="waiting for manual classification"),
                       appeal_type: str | None = Query(None, max_length=8),
                       urgent: bool | None = Query(None),
                       q: str | None = Query(None, max_length=100, description="number, description or address"),
                       duplicates: bool = Query(False, description="also tickets linked to another one"),
                       order: Literal["due", "new", "old"] = Query("due"),
                       page: int = Query(1, ge=1, le=10000), per_page: int = Query(20, ge=1, le=desk.MAX_PER_PAGE),
                       ) -> dict[str, Any]:
    """Tickets matching the filters, a page at a time, each with `callers`; `counts` for the desk's header."""
    filters = desk.Filters(state=state or None, level1=level1 or None, department=department or None,
                           overdue=overdue, pending=pending, appeal_type=appeal_type or None, urgent=urgent,
                           q=q or None, duplicates=duplicates)
    result = await _call(desk.list_tickets, filters, page=page, per_page=per_page, order=order)
    result["counts"] = await _call(desk.counts)
    return result


@router.get("/manual")
async def manual_queue(staff: AgentStaff, page: int = Query(1, ge=1, le=10000),
                       per_page: int = Query(20, ge=1, le=desk.MAX_PER_PAGE)) -> dict[str, Any]:
    """The manual-classification queue (classifier unsure, or returned by a department), oldest first."""
    return await _call(desk.manual_queue, page=page, per_page=per_page)


@router.get("/hot")
async def hot_issues(staff: AgentStaff, days: int | None = Query(None, ge=1, le=90),
                     limit: int = Query(10, ge=1, le=50), min_size: int = Query(2, ge=2, le=100)) -> dict[str, Any]:
    """Clusters of similar recent tickets (same place, or similar text), biggest first."""
    return await _call(desk.hot_issues, days=days, limit=limit, min_size=min_size)


@router.get("/options")
async def options(staff: AgentStaff) -> dict[str, Any]:
    """For the pickers: the taxonomy tree, the routing table's departments, states and their next steps."""
    return await _call(desk.options)


@router.get("/{number}")
async def ticket(number: Number, staff: AgentStaff) -> dict[str, Any]:
    """One ticket: every event (internal notes too), linked tickets, `can` (what may be done now)."""
    return await _call(desk.ticket_view, number)


# -- writing (each one audited as ticket.*) -------------------------------------------------------------------------
@router.post("/{number}/reveal")
async def reveal(number: Number, body: RevealRequest, staff: AgentStaff) -> dict[str, Any]:
    """The full phone number or name; audited (`ticket.reveal` with the reason)."""
    value = await _call(desk.reveal, number, staff, body.field, body.reason)
    return {"field": body.field, "value": value}


@router.post("/{number}/reclassify")
async def reclassify(number: Number, body: ReclassifyRequest, staff: AgentStaff) -> dict[str, Any]:
    """Set the category by hand; the department follows the routing table unless given."""
    return await _call(desk.reclassify, number, staff, body.level1, body.level2, body.level3,
                       department=body.department or None)


@router.post("/{number}/reassign")
async def reassign(number: Number, body: ReassignRequest, staff: AgentStaff) -> dict[str, Any]:
    """Another department (改派)."""
    return await _call(desk.reassign, number, staff, body.department, note=body.note)


@router.post("/{number}/reply")
async def reply(number: Number, body: TextRequest, staff: AgentStaff) -> dict[str, Any]:
    """A reply the caller sees when checking progress."""
    return await _call(desk.reply, number, staff, body.text)


@router.post("/{number}/notes")
async def add_note(number: Number, body: TextRequest, staff: AgentStaff) -> dict[str, Any]:
    """An internal note (staff only)."""
    return await _call(desk.note, number, staff, body.text)


@router.post("/{number}/advance")
async def advance(number: Number, body: AdvanceRequest, staff: AgentStaff) -> dict[str, Any]:
    """The next step of the life cycle; dispatching also forwards to the 工单 platform when configured."""
    return await _call(desk.advance, number, staff, body.state, note=body.note, forward=body.forward)


@router.post("/{number}/return")
async def return_ticket(number: Number, body: ReturnRequest, staff: AgentStaff) -> dict[str, Any]:
    """A department returned it as not theirs (退回): back to the manual-classification queue."""
    return await _call(desk.return_ticket, number, staff, body.reason, department=body.department or None)


@router.post("/{number}/unlink")
async def unlink(number: Number, body: UnlinkRequest, staff: AgentStaff) -> dict[str, Any]:
    """Undo a wrong duplicate link: the ticket is worked on its own."""
    return await _call(desk.unlink, number, staff, body.reason)


@router.post("/{number}/forward")
async def forward(number: Number, staff: AgentStaff) -> dict[str, Any]:
    """(Again) send a dispatched ticket to the 工单 platform; 503 `platform_unavailable` when it is down."""
    return await _call(desk.forward_ticket, number, staff)


@router.post("/{number}/sync")
async def sync(number: Number, staff: AgentStaff) -> dict[str, Any]:
    """Pull the platform's state and replies of a forwarded ticket now."""
    return await _call(desk.sync_ticket, number, staff)
