"""The ticket desk page (/agent/tickets) and its script and styles: static files, no data in them.

They are public (auth.PUBLIC_STAFF_ROUTES) because the page shows the login form itself; everything it then
reads goes through the guarded /api/staff/tickets routes. It builds on the agent console's styles
(/agent/static/console.css) and the shared staff files (connectors/staff).
"""
from __future__ import annotations

from pathlib import Path

from connectors.staff.pages import console_pages

STATIC_DIR = Path(__file__).resolve().parent / "static"

router = console_pages("/agent/tickets", STATIC_DIR, ("desk.js", "desk.css"))
