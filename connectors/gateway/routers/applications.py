"""Applications API (docs/API.md): submit a one-table application, verified status, printable form, staff.

Validation is the same as in the conversation (core/validators.py via core/application_forms.py),
and so are idempotency, receipt numbers and the enumeration lock (core/applications.py).
"""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from connectors.gateway.auth import client_address, require_role
from connectors.gateway.errors import MESSAGES, ApiError, error_body
from connectors.gateway.ratelimit import client_key, limit
from connectors.gateway.schemas import SENDER_PATTERN, TOKEN_PATTERN, ErrorResponse
from core import applications as service
from core import senders
from core.application_forms import UnknownItems, form_for
from core.db import session_scope
from core.settings import get_settings
from core.staff import StaffPrincipal, audit
from core.status_sources import STATUSES, application_view

MESSAGES.update({
    "form_unavailable": "该事项暂不支持在线一表申请，请到窗口办理 / This service cannot be applied for online",
    "unknown_items": "申请事项不属于该一件事：{items} / Items not covered by this service: {items}",
    "invalid_fields": "申请信息有误，请按提示修改 / Some fields are invalid",
    "application_not_found": "未找到与该受理编号和验证信息相符的办件 / No application matches this number and verification",
    "verification_locked": "验证失败次数过多，请{minutes}分钟后再试 / Too many failed verifications; retry in {minutes} min",
    "status_unavailable": "办件进度查询系统暂时无法连接，请稍后再试 / The status source is unavailable",
    "invalid_transition": "{reason} / Transition not allowed",
    "application_error": "{reason} / The application could not be saved",
})

router = APIRouter(tags=["applications"])
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
                        autoescape=select_autoescape(["html"]))
ERRORS = {403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
          429: {"model": ErrorResponse}}


def _client(request: Request) -> str:
    """The caller's address as the chat counts it (IPv6 per /64), keyed (core/senders.py): never stored in clear,
    and a status check through the chat and through this API counts on the same verification locks."""
    return senders.client_tag(client_key(client_address(request)))


# -- shapes -------------------------------------------------------------------------------------------------
class ApplicationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    guide: str = Field(min_length=1, max_length=128, description="exact guide name, e.g. 新生儿出生一件事")
    items: list[str] = Field(default_factory=list, max_length=30, description="covered items chosen; empty = all")
    data: dict[str, Any] = Field(default_factory=dict, max_length=100, description="field -> value (GET /api/forms/{guide})")
    sender: str | None = Field(None, pattern=SENDER_PATTERN,
                               description="a conversation of this client (from POST /api/chat or /api/chat/session)")
    token: str | None = Field(None, pattern=TOKEN_PATTERN, description="the token issued with `sender` (required with it)")
    channel: str = Field("web", pattern=r"^[a-z0-9_\-]{1,32}$")


class StatusItem(BaseModel):
    name: str
    status: str
    note: str = ""
    due: str | None = None


class StatusResponse(BaseModel):
    number: str
    guide: str = ""
    overall: str
    items: list[StatusItem]
    submitted_at: str | None = None
    updated_at: str | None = None


class SubmittedResponse(BaseModel):
    number: str
    guide: str
    items: list[str]
    status: str
    created: bool = Field(description="false when this repeats an earlier submission (same content or key)")
    print_url: str
    next_steps: dict[str, Any]


class AdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(description="one of " + " ".join(STATUSES))
    item: str | None = Field(None, max_length=128, description="covered item; omit for every item")
    note: str = Field("", max_length=1000, description="what to supply (required for 需补正)")
    due: date | None = Field(None, description="deadline for 需补正, YYYY-MM-DD (default: 10 days)")


# -- the merged form ----------------------------------------------------------------------------------------
@router.get("/api/forms/{guide}", responses=ERRORS)
def form_definition(guide: str, items: list[str] = Query(default=[])) -> dict[str, Any]:
    """The one-table form of a guide for the chosen items: each field once, with type, rule and who needs it."""
    try:
        found = service.get_guide(guide)
        return form_for(found, items).as_dict()
    except service.UnknownGuide as exc:
        raise ApiError(404, "guide_not_found") from exc
    except UnknownItems as exc:
        raise ApiError(422, "unknown_items", items="、".join(exc.unknown)) from exc


# -- submission ---------------------------------------------------------------------------------------------
@router.post("/api/applications", status_code=201, response_model=SubmittedResponse, responses=ERRORS)
def submit(body: ApplicationRequest, request: Request,
           idempotency_key: str | None = Header(None, max_length=128)) -> JSONResponse:
    limit(request, "applications_limiter", get_settings().rate_limit_per_minute, client_key(client_address(request)))
    # the application joins a conversation only its owner names (as in the chat): a repeat is answered with the
    # first application's receipt and printable form, so nobody else may replay it under that conversation
    if body.sender is not None and not senders.owns(body.sender, body.token):
        raise ApiError(403, "sender_forbidden")
    sender = body.sender or _client(request)
    try:
        sub = service.create_application(guide=body.guide, items=body.items, data=body.data, channel=body.channel,
                                         sender=sender, idempotency_key=idempotency_key)
    except service.InvalidApplication as exc:
        fields = [{"field": k, "label": exc.form.get(k).label if exc.form.get(k) else k, "message": v}
                  for k, v in exc.errors.items()]
        body_json = error_body("invalid_fields", MESSAGES["invalid_fields"])
        body_json["detail"]["fields"] = fields
        return JSONResponse(body_json, status_code=422)
    except service.UnknownGuide as exc:
        code = "form_unavailable" if "不支持" in exc.message else "guide_not_found"
        raise ApiError(404 if code == "guide_not_found" else 422, code) from exc
    except UnknownItems as exc:
        raise ApiError(422, "unknown_items", items="、".join(exc.unknown)) from exc
    except service.ApplicationError as exc:
        raise ApiError(503, "application_error", reason=exc.message) from exc
    payload = SubmittedResponse(number=sub.view["number"], guide=sub.view["guide"],
                                items=[i["name"] for i in sub.view["items"]], status=sub.view["overall"],
                                created=sub.created, print_url=sub.print_url, next_steps=sub.next_steps)
    return JSONResponse(payload.model_dump(), status_code=201 if sub.created else 200)


