"""The gateway's two checks: /health names every component that is not ready; /health/live, the balancer's
check (scripts/cluster.py), answers from the process alone, so a gateway whose Rasa is slow at a peak is not
taken out of the balancer (under load, the full check's calls to Rasa timed out and HAProxy answered 503)."""
from __future__ import annotations

from fastapi.testclient import TestClient

from connectors.gateway.deps import Services
from connectors.gateway.ratelimit import RateLimiter
from connectors.gateway.turns import TurnService
from core.settings import get_settings
from tests.staff_fixtures import staff_db  # noqa: F401


class UnreadyDialogue:
    """Stands in for a Rasa that does not answer its status call."""

    def __init__(self) -> None:
        self.asked = 0

    async def send(self, sender: str, text: str, metadata: dict) -> list:
        raise AssertionError("no turn is sent in this test")

    async def ready(self) -> tuple[bool, str]:
        self.asked += 1
        return False, "ReadTimeout"

    async def close(self) -> None:
        pass


def test_live_check_answers_without_asking_rasa_while_the_full_check_names_it(staff_db):  # noqa: F811
    from connectors.gateway.app import create_app

    app = create_app()
    dialogue = UnreadyDialogue()
    app.state.services = Services(settings=get_settings(), rasa=dialogue,
                                  turns=TurnService(dialogue, RateLimiter(5), 2000, None))
    client = TestClient(app)
    full = client.get("/health")
    assert full.status_code == 503 and "rasa" in full.json()["not_ready"]
    assert dialogue.asked == 1
    live = client.get("/health/live")
    assert live.status_code == 200 and live.json() == {"status": "alive"}
    assert dialogue.asked == 1  # the live check asked nobody
