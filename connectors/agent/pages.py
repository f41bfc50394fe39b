"""The agent console page (/agent) and its script and styles: static files, no data in them.

They are public (auth.PUBLIC_STAFF_ROUTES) because the page shows the login form itself; everything it then
reads goes through the guarded /api/agent, /api/supervisor and /ws/agent routes.
"""
from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from connectors.gateway.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent / "static"
FILES = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'{ws}; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _headers(request: Request) -> dict[str, str]:
    """Same origin only (no inline script, no CDN, never framed); the console's own WebSocket allowed."""
    host = request.headers.get("host", "")
    scheme = "wss" if request.url.scheme == "https" else "ws"
    ws = f" {scheme}://{host}" if _HOST.match(host) else ""
    return {"Content-Security-Policy": CSP.format(ws=ws), **HEADERS}


@router.get("/agent")
async def console_page(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=_headers(request))


@router.get("/agent/static/{name}")
async def console_file(name: str, request: Request) -> FileResponse:
    if name not in FILES:
        raise ApiError(404, "not_found")
    return FileResponse(STATIC_DIR / name, media_type=FILES[name], headers=_headers(request))
