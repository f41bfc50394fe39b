"""The staff consoles' pages: one builder for each console's page router, and the files they all load.

A console's page (e.g. /agent) and its script and styles (/agent/static/{name}) are static files with no data in
them. The page (static/index.html) fills in the blocks of templates/console.html, the frame every console shares
(head, top bar, notice and alert lines, login box); it is rendered once per process. They are public (auth.PUBLIC_STAFF_ROUTES) because the page shows the login form itself; everything it then
reads goes through the console's guarded API routes. The shared script and styles (/staff/static/staff.js and
staff.css: login, session check, logout, the fetch wrapper) are served here the same way.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from connectors.gateway.errors import ApiError

STATIC_DIR = Path(__file__).resolve().parent / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
HTML = "text/html; charset=utf-8"
# Same origin only: no inline script, no CDN, never framed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'{ws}; "
       "{frames}object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")


def security_headers(*, websocket: bool = False, frames: bool = False) -> Callable[[Request], dict[str, str]]:
    """The headers of a console's files. websocket: the page may open a WebSocket to its own host (the agent
    console's /ws/agent); frames: it may show same-origin frames (the guide editor's sandboxed notice preview)."""
    frame_src = "frame-src 'self'; " if frames else ""

    def headers(request: Request) -> dict[str, str]:
        ws = ""
        if websocket:
            host = request.headers.get("host", "")
            scheme = "wss" if request.url.scheme == "https" else "ws"
            ws = f" {scheme}://{host}" if _HOST.match(host) else ""
        return {"Content-Security-Policy": CSP.format(ws=ws, frames=frame_src), **HEADERS}

    return headers


@lru_cache(maxsize=16)
def render_page(static_dir: Path) -> str:
    """A console's index.html within the shared frame (templates/console.html)."""
    env = Environment(loader=ChoiceLoader([FileSystemLoader(static_dir), FileSystemLoader(TEMPLATES_DIR)]),
                      autoescape=select_autoescape(["html"]))
    return env.get_template("index.html").render()


def console_pages(path: str | None, static_dir: Path, files: Iterable[str], *, prefix: str | None = None,
                  websocket: bool = False, frames: bool = False) -> APIRouter:
    """GET {path} (static_dir/index.html in the shared frame) and GET {prefix}/static/{name} for the listed files (404 for any other
    name), all with the same security headers. prefix defaults to path; path None: the static files only."""
    media = {name: MEDIA_TYPES[Path(name).suffix] for name in files}
    headers = security_headers(websocket=websocket, frames=frames)
    base = prefix or path
    router = APIRouter(include_in_schema=False)

    if path is not None:
        @router.get(path, name=f"page:{path}")
        async def page(request: Request) -> HTMLResponse:
            return HTMLResponse(render_page(static_dir), media_type=HTML, headers=headers(request))

    @router.get(base + "/static/{name}", name=f"static:{base}")
    async def static_file(name: str, request: Request) -> FileResponse:
        if name not in media:
            raise ApiError(404, "not_found")
        return FileResponse(static_dir / name, media_type=media[name], headers=headers(request))

    return router


# the files every console loads before its own
router = console_pages(None, STATIC_DIR, ("staff.js", "staff.css"), prefix="/staff")
