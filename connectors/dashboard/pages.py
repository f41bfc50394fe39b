"""The supervisor dashboard page (/dashboard) and its script and styles: static files, no data in them.

They are public (auth.PUBLIC_STAFF_ROUTES) because the page shows the login form itself; everything it then
reads goes through the guarded /api/dashboard, /api/followups and /api/supervisor routes.
"""
from __future__ import annotations

from pathlib import Path

from connectors.staff.pages import console_pages

STATIC_DIR = Path(__file__).resolve().parent / "static"

router = console_pages("/dashboard", STATIC_DIR, ("dashboard.js", "dashboard.css"))  # plots: SVG drawn by dashboard.js
