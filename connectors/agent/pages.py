"""The agent console page (/agent) and its script and styles: static files, no data in them.

They are public (auth.PUBLIC_STAFF_ROUTES) because the page shows the login form itself; everything it then
reads goes through the guarded /api/agent, /api/supervisor and /ws/agent routes.
"""
from __future__ import annotations

from pathlib import Path

from connectors.staff.pages import console_pages

STATIC_DIR = Path(__file__).resolve().parent / "static"

# the console's own WebSocket (/ws/agent) is allowed by its Content-Security-Policy
router = console_pages("/agent", STATIC_DIR, ("console.js", "console.css"), websocket=True)
