"""The guide editor page (/editor) and its script and styles: static files, no data in them.

They are public (auth.PUBLIC_STAFF_ROUTES) because the page shows the login form itself; everything it then
reads goes through the guarded /api/guides and /api/unanswered routes. The notice preview is shown in a
sandboxed iframe (srcdoc), so the page's own policy stays strict.
"""
from __future__ import annotations

from pathlib import Path

from connectors.staff.pages import console_pages

STATIC_DIR = Path(__file__).resolve().parent / "static"

# frames=True: the sandboxed notice preview (srcdoc iframe)
router = console_pages("/editor", STATIC_DIR, ("editor.js", "editor.css"), frames=True)
