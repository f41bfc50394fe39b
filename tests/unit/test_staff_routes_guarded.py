"""Every staff route of the real gateway is guarded, and the staff login / logout / me API with its cookie rules.

The walk below finds every route whose path starts with a staff prefix (connectors/gateway/auth.py,
STAFF_PATH_PREFIXES), checks that its dependency tree contains the auth dependency, and calls it anonymously
(401) and with a role that is not enough (403). A new staff route that forgets `require_role` / `CurrentStaff`
fails here.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, WebSocket
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from sqlalchemy import select

from connectors.gateway import auth, errors
from core.db import session_scope
from core.models import ApplicationEvent
from core.settings import get_settings
from core.staff import ROLES, StaffPrincipal, audit_entries, has_role, set_disabled
from tests.staff_fixtures import PASSWORD, SERVICE_TOKEN, make_staff, staff_client, staff_db  # noqa: F401


def dependency_calls(dependant) -> list:
    """Every callable in the dependency tree (checked here independently of auth.route_guard)."""
    calls = []
    for sub in dependant.dependencies if dependant is not None else ():
        calls.append(sub.call)
        calls.extend(dependency_calls(sub))
    return calls


def staff_routes(app: FastAPI) -> list[tuple[auth.RouteInfo, str]]:
    """(route, method) for every served route under a staff prefix, except the public login.

    auth.app_routes lists routes as served (included routers resolved with their prefixes and dependencies);
    the prefix filter and the public exceptions are applied here again.
    """
    found = []
    for info in auth.app_routes(app):
        if any(info.path == p or info.path.startswith(p + "/") for p in auth.STAFF_PATH_PREFIXES):
            found += [(info, m) for m in info.methods if (m, info.path) not in auth.PUBLIC_STAFF_ROUTES]
    return found


def required_roles(route) -> tuple[str, ...]:
    for call in dependency_calls(route.dependant):
        if getattr(call, "staff_roles", None):
            return call.staff_roles
    return ()


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_staff_prefixes_are_matched_by_path_segment():
    assert auth.is_staff_path("/api/admin") and auth.is_staff_path("/api/admin/applications/x")
    assert auth.is_staff_path("/agent") and auth.is_staff_path("/dashboard/live")
    assert not auth.is_staff_path("/api/administrator") and not auth.is_staff_path("/agents")
    assert not auth.is_staff_path("/api/applications") and not auth.is_staff_path("/static/x.js")


def test_every_staff_route_depends_on_the_auth_dependency(staff_client):
    routes = staff_routes(staff_client.app)
    paths = {route.path for route, _ in routes}
    assert {"/api/staff/me", "/api/staff/logout", "/api/admin/applications/{number}",
            "/api/admin/applications/{number}/advance"} <= paths, "the walk itself finds the known staff routes"
    assert "/api/staff/login" not in paths
    unguarded = [f"{method} {route.path}" for route, method in routes
                 if not any(call in auth.AUTH_DEPENDENCIES for call in dependency_calls(route.dependant))]
    assert not unguarded, f"staff routes without the auth dependency: {unguarded}"
    assert auth.unguarded_staff_routes(staff_client.app) == []


def test_every_staff_route_refuses_anonymous_and_wrong_role_callers(staff_client, make_staff):
    users = {role: make_staff(role) for role in ROLES}
    checked = 0
    for route, method in staff_routes(staff_client.app):
        path = concrete(route.path)
        roles = required_roles(route)
        wrong = [r for r in ROLES if roles and not has_role(r, roles)]
        if method == "WEBSOCKET":
            for headers in [{}, users[wrong[0]].headers] if wrong else [{}]:
                with pytest.raises(WebSocketDisconnect) as closed:
                    with staff_client.websocket_connect(path, headers=headers) as ws:
                        ws.receive_text()
                assert closed.value.code == 1008, path
            checked += 1
            continue
        assert method != "MOUNT", f"{path}: a mounted app under a staff prefix cannot be guarded; list it as public"
        anonymous = staff_client.request(method, path)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        if method != "HEAD":
            assert anonymous.json()["detail"]["code"] == "not_authenticated", (method, path)
        forged = staff_client.request(method, path, headers={"Authorization": "Bearer stf_forged"})
        assert forged.status_code == 401, (method, path)
        staff_client.cookies.set(auth.SESSION_COOKIE, "stf_forged")
        assert staff_client.request(method, path).status_code == 401, (method, path)
        staff_client.cookies.clear()
        for role in wrong:
            refused = staff_client.request(method, path, headers=users[role].headers)
            assert refused.status_code == 403, (method, path, role, refused.text)
            if method != "HEAD":
                assert refused.json()["detail"]["code"] == "forbidden"
        checked += 1
    assert checked == len(staff_routes(staff_client.app)) and checked >= 20  # every route, the agent console's too


def test_the_walk_catches_a_forgotten_guard(staff_db):
    app = FastAPI()
    errors.install(app)

    @app.get("/api/agent/queue")
    def forgotten():
        return []

    @app.get("/api/agent/guarded")
    def guarded(staff: Annotated[StaffPrincipal, Depends(auth.require_role("agent"))]):
        return []

    @app.get("/api/agents-public")
    def not_staff():
        return []

    # an included router: guarded by the dependencies given at include time, or not at all
    editor = APIRouter()

    @editor.post("/guides")
    def save_guide():
        return {}

    app.include_router(editor, prefix="/api/editor", dependencies=[Depends(auth.require_role("editor"))])
    loose = APIRouter()

    @loose.get("/live")
    def live():
        return {}

    app.include_router(loose, prefix="/dashboard")
    app.mount("/agent/static", StaticFiles(directory=Path(__file__).parent))

    assert auth.unguarded_staff_routes(app) == ["GET /api/agent/queue", "GET /dashboard/live", "MOUNT /agent/static"]
    walked = {r.path: r for r, _ in staff_routes(app)}
    assert set(walked) == {"/api/agent/queue", "/api/agent/guarded", "/api/editor/guides", "/dashboard/live",
                           "/agent/static"}
    assert required_roles(walked["/api/agent/guarded"]) == ("agent",)
    assert required_roles(walked["/api/editor/guides"]) == ("editor",)
    client = TestClient(app)
    assert client.post("/api/editor/guides").status_code == 401


def test_require_role_refuses_unknown_role_names():
    with pytest.raises(ValueError):
        auth.require_role("agnet")


# -- login, me, logout ---------------------------------------------------------------------------------------
def test_login_me_logout(staff_client, make_staff):
    make_staff("agent", username="zhang", display_name="坐席007")
    r = staff_client.post("/api/staff/login", json={"username": "Zhang", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token", "role", "roles", "expires_at", "display_name", "csrf_token"}
    assert body["role"] == "agent" and body["roles"] == ["agent"] and body["display_name"] == "坐席007"
    assert r.headers["cache-control"] == "no-store"
    cookies = r.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith(auth.SESSION_COOKIE + "="))
    csrf_cookie = next(c for c in cookies if c.startswith(auth.CSRF_COOKIE + "="))
    assert "httponly" in session_cookie.lower() and "samesite=strict" in session_cookie.lower()
    assert "httponly" not in csrf_cookie.lower() and body["csrf_token"] in csrf_cookie
    staff_client.cookies.clear()

    bearer = {"Authorization": f"Bearer {body['token']}"}
    me = staff_client.get("/api/staff/me", headers=bearer)
    assert me.status_code == 200
    assert me.json() | {"id": 0} == {"id": 0, "username": "zhang", "role": "agent", "roles": ["agent"],
                                     "display_name": "坐席007", "public_name": "坐席007",
                                     "expires_at": body["expires_at"]}
    assert staff_client.post("/api/staff/logout", headers=bearer).json() == {"logged_out": True}
    after = staff_client.get("/api/staff/me", headers=bearer)
    assert after.status_code == 401 and after.json()["detail"]["code"] == "not_authenticated"
    assert after.headers["www-authenticate"] == "Bearer"


def test_login_failures_are_indistinguishable(staff_client, make_staff, monkeypatch):
    monkeypatch.setenv("STAFF_LOCK_MAX_FAILURES", "2")
    get_settings.cache_clear()
    make_staff("agent", username="locked")
    make_staff("agent", username="gone")
    set_disabled("gone", True)
    bodies = []
    for username, password in [("nobody", PASSWORD), ("locked", "wrong password"), ("locked", "wrong password"),
                               ("locked", PASSWORD), ("gone", PASSWORD)]:
        r = staff_client.post("/api/staff/login", json={"username": username, "password": password})
        assert r.status_code == 401, (username, r.text)
        assert "set-cookie" not in r.headers
        bodies.append(r.json())
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["detail"]["code"] == "invalid_credentials"
    assert staff_client.post("/api/staff/login", json={"username": "x"}).status_code == 422


def test_login_is_rate_limited_per_client(staff_client, make_staff, monkeypatch):
    monkeypatch.setenv("STAFF_LOGIN_PER_MINUTE", "3")
    get_settings.cache_clear()
    codes = [staff_client.post("/api/staff/login", json={"username": "nobody", "password": "x" * 10}).status_code
             for _ in range(4)]
    assert codes == [401, 401, 401, 429]


# -- cookies and CSRF ----------------------------------------------------------------------------------------
def test_cookie_sessions_need_the_csrf_header_to_change_state(staff_client, make_staff):
    make_staff("supervisor", username="ban")
    login = staff_client.post("/api/staff/login", json={"username": "ban", "password": PASSWORD}).json()
    assert staff_client.cookies.get(auth.SESSION_COOKIE) == login["token"]
    assert staff_client.get("/api/staff/me").status_code == 200           # GET: cookie alone is enough

    advance = "/api/admin/applications/NM20250101AAAAAAAA/advance"
    body = {"status": "预审中"}
    for headers in [{}, {"X-CSRF-Token": "wrong"}]:
        r = staff_client.post(advance, json=body, headers=headers)
        assert r.status_code == 403 and r.json()["detail"]["code"] == "csrf_failed", r.text
    # a cookie and header the attacker chose themselves do not match the session's token
    staff_client.cookies.set(auth.CSRF_COOKIE, "attacker-chosen")
    r = staff_client.post(advance, json=body, headers={"X-CSRF-Token": "attacker-chosen"})
    assert r.status_code == 403 and r.json()["detail"]["code"] == "csrf_failed"
    staff_client.cookies.set(auth.CSRF_COOKIE, login["csrf_token"])
    ok = staff_client.post(advance, json=body, headers={"X-CSRF-Token": login["csrf_token"]})
    assert ok.status_code == 404 and ok.json()["detail"]["code"] == "not_found"   # passed auth and CSRF

    assert staff_client.post("/api/staff/logout").status_code == 403         # logout is state-changing too
    out = staff_client.post("/api/staff/logout", headers={"X-CSRF-Token": login["csrf_token"]})
    assert out.status_code == 200
    assert auth.SESSION_COOKIE not in staff_client.cookies                   # cleared by the response
    staff_client.cookies.set(auth.SESSION_COOKIE, login["token"])
    assert staff_client.get("/api/staff/me").status_code == 401             # and revoked on the server


def test_bearer_requests_need_no_csrf_header(staff_client, make_staff):
    user = make_staff("supervisor")
    r = staff_client.post("/api/admin/applications/NM20250101AAAAAAAA/advance", json={"status": "预审中"},
                          headers=user.headers)
    assert r.status_code == 404


def test_a_websocket_with_the_cookie_must_come_from_the_same_origin(staff_db, make_staff):
    app = FastAPI()

    @app.websocket("/agent/ws")
    async def agent_ws(websocket: WebSocket, staff: Annotated[StaffPrincipal, Depends(auth.require_role("agent"))]):
        await websocket.accept()
        await websocket.send_text(staff.username)
        await websocket.close()

    agent, editor = make_staff("agent"), make_staff("editor")
    client = TestClient(app)

    def connect(headers: dict | None = None, cookie: str | None = None) -> str | int:
        client.cookies.clear()
        if cookie:
            client.cookies.set(auth.SESSION_COOKIE, cookie)
        try:
            with client.websocket_connect("/agent/ws", headers=headers or {}) as ws:
                return ws.receive_text()
        except WebSocketDisconnect as closed:
            return closed.code

    assert connect(agent.headers) == agent.username
    assert connect({"Origin": "http://testserver"}, cookie=agent.token) == agent.username
    assert connect() == 1008                                                  # anonymous
    assert connect(editor.headers) == 1008                                    # wrong role
    assert connect(cookie=agent.token) == 1008                                # cookie without Origin
    assert connect({"Origin": "http://evil.example"}, cookie=agent.token) == 1008
    assert [m for _, m in staff_routes(app)] == ["WEBSOCKET"] and auth.unguarded_staff_routes(app) == []


# -- the admin applications API on staff accounts --------------------------------------------------------------
def test_admin_applications_api_takes_supervisors_admins_and_the_service_token(staff_client, make_staff):
    url = "/api/admin/applications/NM20250101AAAAAAAA"
    for role, expected in [("agent", 403), ("editor", 403), ("supervisor", 404), ("admin", 404)]:
        assert staff_client.get(url, headers=make_staff(role).headers).status_code == expected, role
    assert staff_client.get(url, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}).status_code == 404
    assert staff_client.get(url, headers={"X-Admin-Token": SERVICE_TOKEN}).status_code == 404
    assert staff_client.get(url, headers={"X-Admin-Token": "wrong"}).status_code == 401
    # the service token is not a staff session: it does not open /api/staff/me
    assert staff_client.get("/api/staff/me", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}).status_code == 401


def test_advancing_an_application_is_audited(staff_client, make_staff):
    from core import applications as service

    supervisor = make_staff("supervisor")
    created = service.create_application(
        guide="新生儿出生一件事", items=["户口登记"], channel="web", sender="unit-staff", idempotency_key=None,
        data={"applicant_name": "张三", "applicant_id_number": "150102199003071237", "applicant_phone": "13900001111",
              "other_parent_name": "李芳", "other_parent_id_number": "150203198804120024", "child_name": "张小宝",
              "child_gender": "男", "child_birth_date": "2025年3月1日", "birth_hospital": "鄂尔多斯市中心医院",
              "child_ethnicity": "汉族", "settle_with": "随父亲落户", "card_bank": "中国工商银行"})
    number = created.view["number"]
    r = staff_client.post(f"/api/admin/applications/{number}/advance", json={"status": "预审中"},
                          headers=supervisor.headers)
    assert r.status_code == 200, r.text
    with session_scope() as session:
        [entry] = audit_entries(session, action="application.advance")
        assert (entry.staff_id, entry.target_type, entry.target_id) == (supervisor.principal.staff_id, "application",
                                                                        number)
        assert entry.detail["status"] == "预审中" and entry.detail["via"] == "bearer"
    with session_scope() as session:  # the life-cycle event names the staff member too
        actors = set(session.scalars(select(ApplicationEvent.actor)))
    assert f"staff:{supervisor.username}" in actors


def test_openapi_documents_the_staff_auth(staff_client):
    schema = staff_client.get("/openapi.json").json()
    assert {"StaffBearer", "StaffCookie"} <= set(schema["components"]["securitySchemes"])
    me = schema["paths"]["/api/staff/me"]["get"]
    assert {"StaffBearer": []} in me["security"]
    assert "security" not in schema["paths"]["/api/staff/login"]["post"]
    assert "security" not in schema["paths"]["/api/chat"]["post"]
