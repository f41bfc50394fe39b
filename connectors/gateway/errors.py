"""Every error answer is {"detail": {"code", "message"}} with a Chinese / English message: 4xx for the request, 503 when
a dependency (the dialogue engine, the database) is out of reach."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import DomainError

log = logging.getLogger("hotline.gateway")

MESSAGES = {
    "empty_message": "消息内容不能为空 / The message must not be empty",
    "message_too_long": "消息过长，请精简到{limit}字以内 / The message is longer than {limit} characters",
    "invalid_json": "请求格式错误，请发送JSON / The request body is not valid JSON (or nests too deeply, or has an overlong number)",
    "invalid_encoding": "请求内容无法解析，请发送UTF-8编码的JSON / The body is not UTF-8 encoded JSON",
    "invalid_request": "请求字段有误：{fields} / Invalid or missing fields: {fields}",
    "rate_limited": "您发送得太快了，请稍等{seconds}秒再试 / Too many messages; retry in {seconds} s",
    "dialogue_unavailable": "系统暂时繁忙，请稍后再试，或直接拨打12345 / The assistant is temporarily unavailable",
    "database_unavailable": "系统暂时繁忙，请稍后再试，或直接拨打12345 / The database is temporarily unreachable",
    "index_unavailable": "知识库索引尚未就绪，请稍后再试 / The knowledge index is not ready yet",
    "guide_not_found": "没有找到该办事指南 / No such service guide",
    "not_found": "没有找到该页面 / Not found",
    "method_not_allowed": "不支持该请求方法 / Method not allowed",
    # conversation ownership (core/senders.py): a sender id without its token
    "sender_forbidden": "该对话不属于您，请开始新的对话 / This conversation is not yours: start a new one "
                        "(omit sender) or send the token issued with it",
    # staff accounts (connectors/gateway/auth.py, routers/staff.py)
    "not_authenticated": "请先登录工作人员账号 / Staff login required",
    "forbidden": "您的账号无权进行此操作 / Your account is not allowed to do this",
    "csrf_failed": "安全校验失败，请刷新页面后重试 / Missing or wrong X-CSRF-Token header",
    "invalid_credentials": "用户名或密码错误，或账号暂时无法登录 / Wrong username or password, or the account cannot log in now",
    # human handoff (connectors/agent/api.py maps core.handoff errors here); {reason} is the domain's Chinese text
    "handoff_not_found": "{reason} / Not found (conversation, agent or value)",
    "handoff_not_allowed": "{reason} / Not allowed for this account",
    "not_holder": "{reason} / Only the agent holding the conversation (or a supervisor) may do this",
    "already_claimed": "{reason} / Another agent holds this conversation",
    "invalid_state": "{reason} / Not possible in the conversation's current state",
    "capacity_reached": "{reason} / The agent already holds the maximum number of conversations",
    "agent_unavailable": "{reason} / The agent is not on duty",
    "invalid_input": "{reason} / A value was refused",
    # guide editor (connectors/editor/api.py maps core.guides errors here)
    "guide_missing": "{reason} / Not found (guide, version, draft or queued question)",
    "guide_invalid": "{reason} / The guide does not pass the schema; see `errors` (field, message)",
    "guide_state": "{reason} / Not possible in the guide's current state",
    "guide_not_allowed": "{reason} / Needs the reviewer right (supervisor or admin), or another reviewer",
    # ratings (好差评), follow-ups and appeals (connectors/gateway/routers/ratings.py, connectors/dashboard/api.py)
    "invalid_rating": "{reason} / The rating or a value in it was refused",
    "already_rated": "{reason} / This conversation or case was already rated",
    "rating_subject_not_found": "{reason} / No such conversation, or no such application or ticket of this sender",
    "rating_not_found": "{reason} / No such rating, follow-up or appeal",
    "rating_not_allowed": "{reason} / Not allowed for this account",
    "invalid_date_range": "{reason} / Bad date range (from, to: YYYY-MM-DD)",
    "unknown_figure": "没有这个图表：{figure} / Unknown figure; one of: {figures}",
    # ticket desk (connectors/desk/api.py maps core.tickets.desk errors here)
    "ticket_not_found": "没有找到这个工单 / No such ticket",
    "ticket_invalid_state": "{reason} / Not possible in the ticket's current state (see `state`, `allowed`)",
    "ticket_invalid_input": "{reason} / A value was refused (see `field`)",
    "platform_not_configured": "{reason} / No 12345 ticket platform is configured (TICKET_PLATFORM_URL)",
    "platform_unavailable": "{reason} / The 12345 ticket platform did not answer; the ticket keeps its state",
    "platform_rejected": "{reason} / The 12345 ticket platform refused the request",
}


class ApiError(Exception):
    """A 4xx answer. `extra` adds machine-readable fields to `detail` (e.g. {"field": "wrap_up"})."""

    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None,
                 extra: dict[str, object] | None = None, **fmt: object) -> None:
        self.status, self.code, self.headers = status, code, headers or {}
        self.extra = dict(extra or {})
        self.message = MESSAGES[code].format(**fmt)
        super().__init__(self.message)


def from_domain(exc: DomainError, table: Iterable[tuple[type[DomainError], int, str]], default: tuple[int, str],
                keys: Iterable[str]) -> ApiError:
    """The answer to a core domain error (core/errors.py): status and code from the first (class, status, code)
    of `table` that `exc` is an instance of (subclasses first), else `default`; the detail fields named in `keys`
    as machine-readable fields; the domain's Chinese message as {reason}."""
    status, code = next(((s, c) for cls, s, c in table if isinstance(exc, cls)), default)
    keys = frozenset(keys)
    extra = {k: v for k, v in exc.detail.items()
             if k in keys and isinstance(v, (str, int, float, bool, list, dict, type(None)))}
    return ApiError(status, code, extra=extra, reason=exc.message.rstrip("。"))


def error_body(code: str, message: str) -> dict:
    return {"detail": {"code": code, "message": message}}


def install(app: FastAPI) -> None:
    from connectors.gateway import openapi

    openapi.install(app)  # the document shows this error shape for every route, not FastAPI's own

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        body = error_body(exc.code, exc.message)
        body["detail"].update({k: v for k, v in exc.extra.items() if k not in ("code", "message")})
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_unreachable(_: Request, exc: Exception) -> JSONResponse:
        # the database restarting or out of reach (not a bug in the request): the caller is asked to retry
        log.warning("database unreachable: %s", type(exc).__name__)
        return JSONResponse(error_body("database_unavailable", MESSAGES["database_unavailable"]), status_code=503,
                            headers={"Retry-After": "2"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            raw = getattr(exc, "body", None)
            code = "invalid_encoding" if isinstance(raw, bytes) and _not_utf8(raw) else "invalid_json"
            return JSONResponse(error_body(code, MESSAGES[code]), status_code=400)
        fields = ", ".join(sorted({".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in errors}))
        return JSONResponse(error_body("invalid_request", MESSAGES["invalid_request"].format(fields=fields)),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: _body_error_code(exc), 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = MESSAGES[code] if code else str(exc.detail)
        # headers such as `Allow` on 405 are part of the answer
        return JSONResponse(error_body(code or "http_error", message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))


def _body_error_code(exc: Exception) -> str:
    """FastAPI answers every unparsable body with one 400; the cause says which it was."""
    return "invalid_encoding" if isinstance(exc.__cause__, UnicodeDecodeError) else "invalid_json"


def _not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
