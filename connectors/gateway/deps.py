"""Process-wide services, created once at start-up and handed to routes by dependency injection."""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from connectors.gateway.rasa_client import RasaClient
from connectors.gateway.turns import TurnService
from core.settings import Settings


@dataclass
class Services:
    settings: Settings
    rasa: RasaClient
    turns: TurnService


async def get_services(request: Request) -> Services:
    """Async, so FastAPI does not hand this attribute lookup to a worker thread on every request."""
    return request.app.state.services
