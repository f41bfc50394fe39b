"""The guide editor console: content editors keep the service guides current (docs/API.md, "Guide editor").

    api.py     /api/guides/... (list, read, draft, submit, publish, versions, diff, rollback, hit-test,
               evaluate, preview, import, export) and /api/unanswered/... (the unanswered-question queue)
    pages.py   the console page /editor (static/: index.html, editor.js, editor.css; no build step)

Every route is a staff route (connectors/gateway/auth.py); the rules live in core/guides.
"""
from connectors.editor import api, pages

ROUTERS = (api.router, api.queue_router, pages.router)

__all__ = ["ROUTERS", "api", "pages"]
