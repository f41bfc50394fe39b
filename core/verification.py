"""Enumeration-proof lookups by number + verification factor (application status, ticket progress).

An unknown number and a wrong factor give the same `denied` outcome. Who is refused, and for what
(docs/ARCHITECTURE.md "Abuse limits"):

- a requester (a conversation, or a client address) that failed `max_failures` times on one number within
  the window is locked out of that number only: a bad client behind a shared address (NAT, a service
  hall) never locks the others out of their own applications;
- a conversation's failures count for its client address too (`client`), so rotating conversation ids
  does not give more tries on a number;
- `number_max_failures` failures on one number from anywhere lock that number for everyone (distributed
  guessing of the factor), the price being that someone who knows a receipt number can lock it for an hour;
- second line: a client address with `client_max_failures` failures within an hour (spraying many numbers)
  gets a single try per number from then on: one more wrong answer locks it out of that number at once.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from core.db import session_scope
from core.models import VerificationAttempt, utcnow
from core.status_sources import SourceUnavailable


@dataclass(frozen=True)
class LockPolicy:
    max_failures: int = 5            # per requester within the window
    window_minutes: int = 15
    lock_minutes: int = 15
    number_max_failures: int = 10    # per number, whoever asks
    number_lock_minutes: int = 60
    client_max_failures: int = 30    # per client address and hour, over all numbers: then one try per number

    @classmethod
    def from_env(cls) -> "LockPolicy":
        def num(name: str, default: int) -> int:
            try:
                return max(1, int(os.environ.get(name, "").strip() or default))
            except ValueError as exc:
                raise ValueError(f"environment variable {name} must be an integer") from exc
        return cls(max_failures=num("VERIFY_MAX_FAILURES", 5), lock_minutes=num("VERIFY_LOCK_MINUTES", 15),
                   window_minutes=num("VERIFY_WINDOW_MINUTES", 15),
                   client_max_failures=num("VERIFY_CLIENT_MAX_FAILURES", 30))


@dataclass(frozen=True)
class StatusOutcome:
    result: str                       # ok | denied | locked | unavailable
    view: dict[str, Any] | None = None
    retry_after: int = 0              # seconds, when locked


def aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive datetimes
        return value.replace(tzinfo=timezone.utc)
    return value


def _locked_for(session: Session, key: str, now: datetime) -> int:
    row = session.get(VerificationAttempt, key)
    until = aware(row.locked_until) if row else None
    if until and until > now:
        return int((until - now).total_seconds()) + 1
    return 0


def _fail(session: Session, key: str, now: datetime, limit: int, window: timedelta, lock: timedelta) -> None:
    row = session.get(VerificationAttempt, key)
    if row is None:
        row = VerificationAttempt(key=key, failures=0, window_started_at=now, locked_until=None)
        session.add(row)
    if now - aware(row.window_started_at) > window or (row.locked_until and aware(row.locked_until) <= now):
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + lock
        row.failures, row.window_started_at = 0, now


def _recent_failures(session: Session, key: str, now: datetime, window: timedelta) -> int:
    row = session.get(VerificationAttempt, key)
    if row is None or now - aware(row.window_started_at) > window:
        return 0
    return row.failures


CLIENT_WINDOW = timedelta(minutes=60)
NEVER = 10 ** 9  # a counter that never locks by itself


def verified_lookup(number: str, requester: str, lookup: Callable[[], dict[str, Any] | None], *,
                    policy: LockPolicy | None = None, client: str | None = None) -> StatusOutcome:
    """Run `lookup` (None = unknown number or wrong factor) under the lockout rules (module docstring).

    `requester` is who asks ("chat:<sender>", "ip:<address>"); `client` the client address behind a
    conversation when known (the gateway passes a keyed hash of it), None when the requester is the address.
    """
    policy = policy or LockPolicy.from_env()
    now = utcnow()
    client = client if client and client != requester else None
    pairs = [f"pair:{who}|{number}"[:160] for who in ([requester] + ([client] if client else []))]
    number_key, client_key = f"num:{number}"[:160], f"cli:{client or requester}"[:160]
    with session_scope() as session:
        wait = max(_locked_for(session, k, now) for k in pairs + [number_key])
    if wait:
        return StatusOutcome("locked", retry_after=wait)
    try:
        view = lookup()
    except SourceUnavailable:
        return StatusOutcome("unavailable")
    with session_scope() as session:
        if view is None:
            spraying = _recent_failures(session, client_key, now, CLIENT_WINDOW) >= policy.client_max_failures
            for key in pairs:
                _fail(session, key, now, 1 if spraying else policy.max_failures,
                      timedelta(minutes=policy.window_minutes), timedelta(minutes=policy.lock_minutes))
            _fail(session, number_key, now, policy.number_max_failures, timedelta(minutes=60),
                  timedelta(minutes=policy.number_lock_minutes))
            _fail(session, client_key, now, NEVER, CLIENT_WINDOW, CLIENT_WINDOW)
            return StatusOutcome("denied")
        for key in pairs:
            row = session.get(VerificationAttempt, key)
            if row is not None:
                session.delete(row)
    return StatusOutcome("ok", view=view)
