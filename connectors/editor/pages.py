"""The guide editor page (/editor) and its script and styles: static files, no data in them.

They are public (auth.PUBLIC_STAFF_ROUTES) because the page shows the login form itself; everything it then
reads goes through the guarded /api/guides and /api/unanswered routes. The notice preview is shown in a
sandboxed iframe (srcdoc), so the page's own policy stays strict.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from connectors.gateway.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent / "static"
FILES = {"editor.js": "text/javascript; charset=utf-8", "editor.css": "text/css; charset=utf-8"}
HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/editor")
async def editor_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/editor/static/{name}")
async def editor_file(name: str) -> FileResponse:
    if name not in FILES:
        raise ApiError(404, "not_found")
    return FileResponse(STATIC_DIR / name, media_type=FILES[name], headers=HEADERS)
