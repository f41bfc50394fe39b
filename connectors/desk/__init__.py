"""The ticket desk (工单台): hotline staff work citizens' tickets (docs/API.md, "Ticket desk (staff)").

    api.py      /api/staff/tickets/... (list and filters, one ticket, reveal, reclassify, reassign, reply, notes,
                advance, return, unlink, forward to / sync from the 工单 platform, manual queue, hot issues,
                options for the pickers)
    pages.py    the desk page /agent/tickets (static/: index.html, desk.js, desk.css; no build step), linked
                from the agent console

Every route is a staff route (connectors/gateway/auth.py); the rules live in core/tickets/desk.py.
"""
from connectors.desk import api, pages

ROUTERS = (api.router, pages.router)

__all__ = ["ROUTERS", "api", "pages"]
