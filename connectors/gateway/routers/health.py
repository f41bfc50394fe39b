"""GET /health: 200 when every component is ready, 503 naming what is not. GET /health/live: 200 whenever this
process answers, with no call to anything else (the balancer's check: a gateway whose Rasa is busy is alive)."""
from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from connectors.gateway.deps import Services, get_services
from core import db
from knowledge import status as knowledge_status

router = APIRouter(tags=["health"])


async def _actions_ready(url: str) -> tuple[bool, str]:
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            response = await client.get(f"{url.rstrip('/')}/health")
        return response.status_code == 200, f"status {response.status_code}"
    except httpx.HTTPError as exc:
        return False, type(exc).__name__


def _database_ready() -> tuple[bool, str]:
    try:
        db.ping()
        return True, "ok"
    except Exception as exc:  # any driver error means "not ready", never a 500
        return False, type(exc).__name__


@router.get("/health/live")
async def live() -> JSONResponse:
    return JSONResponse({"status": "alive"})


@router.get("/health")
async def health(services: Services = Depends(get_services)) -> JSONResponse:
    rasa, actions, database, index = await asyncio.gather(
        services.rasa.ready(),
        _actions_ready(services.settings.actions_url),
        asyncio.to_thread(_database_ready),
        asyncio.to_thread(knowledge_status.index_ready, services.settings.index_dir),
    )
    components = {
        name: {"ready": ok, "detail": detail}
        for name, (ok, detail) in {"rasa": rasa, "actions": actions, "database": database, "index": index}.items()
    }
    not_ready = [name for name, c in components.items() if not c["ready"]]
    body = {"status": "ok" if not not_ready else "unavailable", "not_ready": not_ready, "components": components}
    return JSONResponse(body, status_code=200 if not not_ready else 503)
