"""What the staff consoles (/agent, /agent/tickets, /editor, /dashboard) share in the browser.

    pages.py    console_pages(...): the page router each console's pages.py builds (its index.html, rendered in
                the shared frame, and its own static files, with the same security headers); `router` serves the
                shared files below
    templates/  console.html: the frame of every console page (head, top bar, notice and alert lines, login
                box); a console's index.html fills in its blocks (title, nav, main...)
    static/     staff.js (login form, session check, logout, the fetch wrapper with X-CSRF-Token and the error
                display) and staff.css (page frame, top bar, buttons, login box); no build step

The files hold no data and are public like the consoles' own pages (auth.PUBLIC_STAFF_ROUTES).
"""
from connectors.staff import pages

ROUTERS = (pages.router,)

__all__ = ["ROUTERS", "pages"]
