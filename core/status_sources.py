"""Where application status (办件进度) comes from: the local database, or an external 一窗受理 system.

Both sources answer `lookup(number, factor)` with a status view, or None when the number is
unknown OR the verification factor is wrong (callers must not be able to tell which).
SourceUnavailable means the source could not answer at all (timeout, outage).

Configuration (docs/CONFIG.md):
    STATUS_SOURCE_URL      base URL of the external system; empty = local database (default)
    STATUS_SOURCE_TOKEN    bearer token sent to it
    STATUS_SOURCE_TIMEOUT  seconds, default 5

External contract (implemented by tests/fakes/fake_yichuang_server.py):
    GET {STATUS_SOURCE_URL}/applications/{number}?verify={factor}
        Authorization: Bearer {STATUS_SOURCE_TOKEN}
    200 {"number", "guide", "overall", "items": [{"name", "status", "note", "due"}], "updated_at"}
    404 unknown number or factor mismatch; anything else = unavailable
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from sqlalchemy import select

from core.db import session_scope
from core.models import Application

log = logging.getLogger(__name__)

NUMBER_PATTERN = re.compile(r"NM[0-9]{8}[A-Z0-9]{8}")
FACTOR_PATTERN = re.compile(r"[0-9]{4}|[0-9]{5}[0-9X]")
STATUSES = ("已提交", "预审中", "需补正", "审批中", "已办结", "已出件", "已寄递")


class SourceUnavailable(Exception):
    """The status source did not answer."""


class StatusSource(Protocol):
    name: str

    def lookup(self, number: str, factor: str) -> dict[str, Any] | None: ...


def verifier_hash(number: str, factor: str) -> str:
    return hashlib.sha256(f"{number}|{factor.upper()}".encode()).hexdigest()


def verifiers_for(number: str, factors: list[str]) -> list[str]:
    return sorted({verifier_hash(number, f) for f in factors if FACTOR_PATTERN.fullmatch(f.upper())})


def factor_matches(number: str, factor: str, stored: list[str]) -> bool:
    candidate = verifier_hash(number, factor)
    matched = False
    for value in stored or []:  # no early exit: the same work whatever the answer
        matched |= hmac.compare_digest(candidate, str(value))
    return matched


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC datetimes
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def application_view(app: Application) -> dict[str, Any]:
    return {
        "number": app.number,
        "guide": app.guide,
        "overall": app.overall_status,
        "items": [
            {"name": row.name, "status": row.status, "note": row.note or "",
             "due": row.due_date.isoformat() if row.due_date else None}
            for row in app.item_rows
        ],
        "submitted_at": _iso(app.created_at),
        "updated_at": _iso(app.updated_at),
    }


class LocalStatusSource:
    name = "local"

    def lookup(self, number: str, factor: str) -> dict[str, Any] | None:
        with session_scope() as session:
            app = session.scalar(select(Application).where(Application.number == number))
            stored = app.verifiers if app is not None else [verifier_hash("NM00000000AAAAAAAA", "0000")]
            ok = factor_matches(number, factor, stored)
            if app is None or not ok:
                return None
            return application_view(app)


class HttpStatusSource:
    """Adapter for an external 一窗受理 system (contract in the module docstring)."""

    name = "http"

    def __init__(self, base_url: str, token: str = "", timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.transport = transport

    def lookup(self, number: str, factor: str) -> dict[str, Any] | None:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = f"{self.base_url}/applications/{quote(number, safe='')}"
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                response = client.get(url, params={"verify": factor}, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("status source unreachable: %s", type(exc).__name__)
            raise SourceUnavailable(type(exc).__name__) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.warning("status source answered %s", response.status_code)
            raise SourceUnavailable(f"status {response.status_code}")
        try:
            return self._parse(response.json(), number)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("status source sent an unexpected body: %s", exc)
            raise SourceUnavailable("bad body") from exc

    @staticmethod
    def _parse(body: Any, number: str) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("number") != number:
            raise ValueError("body does not describe the requested application")
        overall = str(body["overall"])
        items = []
        for item in body.get("items") or []:
            items.append({"name": str(item["name"]), "status": str(item["status"]),
                          "note": str(item.get("note") or ""), "due": item.get("due")})
        if overall not in STATUSES or any(i["status"] not in STATUSES for i in items):
            raise ValueError("unknown status value")
        return {"number": number, "guide": str(body.get("guide") or ""), "overall": overall, "items": items,
                "submitted_at": body.get("submitted_at"), "updated_at": body.get("updated_at")}


@dataclass(frozen=True)
class SourceSettings:
    url: str
    token: str
    timeout: float

    @classmethod
    def from_env(cls) -> "SourceSettings":
        try:
            timeout = float(os.environ.get("STATUS_SOURCE_TIMEOUT", "").strip() or 5)
        except ValueError as exc:
            raise ValueError("environment variable STATUS_SOURCE_TIMEOUT must be a number") from exc
        return cls(os.environ.get("STATUS_SOURCE_URL", "").strip(), os.environ.get("STATUS_SOURCE_TOKEN", "").strip(),
                   timeout)


def get_status_source() -> StatusSource:
    """Chosen per call from the environment, so a deployment switches source with one variable."""
    settings = SourceSettings.from_env()
    if settings.url:
        return HttpStatusSource(settings.url, settings.token, settings.timeout)
    return LocalStatusSource()
