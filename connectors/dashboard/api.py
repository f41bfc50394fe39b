"""The supervisor dashboard's HTTP API: figures (JSON and CSV), follow-up tasks (回访), rating appeals (申诉复核).

Thin: figures are core/metrics, rules core/ratings; every route needs the supervisor role and answers with
`Cache-Control: no-store` (follow-ups name callers' conversations).
"""
from __future__ import annotations

import asyncio
import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path as PathParam, Query, Response
from fastapi.responses import JSONResponse

from connectors.gateway.auth import SupervisorStaff
from connectors.gateway.errors import ApiError
from connectors.gateway.routers.ratings import rating_error
from connectors.gateway.schemas import ErrorResponse
from core import metrics, ratings
from core.db import session_scope


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409)}
dashboard_router = APIRouter(prefix="/api/dashboard", tags=["supervisor dashboard"],
                             dependencies=[Depends(_no_store)], responses=ERRORS)
followups_router = APIRouter(prefix="/api/followups", tags=["supervisor dashboard"],
                             dependencies=[Depends(_no_store)], responses=ERRORS)
supervisor_router = APIRouter(prefix="/api/supervisor", tags=["supervisor dashboard"],
                              dependencies=[Depends(_no_store)], responses=ERRORS)
ItemId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


def _range(since: str | None, until: str | None) -> tuple[date, date]:
    try:
        return metrics.parse_range(since, until)
    except ValueError as exc:
        raise ApiError(400, "invalid_date_range", reason=str(exc).rstrip("。")) from exc


async def _call(fn, *args: Any, **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except ratings.RatingError as exc:
        raise rating_error(exc) from exc


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_rating", extra={"field": "body"}, reason="请求内容应为JSON对象")
    return body


# -- figures ----------------------------------------------------------------------------------------------------
@dashboard_router.get("/metrics")
async def dashboard_metrics(staff: SupervisorStaff, since: Annotated[str | None, Query(alias="from", max_length=10)] = None,
                            until: Annotated[str | None, Query(alias="to", max_length=10)] = None) -> dict[str, Any]:
    """Every figure for local days from..to (YYYY-MM-DD, both included; default the last 7 days)."""
    start, end = _range(since, until)
    return await asyncio.to_thread(metrics.metrics, start, end)


@dashboard_router.get("/csv/{figure}")
async def dashboard_csv(staff: SupervisorStaff, figure: Annotated[str, PathParam(max_length=40)],
                        since: Annotated[str | None, Query(alias="from", max_length=10)] = None,
                        until: Annotated[str | None, Query(alias="to", max_length=10)] = None) -> Response:
    """One figure as CSV (UTF-8 with BOM, so spreadsheet programs show the Chinese right)."""
    name = figure[:-4] if figure.endswith(".csv") else figure
    if name not in metrics.FIGURES:
        raise ApiError(404, "unknown_figure", figure=name[:40], figures=", ".join(metrics.FIGURES))
    start, end = _range(since, until)
    figures = await asyncio.to_thread(metrics.metrics, start, end)
    header, rows = metrics.csv_table(figures, name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    filename = f"{name}_{start.isoformat()}_{end.isoformat()}.csv"
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


# -- follow-ups (回访) ---------------------------------------------------------------------------------------------
@followups_router.get("")
async def list_followups(staff: SupervisorStaff,
                         state: Annotated[str | None, Query(max_length=16)] = None) -> dict[str, Any]:
    """Follow-up tasks, earliest due first; default the ones not closed (open, called_back); state=all for all."""
    return {"followups": await _call(ratings.followups, state=state)}


@followups_router.post("/{followup_id}/callback")
async def followup_callback(staff: SupervisorStaff, followup_id: ItemId, body: Any = Body(None)) -> dict[str, Any]:
    """`{"findings", "rectification"?, "caller_response": 满意|基本满意|不满意|未接通, "caller_note"?}`."""
    body = _object(body)
    view = await _call(ratings.call_back, followup_id, staff, findings=body.get("findings"),
                       rectification=body.get("rectification"), caller_response=body.get("caller_response"),
                       caller_note=body.get("caller_note"))
    return {"followup": view}


@followups_router.post("/{followup_id}/close")
async def followup_close(staff: SupervisorStaff, followup_id: ItemId) -> dict[str, Any]:
    return {"followup": await _call(ratings.close_followup, followup_id, staff)}


# -- ratings and appeals (申诉复核) ----------------------------------------------------------------------------------
@supervisor_router.get("/ratings")
async def list_ratings(staff: SupervisorStaff, since: Annotated[str | None, Query(alias="from", max_length=10)] = None,
                       until: Annotated[str | None, Query(alias="to", max_length=10)] = None,
                       level: Annotated[int | None, Query(ge=1, le=5)] = None) -> dict[str, Any]:
    start, end = _range(since, until)
    return {"ratings": await _call(ratings.list_ratings, since=start, until=end, level=level)}


@supervisor_router.post("/ratings/{rating_id}/appeal", status_code=201)
async def file_appeal(staff: SupervisorStaff, rating_id: ItemId, body: Any = Body(None)) -> JSONResponse:
    """`{"reason": mistake|malicious|other, "note"}` -> 201 {"appeal"} (state pending)."""
    body = _object(body)
    view = await _call(ratings.file_appeal, rating_id, staff, reason=body.get("reason"), note=body.get("note"))
    return JSONResponse({"appeal": view}, status_code=201, headers={"Cache-Control": "no-store"})


@supervisor_router.get("/appeals")
async def list_appeals(staff: SupervisorStaff,
                       state: Annotated[str | None, Query(max_length=16)] = None) -> dict[str, Any]:
    return {"appeals": await _call(ratings.list_appeals, state=state)}


@supervisor_router.post("/appeals/{appeal_id}/decide")
async def decide_appeal(staff: SupervisorStaff, appeal_id: ItemId, body: Any = Body(None)) -> dict[str, Any]:
    """`{"decision": "uphold"|"reject", "note"}`; by a supervisor other than the one who filed the appeal."""
    body = _object(body)
    decision = body.get("decision")
    uphold = {"uphold": True, "reject": False}.get(decision) if isinstance(decision, str) else None
    view = await _call(ratings.decide_appeal, appeal_id, staff, uphold=uphold, note=body.get("note"))
    return {"appeal": view}


@supervisor_router.get("/guides/inaccurate")
async def inaccurate_guides(staff: SupervisorStaff,
                            since: Annotated[str | None, Query(alias="from", max_length=10)] = None) -> dict[str, Any]:
    """Guides rated 办事指南不准确 / 答案不准确, most first."""
    start, _ = _range(since, None) if since else (None, None)

    def read() -> list[dict[str, Any]]:
        with session_scope() as session:
            return ratings.guides_with_inaccuracy_ratings(session, start)

    return {"guides": await asyncio.to_thread(read)}