# -- verified status ----------------------------------------------------------------------------------------
def _verified(number: str, verify: str, request: Request) -> dict[str, Any]:
    outcome = service.check_status(number, verify, requester=_client(request))
    if outcome.result == "locked":
        minutes = max(1, (outcome.retry_after + 59) // 60)
        raise ApiError(429, "verification_locked", headers={"Retry-After": str(outcome.retry_after)}, minutes=minutes)
    if outcome.result == "unavailable":
        raise ApiError(503, "status_unavailable")
    if outcome.result != "ok":
        raise ApiError(404, "application_not_found")
    return outcome.view


@router.get("/api/applications/{number}", response_model=StatusResponse, responses=ERRORS)
def status(number: str, request: Request,
           verify: str = Query(min_length=4, max_length=18,
                               description="last 4 digits of the phone or last 6 characters of the ID number")
           ) -> StatusResponse:
    """Status of each covered item and overall; 404 alike for an unknown number or a wrong factor."""
    return StatusResponse.model_validate(_verified(number[:64], verify, request))


@router.get("/api/applications/{number}/form", response_class=HTMLResponse, responses=ERRORS)
def printable(number: str, request: Request, token: str | None = Query(None, max_length=128),
              verify: str | None = Query(None, max_length=18)) -> HTMLResponse:
    """The filled application form to print and sign: the token from the receipt, or number + verification."""
    app = service.get_application(number[:64])
    if app is None or not service.print_token_ok(app, token):
        if not verify:
            raise ApiError(404, "application_not_found")
        _verified(number[:64], verify, request)
        app = service.get_application(number[:64])
        if app is None:
            raise ApiError(404, "application_not_found")
    html = render_form(app)
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                       "X-Robots-Tag": "noindex"})


def render_form(app) -> str:
    from core.validators import TZ

    rows = []
    try:
        form = form_for(service.get_guide(app.guide), app.items)
        labels = {f.field: (f.label, f.type) for f in form.fields}
    except (service.ApplicationError, UnknownItems):
        labels = {}
    for key, value in (app.data or {}).items():
        label, kind = labels.get(key, (key, "text"))
        if kind == "date" and value:
            try:
                d = date.fromisoformat(value)
                value = f"{d.year}年{d.month}月{d.day}日"
            except ValueError:
                pass
        rows.append({"label": label, "value": value or "（不填）"})
    created = app.created_at
    if created is not None and created.tzinfo is None:
        from datetime import timezone
        created = created.replace(tzinfo=timezone.utc)
    view = application_view(app)
    return TEMPLATES.get_template("application_form.html").render(
        number=app.number, guide=app.guide, items=view["items"], rows=rows, channel=app.channel,
        created=created.astimezone(TZ).strftime("%Y年%m月%d日 %H:%M") if created else "",
    )


# -- staff --------------------------------------------------------------------------------------------------
# Supervisors and admins (staff session, connectors/gateway/auth.py), or automation with ADMIN_TOKEN.
StaffActor = Annotated[StaffPrincipal, Depends(require_role("supervisor", allow_service_token=True))]
STAFF_ERRORS = {401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}}


@router.get("/api/admin/applications/{number}", response_model=StatusResponse, responses=STAFF_ERRORS)
def admin_show(number: str, staff: StaffActor) -> StatusResponse:
    app = service.get_application(number[:64])
    if app is None:
        raise ApiError(404, "not_found")
    return StatusResponse.model_validate(application_view(app))


@router.post("/api/admin/applications/{number}/advance", response_model=StatusResponse,
             responses={**STAFF_ERRORS, 409: {"model": ErrorResponse}})
def admin_advance(number: str, body: AdvanceRequest, staff: StaffActor) -> StatusResponse:
    """Move one item (or all) through the life cycle; 需补正 needs a note (what to supply) and takes a due date."""
    try:
        view = service.advance(number[:64], body.status, item=body.item, note=body.note, due=body.due,
                               actor=staff.actor)
    except service.NotFound as exc:
        raise ApiError(404, "not_found") from exc
    except service.TransitionError as exc:
        raise ApiError(409 if body.status in STATUSES else 422, "invalid_transition", reason=exc.message) from exc
    with session_scope() as session:
        audit(session, staff.staff_id, "application.advance", "application", view["number"], via=staff.via,
              status=body.status, item=body.item)
    return StatusResponse.model_validate(view)
