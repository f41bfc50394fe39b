"""Staff authentication and authorisation for every staff route of the gateway (docs/API.md, "Staff accounts").

Use in a router:

    from connectors.gateway.auth import CurrentStaff, require_role

    @router.get("/api/agent/queue")
    def queue(staff: Annotated[StaffPrincipal, Depends(require_role("agent"))]): ...   # agent, supervisor, admin

    @router.get("/api/staff/me")
    def me(staff: CurrentStaff): ...                                                    # any logged-in staff

How a request proves who it is:

* `Authorization: Bearer <session token>` from `POST /api/staff/login` (scripts, non-browser clients), or
* the HttpOnly `staff_session` cookie set at login (browser consoles). With the cookie, every state-changing
  request (anything but GET, HEAD, OPTIONS) must also send the header `X-CSRF-Token` equal to the readable
  `staff_csrf` cookie (double submit; the value is also bound to the session). A WebSocket authenticated by
  the cookie must come from a page of the same origin (its `Origin` header is checked).
* Only where a route opts in with `require_role(..., allow_service_token=True)`: the automation token
  `ADMIN_TOKEN` as `Authorization: Bearer` or `X-Admin-Token` (acts as admin, logged as `admin-api`).

No or an invalid/expired/revoked session -> 401 `not_authenticated`; a role that is not enough -> 403
`forbidden`; cookie without the right CSRF header -> 403 `csrf_failed`. On WebSockets the same codes close
the handshake with 1008 (policy violation) and the code as reason.

Every route whose path starts with one of STAFF_PATH_PREFIXES must depend on `current_staff` (directly or
through `require_role`); tests/unit/test_staff_routes_guarded.py walks the app and calls each such route
anonymously and with a wrong role, so a new staff route cannot forget its guard. The only exceptions are
listed in PUBLIC_STAFF_ROUTES (the login itself, and the static console page that shows the login form).
"""

import hmac
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import WebSocketException
from fastapi.routing import APIWebSocketRoute
from fastapi.security import APIKeyCookie, HTTPBearer
from starlette.requests import HTTPConnection
from starlette.routing import Mount, WebSocketRoute
from starlette.websockets import WebSocket

from connectors.gateway.errors import ApiError
from core.settings import get_settings
from core.staff import StaffPrincipal, csrf_matches, has_role, resolve_session
from core.staff.roles import ROLES, required_roles

STAFF_PATH_PREFIXES: tuple[str, ...] = (
    "/api/staff", "/api/admin", "/api/agent", "/api/editor", "/api/supervisor", "/agent", "/editor", "/dashboard",
    "/ws/agent", "/api/guides", "/api/unanswered",
    "/api/dashboard", "/api/followups",     # supervisor dashboard (connectors/dashboard)
    "/staff",                               # the consoles' shared script and styles (connectors/staff)
)
# The login, and the agent console's page and its script/styles (no data in them; the page logs in itself).
PUBLIC_STAFF_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/api/staff/login"), ("GET", "/agent"), ("GET", "/agent/static/{name}"),
    ("GET", "/editor"), ("GET", "/editor/static/{name}"),
    ("GET", "/dashboard"), ("GET", "/dashboard/static/{name}"),
    ("GET", "/agent/tickets"), ("GET", "/agent/tickets/static/{name}"),     # ticket desk page (connectors/desk)
    ("GET", "/staff/static/{name}"),        # staff.js / staff.css, loaded by every console page
})

SESSION_COOKIE = "staff_session"
CSRF_COOKIE = "staff_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SERVICE_PRINCIPAL = StaffPrincipal(staff_id=None, username="admin-api", role="admin", via="service")


