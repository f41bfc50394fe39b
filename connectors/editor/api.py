"""The guide editor's HTTP API (/api/guides/..., /api/unanswered/...): docs/API.md, "Guide editor".

Thin: every rule (who may publish, states, versions, validation) is in core/guides; a route parses its input,
calls one core function and returns its view. `_call` is the one place where core.guides errors become HTTP
answers. Every route needs a staff session with the editor or the supervisor role (admins have both).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path as PathParam, Query, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from connectors.gateway.auth import require_role
from connectors.gateway.errors import ApiError, from_domain
from connectors.gateway.routers.knowledge import render_notice
from connectors.gateway.schemas import ErrorResponse
from core.guides import GuideNotFound, GuideStoreError, InvalidGuide, InvalidInput, InvalidState, NotAllowed
from core.guides import hittest, store, transfer, unanswered
from core.staff import StaffPrincipal
from knowledge.notice import compose, parse_notice_query
from knowledge.schema import field_errors

MAX_UPLOAD = 5 * 1024 * 1024
GUIDE_ERRORS: tuple[tuple[type[GuideStoreError], int, str], ...] = (
    (GuideNotFound, 404, "guide_missing"),
    (InvalidGuide, 422, "guide_invalid"),
    (InvalidState, 409, "guide_state"),
    (NotAllowed, 403, "guide_not_allowed"),
    (InvalidInput, 422, "invalid_input"),
)

GuideStaff = Annotated[StaffPrincipal, Depends(require_role("editor", "supervisor"))]
Name = Annotated[str, PathParam(min_length=1, max_length=128)]


def api_error(exc: GuideStoreError) -> ApiError:
    return from_domain(exc, GUIDE_ERRORS, (409, "guide_state"), ("errors", "field", "state"))


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except GuideStoreError as exc:
        raise api_error(exc) from exc


def _refresh_soon() -> None:
    """This gateway process picks up a publish at once (the others within their poll interval)."""
    import threading

    from knowledge import live

    following = live.current()
    if following is not None:
        threading.Thread(target=following.refresh, name="live-guides-now", daemon=True).start()


def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


ERRORS = {status: {"model": ErrorResponse} for status in (401, 403, 404, 409, 422)}
router = APIRouter(prefix="/api/guides", tags=["guide editor"], dependencies=[Depends(_no_store)], responses=ERRORS)
queue_router = APIRouter(prefix="/api/unanswered", tags=["guide editor"], dependencies=[Depends(_no_store)],
                         responses=ERRORS)


# -- shapes ----------------------------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitRequest(Strict):
    note: str = Field("", max_length=500)


class PublishRequest(Strict):
    note: str = Field("", max_length=500)
    effective_from: str | None = Field(None, max_length=40, description="ISO date or date-time; empty = now")
    expires_at: str | None = Field(None, max_length=40, description="ISO date or date-time; empty = never")


class RollbackRequest(Strict):
    version: int = Field(ge=1, le=10**6)
    note: str = Field("", max_length=500)


class HitTestRequest(Strict):
    question: str = Field(min_length=1, max_length=500)
    draft: bool = True
    guide: str | None = Field(None, max_length=128, description="only this guide's draft; empty = every draft")


class EvaluateRequest(Strict):
    guide: str | None = Field(None, max_length=128)


class PreviewRequest(Strict):
    guide: dict[str, Any]
    items: list[Annotated[str, Field(max_length=128)]] = Field(default_factory=list, max_length=30)
    situation: dict[str, Annotated[str, Field(max_length=128)]] = Field(default_factory=dict, max_length=20)


class ResolveRequest(Strict):
    ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=500)
    action: Literal["example", "request", "dismiss"]
    guide: str | None = Field(None, max_length=128)
    question: str | None = Field(None, max_length=300)
    note: str = Field("", max_length=500)


def _flat(view: dict) -> dict:
    """A version as the schema's shape with `version` and the rest under `meta` (PUT it back as a draft)."""
    guide = view.get("guide") or {}
    meta = {k: v for k, v in view.items() if k not in ("guide", "name", "version")}
    return {**guide, "version": view.get("version"), "meta": meta}


# -- list, read ------------------------------------------------------------------------------------------------
@router.get("")
def list_guides(staff: GuideStaff, q: str = Query("", max_length=100),
                state: str = Query("", max_length=16)) -> dict:
    guides = store.list_guides(q, state)
    return {"guides": guides, "count": len(guides), "can_publish": store.can_publish(staff)}


@router.get("/export")
def export(staff: GuideStaff, format: Literal["yaml", "csv"] = "yaml", name: str | None = Query(None, max_length=128),
           source: Literal["published", "draft"] = "published") -> PlainTextResponse:
    if format == "csv":
        body = _call(transfer.export_csv, name, source)
        media, suffix = "text/csv; charset=utf-8", "csv"
    else:
        body = _call(transfer.export_yaml, name, source)
        media, suffix = "application/yaml; charset=utf-8", "yaml"
    filename = f"guides.{suffix}"
    return PlainTextResponse(body, media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                      "Cache-Control": "no-store"})


