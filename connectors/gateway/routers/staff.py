"""Staff login, logout and "who am I" (docs/API.md, "Staff accounts"); accounts come from `python -m core.staff`."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from connectors.gateway.auth import CSRF_COOKIE, SESSION_COOKIE, CurrentStaff, client_address
from connectors.gateway.errors import ApiError
from connectors.gateway.ratelimit import client_key, limit
from connectors.gateway.schemas import ErrorResponse
from core.settings import get_settings
from core.staff import InvalidCredentials, StaffPrincipal, login, logout
from core.staff.roles import ROLES

router = APIRouter(tags=["staff"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    token: str = Field(description="session token for `Authorization: Bearer`; browser consoles use the cookie instead")
    role: str = Field(description="one of " + " ".join(ROLES))
    roles: list[str] = Field(description="every role this account may act as (role hierarchy)")
    expires_at: str = Field(description="ISO 8601, UTC")
    display_name: str = Field(description="name shown to callers (e.g. 坐席007); may be empty")
    csrf_token: str = Field(description="same value as the staff_csrf cookie: send it as X-CSRF-Token")


class MeResponse(BaseModel):
    id: int
    username: str
    role: str
    roles: list[str]
    display_name: str
    public_name: str = Field(description="what callers see: the display name, or 人工客服")
    expires_at: str | None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def _secure(request: Request) -> bool:
    mode = get_settings().staff_cookie_secure
    if mode in ("1", "true", "yes", "on"):
        return True
    if mode in ("0", "false", "no", "off"):
        return False
    return request.url.scheme == "https"


def _roles(principal: StaffPrincipal) -> list[str]:
    return [role for role in ROLES if role in principal.roles]


@router.post("/api/staff/login", response_model=LoginResponse,
             responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}})
async def staff_login(body: LoginRequest, request: Request) -> JSONResponse:
    """Open a session. Unknown user, wrong password, disabled or locked account: the same 401 `invalid_credentials`."""
    limit(request, "staff_login_limiter", get_settings().staff_login_per_minute, client_key(client_address(request)))
    try:
        new = await asyncio.to_thread(login, body.username, body.password, client=client_address(request))
    except InvalidCredentials as exc:
        raise ApiError(401, "invalid_credentials") from exc
    principal = new.principal
    payload = LoginResponse(token=new.token, role=principal.role, roles=_roles(principal),
                            expires_at=_iso(new.expires_at), display_name=principal.display_name,
                            csrf_token=new.csrf_token)
    response = JSONResponse(payload.model_dump(), headers=NO_STORE)
    max_age = max(1, int((new.expires_at - datetime.now(timezone.utc)).total_seconds()))
    secure = _secure(request)
    response.set_cookie(SESSION_COOKIE, new.token, max_age=max_age, path="/", secure=secure, httponly=True,
                        samesite="strict")
    response.set_cookie(CSRF_COOKIE, new.csrf_token, max_age=max_age, path="/", secure=secure, httponly=False,
                        samesite="strict")
    return response


@router.post("/api/staff/logout", responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}})
async def staff_logout(staff: CurrentStaff, request: Request) -> JSONResponse:
    """End this session (the token stops working at once, in every gateway process) and clear the cookies."""
    await asyncio.to_thread(logout, staff, client=client_address(request))
    response = JSONResponse({"logged_out": True}, headers=NO_STORE)
    secure = _secure(request)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, httponly=False, samesite="strict")
    return response


@router.get("/api/staff/me", response_model=MeResponse, responses={401: {"model": ErrorResponse}})
def staff_me(staff: CurrentStaff) -> JSONResponse:
    """Who is logged in, with every role the account may act as; consoles build their menus from `roles`."""
    body = MeResponse(id=staff.staff_id, username=staff.username, role=staff.role, roles=_roles(staff),
                      display_name=staff.display_name, public_name=staff.public_name,
                      expires_at=_iso(staff.expires_at))
    return JSONResponse(body.model_dump(), headers=NO_STORE)
