"""The supervisor dashboard (docs/API.md, "Supervisor dashboard", "Follow-ups", "Rating appeals").

    api.py    /api/dashboard/metrics (JSON), /api/dashboard/csv/{figure} (CSV), /api/followups (回访 tasks and
              their actions), /api/supervisor/ratings and /api/supervisor/appeals (申诉复核)
    pages.py  the page /dashboard (static/: index.html, dashboard.js, dashboard.css; plots drawn in the browser
              as SVG from the API's JSON; no build step, no CDN)

Every API route needs the supervisor role (connectors/gateway/auth.py); the figures are core/metrics, the
rules core/ratings.
"""
from connectors.dashboard import api, pages

ROUTERS = (api.dashboard_router, api.followups_router, api.supervisor_router, pages.router)

__all__ = ["ROUTERS", "api", "pages"]
