"""The agent console: hotline agents take over live conversations from the assistant (docs/API.md, "Agent console").

    api.py      /api/agent/... (queue, conversations, replies, guide cards, notes, typing, release, transfer,
                close, reveal, knowledge search, canned replies, heartbeat) and /api/supervisor/overview
    live.py     WS /ws/agent: queue changes and the held (or watched) conversations' events, live
    pages.py    the console page /agent (static/: index.html, console.js, console.css; no build step)
    canned.yaml common replies

Every route is a staff route (connectors/gateway/auth.py); the rules live in core/handoff.
"""
from connectors.agent import api, live, pages

ROUTERS = (api.router, api.supervisor_router, live.router, pages.router)

__all__ = ["ROUTERS", "api", "live", "pages"]
