"""Gateway application factory. Run: uvicorn connectors.gateway.app:app"""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from connectors import agent
from connectors.gateway import errors
from connectors.gateway.deps import Services
from connectors.gateway.handoff_bridge import HandoffBridge
from connectors.gateway.rasa_client import RasaClient
from connectors.gateway.ratelimit import RateLimiter
from connectors.gateway.routers import applications, chat, health, knowledge, staff, web, websocket
from connectors.gateway.turns import TurnService
from core.settings import Settings, get_settings
from knowledge import retrieval


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rasa = RasaClient(settings.rasa_url, timeout=settings.rasa_timeout_seconds)
        bridge = HandoffBridge(settings.rasa_url)
        turns = TurnService(rasa, RateLimiter(settings.rate_limit_per_minute), settings.max_message_chars, bridge)
        app.state.services = Services(settings=settings, rasa=rasa, turns=turns)
        await asyncio.to_thread(retrieval.warm_up)
        yield
        await rasa.close()
        await bridge.close()

    app = FastAPI(
        title="12345 政务服务便民热线智能助手 API",
        version="0.1.0",
        description="Chat, knowledge and application API of the 12345 hotline assistant. See docs/API.md.",
        lifespan=lifespan,
    )
    errors.install(app)
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
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    return app


logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
app = create_app()
