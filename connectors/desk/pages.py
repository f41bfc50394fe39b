"""The ticket desk page (/agent/tickets) and its script and styles: static files, no data in them.

They are public (auth.PUBLIC_STAFF_ROUTES) because the page shows the login form itself; everything it then
reads goes through the guarded /api/staff/tickets routes. It shares the agent console's base styles
(/agent/static/console.css).
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from connectors.gateway.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent / "static"
FILES = {"desk.js": "text/javascript; charset=utf-8", "desk.css": "text/css; charset=utf-8"}
HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/agent/tickets")
async def desk_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/agent/tickets/static/{name}")
async def desk_file(name: str) -> FileResponse:
    if name not in FILES:
        raise ApiError(404, "not_found")
    return FileResponse(STATIC_DIR / name, media_type=FILES[name], headers=HEADERS)