@router.post("/import")
async def import_guides(staff: GuideStaff, request: Request,
                        format: Literal["yaml", "csv"] = "yaml") -> dict:
    raw = await request.body()
    if len(raw) > MAX_UPLOAD:
        raise ApiError(422, "invalid_input", extra={"field": "file"}, reason="文件过大（最大5MB）")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(422, "invalid_input", extra={"field": "file"},
                       reason="文件应为UTF-8编码（Excel请另存为“CSV UTF-8”）") from exc
    fn = transfer.import_csv if format == "csv" else transfer.import_yaml
    import asyncio

    return await asyncio.to_thread(_call, fn, text, staff)


@router.post("/hit-test")
def hit_test(staff: GuideStaff, body: HitTestRequest) -> dict:
    return _call(hittest.hit_test, body.question, body.draft, body.guide)


@router.post("/evaluate")
def evaluate(staff: GuideStaff, body: EvaluateRequest) -> dict:
    return _call(hittest.evaluate, body.guide)


@router.post("/preview")
def preview(staff: GuideStaff, body: PreviewRequest) -> dict:
    """The one-time notice (text, spoken form, printable page) of a guide as edited, before it is saved."""
    guide, errors = field_errors(_content(body.guide))
    if guide is None:
        return {"valid": False, "errors": errors}
    answer = compose(parse_notice_query(guide, ",".join(body.items),
                                        ",".join(f"{k}:{v}" for k, v in body.situation.items())))
    return {"valid": True, "errors": [], "text": answer["text"], "speech": answer["speech"],
            "html": render_notice(answer), "data": answer["data"]}


def _content(body: object) -> object:
    """A guide as GET returns it, without what the store adds (version, meta): it can be sent back as it is."""
    return {k: v for k, v in body.items() if k not in ("version", "meta")} if isinstance(body, dict) else body


@router.get("/{name}")
def get_guide(staff: GuideStaff, name: Name) -> dict:
    return _flat(_call(store.get_published, name))


@router.get("/{name}/draft")
def get_draft(staff: GuideStaff, name: Name) -> dict:
    return _flat(_call(store.get_draft, name))


@router.put("/{name}/draft")
def put_draft(staff: GuideStaff, name: Name, body: Annotated[dict[str, Any], Body()],
              note: str = Query("", max_length=500)) -> dict:
    content = _content(body)
    return _flat(_call(store.save_draft, name, content, staff, note=note))


@router.delete("/{name}/draft")
def delete_draft(staff: GuideStaff, name: Name) -> dict:
    return _call(store.discard_draft, name, staff)


@router.post("/{name}/submit")
def submit(staff: GuideStaff, name: Name, body: SubmitRequest | None = None) -> dict:
    return _call(store.submit, name, staff, note=(body.note if body else ""))


@router.post("/{name}/publish")
def publish(staff: GuideStaff, name: Name, body: PublishRequest | None = None) -> dict:
    body = body or PublishRequest()
    published = _call(store.publish, name, staff, note=body.note, effective_from=body.effective_from,
                      expires_at=body.expires_at)
    _refresh_soon()
    return published


@router.get("/{name}/notice")
def notice_page(staff: GuideStaff, name: Name, source: Literal["published", "draft"] = "published",
                items: str = Query("", max_length=1000), situation: str = Query("", max_length=500)) -> HTMLResponse:
    """The printable one-time notice of the draft (or published version) exactly as callers would get it."""
    view = _call(store.get_draft if source == "draft" else store.get_published, name)
    guide, errors = field_errors(view["guide"])
    if guide is None:
        raise ApiError(422, "guide_invalid", extra={"errors": errors}, reason="草稿未通过校验")
    answer = compose(parse_notice_query(guide, items, situation))
    return HTMLResponse(render_notice(answer), headers={
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
        "Cache-Control": "no-store"})


@router.get("/{name}/versions")
def versions(staff: GuideStaff, name: Name) -> dict:
    return _call(store.versions_of, name)


@router.get("/{name}/versions/{number}")
def version(staff: GuideStaff, name: Name, number: Annotated[int, PathParam(ge=1, le=10**6)]) -> dict:
    return _flat(_call(store.get_version, name, number))


@router.get("/{name}/diff")
def diff(staff: GuideStaff, name: Name, from_: str = Query(alias="from", max_length=16),
         to: str = Query("draft", max_length=16)) -> dict:
    return _call(store.diff, name, from_, to)


@router.post("/{name}/rollback")
def rollback(staff: GuideStaff, name: Name, body: RollbackRequest) -> dict:
    rolled = _call(store.rollback, name, body.version, staff, note=body.note)
    _refresh_soon()
    return rolled


# -- the unanswered-question queue ---------------------------------------------------------------------------------
@queue_router.get("")
def unanswered_groups(staff: GuideStaff, status: str = Query("open", max_length=16),
                      limit: int = Query(100, ge=1, le=500)) -> dict:
    groups = _call(unanswered.groups, status, limit)
    return {"groups": groups, "count": len(groups), "questions": sum(g["count"] for g in groups)}


@queue_router.post("/resolve")
def unanswered_resolve(staff: GuideStaff, body: ResolveRequest) -> dict:
    return _call(unanswered.resolve, body.ids, body.action, staff, guide=body.guide, question=body.question,
                 note=body.note)
