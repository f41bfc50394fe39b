"""Fixtures for ticket desk tests. Import the ones you use into your test module (with the staff fixtures):

    from tests.staff_fixtures import make_staff, staff_db  # noqa: F401
    from tests.ticket_fixtures import desk_db, file_ticket  # noqa: F401

`desk_db` is `staff_db` with the ticket classifier replaced by a small keyword table (fake_classify), so tests
do not depend on the trained model: 路灯 -> 城市公共设施, 噪音/打桩/吵 -> 噪音污染, 暖气/供暖 -> 冬季采暖, anything
else waits for manual classification. `file_ticket(...)` files through core.tickets.service.file_ticket, as
every channel does, and returns the ticket number.
"""
from __future__ import annotations

import itertools
import re

import pytest

from core.tickets import service
from core.tickets.routing import load_routing
from core.tickets.service import Appeal

STREETLIGHT = ("城乡建设", "城市建设和市政管理", "城市公共设施")
NOISE = ("环境保护", "环境污染", "噪音污染")
HEATING = ("城乡建设", "城市建设和市政管理", "冬季采暖")
KEYWORDS = [(r"路灯", STREETLIGHT), (r"噪音|打桩|吵", NOISE), (r"暖气|供暖", HEATING)]
_senders = itertools.count(1)


def fake_classify(text: str) -> dict:
    """A keyword table instead of the trained classifier: sure for known words, else manual classification."""
    for pattern, (l1, l2, l3) in KEYWORDS:
        if re.search(pattern, text):
            return {"level1": l1, "level2": l2, "level3": l3, "department": load_routing().department(l1, l2, l3),
                    "confidence": 0.93, "manual": False}
    return {"level1": "", "level2": "", "level3": "", "department": "", "confidence": 0.2, "manual": True}


@pytest.fixture
def desk_db(staff_db, monkeypatch):
    monkeypatch.setattr(service, "classify", fake_classify)
    return staff_db


def file_ticket(description: str, address: str = "", appeal_type: str = "投诉", phone: str | None = "13900001111",
                **kwargs) -> str:
    appeal = Appeal(appeal_type=appeal_type, description=description, address=address, phone=phone,
                    sender=kwargs.pop("sender", f"desk-{next(_senders)}"), **kwargs)
    return service.file_ticket(appeal).view["number"]
