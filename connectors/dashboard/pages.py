"""The supervisor dashboard page (/dashboard) and its script and styles: static files, no data in them.

They are public (auth.PUBLIC_STAFF_ROUTES) because the page shows the login form itself; everything it then
reads goes through the guarded /api/dashboard, /api/followups and /api/supervisor routes.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from connectors.gateway.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent / "static"
FILES = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _headers(request: Request) -> dict[str, str]:
    """Same origin only: no inline script, no CDN, never framed (the plots are SVG drawn by dashboard.js)."""
    return {"Content-Security-Policy": CSP, **HEADERS}


@router.get("/dashboard")
async def dashboard_page(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=_headers(request))


@router.get("/dashboard/static/{name}")
async def dashboard_file(name: str, request: Request) -> FileResponse:
    if name not in FILES:
        raise ApiError(404, "not_found")
    return FileResponse(STATIC_DIR / name, media_type=FILES[name], headers=_headers(request))