def is_staff_path(path: str) -> bool:
    """True for /api/admin and /api/admin/..., not for /api/administrator."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in STAFF_PATH_PREFIXES)


# -- reading the credentials (also documents them in the OpenAPI schema, so /docs has an Authorize button) ----
class _BearerScheme(HTTPBearer):
    async def __call__(self, conn: HTTPConnection) -> str | None:  # type: ignore[override]
        scheme, _, value = (conn.headers.get("authorization") or "").partition(" ")
        return (value.strip() or None) if scheme.lower() == "bearer" else None


class _CookieScheme(APIKeyCookie):
    async def __call__(self, conn: HTTPConnection) -> str | None:  # type: ignore[override]
        return conn.cookies.get(SESSION_COOKIE) or None


bearer_scheme = _BearerScheme(scheme_name="StaffBearer", auto_error=False,
                              description="session token from POST /api/staff/login")
cookie_scheme = _CookieScheme(name=SESSION_COOKIE, scheme_name="StaffCookie", auto_error=False,
                              description="browser consoles; state-changing requests also need X-CSRF-Token")


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def _deny(conn: HTTPConnection, status: int, code: str) -> Exception:
    if isinstance(conn, WebSocket) or conn.scope.get("type") == "websocket":
        return WebSocketException(code=1008, reason=code)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ApiError(status, code, headers=headers)


def _is_service_token(given: str | None) -> bool:
    expected = get_settings().admin_token
    return bool(expected and given) and hmac.compare_digest(given.encode(), expected.encode())


def _same_origin(conn: HTTPConnection) -> bool:
    origin, host = conn.headers.get("origin"), conn.headers.get("host")
    if not origin or not host:
        return False
    scheme = {"ws": "http", "wss": "https"}.get(conn.url.scheme, conn.url.scheme)
    return origin.rstrip("/").lower() == f"{scheme}://{host}".lower()


def _check_csrf(conn: HTTPConnection, principal: StaffPrincipal) -> None:
    if conn.scope.get("type") == "websocket":
        if not _same_origin(conn):
            raise _deny(conn, 403, "csrf_failed")
        return
    if conn.scope.get("method", "GET") in SAFE_METHODS:
        return
    header, cookie = conn.headers.get(CSRF_HEADER), conn.cookies.get(CSRF_COOKIE)
    if not (header and cookie and hmac.compare_digest(header.encode(), cookie.encode())
            and csrf_matches(principal, header)):
        raise _deny(conn, 403, "csrf_failed")


def _authenticate(conn: HTTPConnection, bearer: str | None, cookie: str | None, service_ok: bool) -> StaffPrincipal:
    if bearer is not None:
        if service_ok and _is_service_token(bearer):
            return SERVICE_PRINCIPAL
        principal = resolve_session(bearer, via="bearer")
        if principal is None:
            raise _deny(conn, 401, "not_authenticated")
        return principal
    legacy = conn.headers.get("x-admin-token")
    if service_ok and legacy:
        if _is_service_token(legacy):
            return SERVICE_PRINCIPAL
        raise _deny(conn, 401, "not_authenticated")
    if cookie:
        principal = resolve_session(cookie, via="cookie")
        if principal is None:
            raise _deny(conn, 401, "not_authenticated")
        _check_csrf(conn, principal)
        return principal
    raise _deny(conn, 401, "not_authenticated")


# -- the dependencies ----------------------------------------------------------------------------------------
def current_staff(conn: HTTPConnection, bearer: Annotated[str | None, Depends(bearer_scheme)],
                  cookie: Annotated[str | None, Depends(cookie_scheme)]) -> StaffPrincipal:
    """The logged-in staff member (session token or cookie); 401 `not_authenticated` otherwise."""
    return _authenticate(conn, bearer, cookie, service_ok=False)


def current_staff_or_service(conn: HTTPConnection, bearer: Annotated[str | None, Depends(bearer_scheme)],
                             cookie: Annotated[str | None, Depends(cookie_scheme)]) -> StaffPrincipal:
    """Like current_staff, but the ADMIN_TOKEN service token is accepted too (automation)."""
    return _authenticate(conn, bearer, cookie, service_ok=True)


AUTH_DEPENDENCIES: tuple[Callable[..., StaffPrincipal], ...] = (current_staff, current_staff_or_service)

CurrentStaff = Annotated[StaffPrincipal, Depends(current_staff)]


def require_role(*roles: str, allow_service_token: bool = False) -> Callable[..., StaffPrincipal]:
    """A dependency admitting staff who have any of `roles` (hierarchy in core/staff/roles.py); 403 otherwise.

    `allow_service_token=True` also admits the ADMIN_TOKEN automation token; use it only for routes that
    automation really needs. An unknown role name raises ValueError when the route is defined.
    """
    wanted = required_roles(roles)
    base = current_staff_or_service if allow_service_token else current_staff

    async def dependency(conn: HTTPConnection,
                         principal: Annotated[StaffPrincipal, Depends(base)]) -> StaffPrincipal:
        if principal.via == "service" or has_role(principal, wanted):
            return principal
        raise _deny(conn, 403, "forbidden")

    dependency.__name__ = dependency.__qualname__ = "require_role_" + "_or_".join(wanted)
    dependency.staff_roles = wanted                       # read by the route-guard test
    dependency.allows_service_token = allow_service_token
    return dependency


AgentStaff = Annotated[StaffPrincipal, Depends(require_role("agent"))]
SupervisorStaff = Annotated[StaffPrincipal, Depends(require_role("supervisor"))]
EditorStaff = Annotated[StaffPrincipal, Depends(require_role("editor"))]
AdminStaff = Annotated[StaffPrincipal, Depends(require_role("admin"))]


# -- which routes are guarded (used by tests/unit/test_staff_routes_guarded.py) -------------------------------
@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: tuple[str, ...]          # HTTP methods, or ("WEBSOCKET",), or ("MOUNT",) for mounted apps
    dependant: Dependant | None       # None for routes FastAPI does not manage (plain Starlette, mounts)


def app_routes(app: FastAPI) -> Iterator[RouteInfo]:
    """Every route of `app` as served, with the prefixes and dependencies of included routers applied."""
    try:
        from fastapi.routing import iter_route_contexts    # FastAPI >= 0.130: included routers stay lazy
        contexts = [getattr(ctx, "starlette_route", None) or ctx for ctx in iter_route_contexts(app.routes)]
    except ImportError:                                     # older FastAPI flattens included routers
        contexts = list(app.routes)
    for route in contexts:
        original = getattr(route, "original_route", route)
        if isinstance(original, Mount) or isinstance(route, Mount):
            methods: tuple[str, ...] = ("MOUNT",)
        elif isinstance(original, (APIWebSocketRoute, WebSocketRoute)):
            methods = ("WEBSOCKET",)
        else:
            methods = tuple(sorted(getattr(route, "methods", None) or ()))
        yield RouteInfo(path=getattr(route, "path", ""), methods=methods, dependant=getattr(route, "dependant", None))


def staff_routes(app: FastAPI) -> Iterator[RouteInfo]:
    """Every route under STAFF_PATH_PREFIXES, minus the methods listed in PUBLIC_STAFF_ROUTES."""
    for info in app_routes(app):
        if not is_staff_path(info.path):
            continue
        methods = tuple(m for m in info.methods if (m, info.path) not in PUBLIC_STAFF_ROUTES)
        if methods:
            yield RouteInfo(info.path, methods, info.dependant)


def dependency_calls(dependant: Dependant | None) -> list[Callable]:
    """Every callable in a dependency tree, depth first."""
    calls: list[Callable] = []
    for sub in dependant.dependencies if dependant is not None else ():
        if sub.call is not None:
            calls.append(sub.call)
        calls.extend(dependency_calls(sub))
    return calls


def route_guard(info: RouteInfo) -> tuple[bool, tuple[str, ...]]:
    """(depends on an auth dependency, roles required by require_role; () = any logged-in staff)."""
    calls = dependency_calls(info.dependant)
    roles = next((tuple(call.staff_roles) for call in calls if getattr(call, "staff_roles", None)), ())
    return any(call in AUTH_DEPENDENCIES for call in calls), roles


def unguarded_staff_routes(app: FastAPI) -> list[str]:
    return [f"{','.join(info.methods)} {info.path}" for info in staff_routes(app) if not route_guard(info)[0]]


def roles_without(required: Iterable[str]) -> list[str]:
    """Roles that do not satisfy `required` (to test a 403); [] when any logged-in staff may call."""
    wanted = tuple(required)
    return [role for role in ROLES if not has_role(role, wanted)] if wanted else []
