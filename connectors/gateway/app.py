"""Gateway application factory. Run: uvicorn connectors.gateway.app:app"""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from connectors import agent, dashboard, desk, editor
from connectors import staff as staff_pages
from connectors.gateway import errors
from connectors.gateway.bodies import JsonBodyGuard
from connectors.gateway.deps import Services
from connectors.gateway.handoff_bridge import HandoffBridge
from connectors.gateway.rasa_client import RasaClient
from connectors.gateway.ratelimit import RateLimiter
from connectors.gateway.ratings_hook import RatingsHook
from connectors.gateway.routers import applications, chat, health, knowledge, staff, web, websocket
from connectors.gateway.routers import ratings as ratings_router
from connectors.gateway.routers import tickets as tickets_router
from connectors.gateway.turns import TurnService
from connectors.voice import sip as voice_sip
from connectors.voice import websocket as voice_ws
from core import conversation_events, heap, logs
from core.settings import Settings, get_settings
from core.guides.live import follow_store
from knowledge import live as live_guides
from knowledge import retrieval


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rasa = RasaClient(settings.rasa_url, timeout=settings.rasa_timeout_seconds)
        bridge = HandoffBridge(settings.rasa_url)
        bridge.start()
        shared = settings.rate_limit_redis_url
        turns = TurnService(rasa, RateLimiter(settings.rate_limit_per_minute, scope="chat-sender", redis_url=shared),
                            settings.max_message_chars, bridge, RatingsHook(),
                            client_limiter=RateLimiter(settings.rate_limit_per_client_per_minute, scope="chat-client",
                                                       redis_url=shared))
        app.state.services = Services(settings=settings, rasa=rasa, turns=turns)
        await asyncio.to_thread(retrieval.warm_up)
        await asyncio.to_thread(follow_store)     # guide editor: this process serves the store's published guides
        sip = await voice_sip.start_from_env(turns)  # voice line: SIP endpoint when SIP_PORT is set
        heap.freeze()  # what start-up loaded stays: no full collection walks it again (core/heap.py)
        yield
        if sip is not None:
            await sip.stop()
        live_guides.uninstall()
        await asyncio.to_thread(conversation_events.flush)   # the turn rows still waiting (core/conversation_events.py)
        await rasa.close()
        await bridge.close()

    app = FastAPI(
        title="12345 政务服务便民热线智能助手 API",
        version="0.1.0",
        description="Chat, knowledge and application API of the 12345 hotline assistant. See docs/API.md.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(JsonBodyGuard)  # bad JSON bodies get their own 4xx (bodies.py); CORS (below) wraps it
    # The widget is embedded on other sites' pages; it sends no cookies, so any listed origin may call the API.
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type"], allow_credentials=False)
    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(websocket.router)
    app.include_router(knowledge.router)
    app.include_router(applications.router)
    app.include_router(staff.router)
    app.include_router(web.router)
    for router in agent.ROUTERS:              # agent console: /api/agent, /api/supervisor, /ws/agent, /agent
        app.include_router(router)
    app.include_router(ratings_router.router)  # POST /api/ratings (callers)
    app.include_router(tickets_router.router)  # POST /api/tickets/classify (callers, channels)
    for router in dashboard.ROUTERS:          # supervisor dashboard: /api/dashboard, /api/followups, /dashboard
        app.include_router(router)
    for router in editor.ROUTERS:             # guide editor: /api/guides, /api/unanswered, /editor
        app.include_router(router)
    for router in desk.ROUTERS:               # ticket desk: /api/staff/tickets, /agent/tickets
        app.include_router(router)
    for router in staff_pages.ROUTERS:        # the consoles' shared files: /staff/static/staff.js, staff.css
        app.include_router(router)
    app.include_router(voice_ws.router)       # voice line: WS /ws/voice (speech engines load on the first call)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    return app


logs.setup(logging.INFO)  # personal data masked, control characters escaped, in every log line (core/logs.py)
app = create_app()
