"""Adapters to a city's existing 12345 工单 platform: forward a dispatched ticket, pull its state and replies back.

Many cities already run a 工单 system where departments work their tickets. With TICKET_PLATFORM_URL set, the
ticket desk (core/tickets/desk.py) forwards a ticket when it is dispatched and `sync_ticket` brings the
department's progress back, so the caller's progress check shows it. If the platform is down the ticket keeps
its local state; the desk records the failure and staff retry later.

Configuration (docs/CONFIG.md):
    TICKET_PLATFORM_URL         base URL; empty = no platform (tickets are worked in the desk only)
    TICKET_PLATFORM_TOKEN       bearer token sent to it
    TICKET_PLATFORM_TIMEOUT_MS  per request, default 5000
    TICKET_PLATFORM_RETRIES     extra attempts after a timeout, a connection error, 408, 429 or 5xx (default 2)

HTTP contract (implemented by tests/fakes/fake_ticket_platform_server.py):
    POST {url}/tickets          Authorization: Bearer {token}, Idempotency-Key: {our ticket number}
        body {"number", "appeal_type", "description", "address", "occurred", "level1", "level2", "level3",
              "department", "due", "urgent", "reply_wanted", "channel", "created_at",
              "caller": {"name", "phone"} or null (anonymous; phone only when a reply is wanted)}
        200/201 {"id": "<the platform's id>"}; the same number sent again answers the same id (a retry, or a
        ticket dispatched again after a return: the platform then dispatches it to the department sent)
    GET {url}/tickets/{id}      Authorization: Bearer {token}
        200 {"id", "number", "state", "department", "reason", "replies": [{"id", "text", "at", "public",
             "department"}]}; `state` is one of dispatched in_progress resolved visited returned (or the
             Chinese labels 已派单 办理中 已办结 已回访 退回); `reason` says why a department returned it;
             `public` (default true) marks replies meant for the caller
    Other 4xx: the platform refused the request (not retried).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from core.privacy import mask_text
from core.settings import get_settings

log = logging.getLogger("hotline.tickets.platform")

REMOTE_STATES = {"dispatched": "dispatched", "in_progress": "in_progress", "resolved": "resolved",
                 "visited": "visited", "returned": "returned", "已派单": "dispatched", "办理中": "in_progress",
                 "已办结": "resolved", "已回访": "visited", "退回": "returned"}
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
BACKOFF_SECONDS = 0.3            # before the 1st retry; doubled for each further one


class PlatformError(Exception):
    """The platform did not do what was asked; `message` is for staff (Simplified Chinese)."""

    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PlatformUnavailable(PlatformError):
    """Down, too slow, or answering with server errors (after the retries)."""

    retryable = True


class PlatformRejected(PlatformError):
    """The platform answered but refused the request (bad token, unknown ticket, invalid data)."""


@dataclass(frozen=True)
class RemoteReply:
    id: str
    text: str
    at: str = ""
    public: bool = True
    department: str = ""


@dataclass(frozen=True)
class RemoteTicket:
    id: str
    state: str | None               # one of our states, None when the platform's state means nothing here
    department: str = ""
    reason: str = ""
    replies: tuple[RemoteReply, ...] = field(default_factory=tuple)


class TicketPlatform(Protocol):
    """What the desk needs of a 工单 platform; write another implementation for a non-HTTP system."""

    name: str

    def forward(self, ticket: dict[str, Any]) -> str:
        """Create the ticket on the platform (idempotent by ticket["number"]); the platform's id."""
        ...

    def fetch(self, external_id: str) -> RemoteTicket:
        """The platform's current state and replies of a forwarded ticket."""
        ...


class HttpTicketPlatform:
    """The HTTP contract of the module docstring, with retries for transient failures."""

    name = "12345工单平台"

    def __init__(self, base_url: str, token: str = "", *, timeout: float = 5.0, retries: int = 2,
                 backoff: float | None = None, transport: httpx.BaseTransport | None = None,
                 sleep=time.sleep) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("TICKET_PLATFORM_URL must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = BACKOFF_SECONDS if backoff is None else backoff
        self.transport = transport
        self.sleep = sleep

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", **(extra or {})}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _request(self, method: str, path: str, *, json: Any = None,
                 headers: dict[str, str] | None = None) -> httpx.Response:
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                    response = client.request(method, self.base_url + path, json=json,
                                              headers=self._headers(headers))
            except httpx.HTTPError as exc:
                last = type(exc).__name__
                log.warning("ticket platform %s %s failed (attempt %d): %s", method, path.split("/")[1], attempt + 1,
                            last)
                continue
            if response.status_code in RETRY_STATUSES:
                last = f"HTTP {response.status_code}"
                log.warning("ticket platform %s answered %s (attempt %d)", method, response.status_code, attempt + 1)
                continue
            return response
        raise PlatformUnavailable(f"工单平台暂时无法连接（{last}，已重试{self.retries}次），工单保持原状态，请稍后再试。")

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise PlatformUnavailable("工单平台返回了无法解析的内容。") from exc
        if not isinstance(body, dict):
            raise PlatformUnavailable("工单平台返回了无法解析的内容。")
        return body

    @staticmethod
    def _refused(response: httpx.Response, what: str) -> PlatformRejected:
        if response.status_code in (401, 403):
            return PlatformRejected("工单平台拒绝了访问（令牌无效或无权限），请联系管理员检查 TICKET_PLATFORM_TOKEN。")
        if response.status_code == 404:
            return PlatformRejected(f"工单平台上没有找到{what}。")
        try:
            detail = str(response.json().get("message") or "")[:200]
        except (ValueError, AttributeError):
            detail = ""
        return PlatformRejected(f"工单平台拒绝了{what}（HTTP {response.status_code}）" + (f"：{mask_text(detail)}" if detail
                                                                                     else "。"))

    def forward(self, ticket: dict[str, Any]) -> str:
        number = str(ticket.get("number") or "")
        response = self._request("POST", "/tickets", json=ticket, headers={"Idempotency-Key": number})
        if response.status_code not in (200, 201):
            raise self._refused(response, "该工单")
        external_id = str(self._json(response).get("id") or "").strip()
        if not external_id or len(external_id) > 64:
            raise PlatformUnavailable("工单平台没有返回有效的工单编号。")
        return external_id

    def fetch(self, external_id: str) -> RemoteTicket:
        response = self._request("GET", "/tickets/" + quote(external_id, safe=""))
        if response.status_code != 200:
            raise self._refused(response, "该工单")
        body = self._json(response)
        replies = []
        for item in body.get("replies") or []:
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                continue
            replies.append(RemoteReply(id=str(item["id"])[:64], text=str(item.get("text") or "")[:2000],
                                       at=str(item.get("at") or "")[:40], public=item.get("public", True) is not False,
                                       department=str(item.get("department") or "")[:64]))
        return RemoteTicket(id=str(body.get("id") or external_id), state=REMOTE_STATES.get(str(body.get("state"))),
                            department=str(body.get("department") or "")[:64],
                            reason=str(body.get("reason") or "")[:500], replies=tuple(replies))


def get_platform() -> TicketPlatform | None:
    """The configured platform (settings read per call), or None when TICKET_PLATFORM_URL is empty."""
    settings = get_settings()
    if not settings.ticket_platform_url:
        return None
    return HttpTicketPlatform(settings.ticket_platform_url, settings.ticket_platform_token,
                              timeout=settings.ticket_platform_timeout, retries=settings.ticket_platform_retries)
