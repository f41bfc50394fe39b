"""Staff login and sessions.

A session is an opaque random token (`stf_` + 43 URL-safe characters, 256 bits) given to the client once;
the database keeps only its sha256, an expiry (STAFF_SESSION_HOURS, default 12) and a revocation time, so
sessions survive restarts and work across several gateway processes. Each session also has a CSRF token
(also stored as sha256) for browser consoles that authenticate with the session cookie.

Login failures all look the same (`InvalidCredentials`) whether the username is unknown, the password is
wrong, the account is disabled or it is locked, so usernames cannot be probed; an unknown username costs the
same argon2 time as a known one. After STAFF_LOCK_MAX_FAILURES consecutive wrong passwords an account is
locked for STAFF_LOCK_MINUTES (even the right password is refused meanwhile); a successful login, a new
password or `enable` clears the count.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, or_, select, update

from core.db import session_scope
from core.models import StaffAccount, StaffSession, utcnow
from core.settings import get_settings
from core.staff import passwords
from core.staff.accounts import USERNAME
from core.staff.audit import audit
from core.staff.roles import effective_roles

TOKEN_PREFIX = "stf_"
MAX_TOKEN_LENGTH = 128
PURGE_AFTER = timedelta(days=1)     # expired or revoked session rows are deleted this long afterwards


class InvalidCredentials(Exception):
    """Unknown user, wrong password, disabled or locked account: deliberately indistinguishable."""


@dataclass(frozen=True)
class StaffPrincipal:
    """Who is calling: a logged-in staff member, or the automation service token (`via == "service"`)."""

    staff_id: int | None
    username: str
    role: str
    display_name: str = ""
    session_id: int | None = None
    expires_at: datetime | None = None
    via: str = "bearer"                       # bearer | cookie | service
    csrf_hash: str = field(default="", repr=False)

    @property
    def roles(self) -> frozenset[str]:
        """Every role this principal may act as (role hierarchy, core/staff/roles.py)."""
        return effective_roles(self.role)

    @property
    def public_name(self) -> str:
        """What a caller may see: the display name (工号 such as 坐席007), never the login name."""
        return self.display_name or "人工客服"

    @property
    def actor(self) -> str:
        """Short label for event logs such as application_events.actor."""
        return "admin-api" if self.via == "service" else f"staff:{self.username}"[:64]


@dataclass(frozen=True)
class NewSession:
    token: str            # give to the client once; never stored
    csrf_token: str       # for the staff_csrf cookie / X-CSRF-Token header
    expires_at: datetime
    principal: StaffPrincipal


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_session_token(token: str | None) -> bool:
    return bool(token) and token.startswith(TOKEN_PREFIX) and len(token) <= MAX_TOKEN_LENGTH


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive datetimes
        return value.replace(tzinfo=timezone.utc)
    return value


def _principal(account: StaffAccount, row: StaffSession, via: str = "bearer") -> StaffPrincipal:
    return StaffPrincipal(staff_id=account.id, username=account.username, role=account.role,
                          display_name=account.display_name or "", session_id=row.id,
                          expires_at=_aware(row.expires_at), via=via, csrf_hash=row.csrf_hash)


def login(username: str, password: str, *, client: str = "", now: datetime | None = None) -> NewSession:
    """Check the password and open a session; raises InvalidCredentials (after recording the failure)."""
    settings = get_settings()
    now = now or utcnow()
    name = (username or "").strip().lower()
    password = password if isinstance(password, str) else ""
    failure: str | None = None
    new: NewSession | None = None
    with session_scope() as session:
        account = session.scalar(select(StaffAccount).where(StaffAccount.username == name)) \
            if USERNAME.match(name) else None
        if account is None:
            passwords.verify_unknown(password)
            failure = "unknown_user"
            audit(session, None, "staff.login_failed", "staff", None, reason=failure, client=client)
        else:
            ok = passwords.verify_password(account.password_hash, password)
            locked_until = _aware(account.locked_until)
            if account.disabled:
                failure = "disabled"
            elif locked_until is not None and locked_until > now:
                failure = "locked"
            elif not ok:
                failure = "wrong_password"
                session.execute(update(StaffAccount).where(StaffAccount.id == account.id)
                                .values(failed_logins=StaffAccount.failed_logins + 1))
                session.refresh(account)
                if account.failed_logins >= settings.staff_lock_max_failures:
                    account.locked_until = now + timedelta(minutes=settings.staff_lock_minutes)
                    account.failed_logins = 0
                    failure = "wrong_password_now_locked"
            if failure:
                audit(session, account.id, "staff.login_failed", "staff", account.id, reason=failure, client=client)
            else:
                if passwords.needs_rehash(account.password_hash):
                    account.password_hash = passwords.hash_password(password)
                account.failed_logins, account.locked_until, account.last_login_at = 0, None, now
                token = TOKEN_PREFIX + secrets.token_urlsafe(32)
                csrf = secrets.token_urlsafe(32)
                row = StaffSession(staff_id=account.id, token_hash=token_hash(token), csrf_hash=token_hash(csrf),
                                   created_at=now, expires_at=now + timedelta(hours=settings.staff_session_hours))
                session.add(row)
                session.flush()
                audit(session, account.id, "staff.login", "staff_session", row.id, client=client)
                session.execute(delete(StaffSession).where(or_(StaffSession.expires_at < now - PURGE_AFTER,
                                                               StaffSession.revoked_at < now - PURGE_AFTER)))
                new = NewSession(token=token, csrf_token=csrf, expires_at=_aware(row.expires_at),
                                 principal=_principal(account, row))
    if new is None:
        raise InvalidCredentials(failure)
    return new


def resolve_session(token: str | None, *, via: str = "bearer", now: datetime | None = None) -> StaffPrincipal | None:
    """The principal of a valid session token; None when unknown, expired, revoked or the account is disabled."""
    if not looks_like_session_token(token):
        return None
    now = now or utcnow()
    with session_scope() as session:
        found = session.execute(
            select(StaffSession, StaffAccount).join(StaffAccount, StaffAccount.id == StaffSession.staff_id)
            .where(StaffSession.token_hash == token_hash(token))
        ).first()
        if found is None:
            return None
        row, account = found
        if row.revoked_at is not None or _aware(row.expires_at) <= now or account.disabled:
            return None
        return _principal(account, row, via)


def csrf_matches(principal: StaffPrincipal, csrf_token: str | None) -> bool:
    """The CSRF token belongs to this principal's session."""
    if not csrf_token or not principal.csrf_hash or len(csrf_token) > MAX_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(token_hash(csrf_token), principal.csrf_hash)


def logout(principal: StaffPrincipal, *, client: str = "") -> bool:
    """Revoke the principal's session; True when it was still open."""
    if principal.session_id is None:
        return False
    with session_scope() as session:
        result = session.execute(update(StaffSession)
                                 .where(StaffSession.id == principal.session_id, StaffSession.revoked_at.is_(None))
                                 .values(revoked_at=utcnow()))
        if result.rowcount:
            audit(session, principal.staff_id, "staff.logout", "staff_session", principal.session_id, client=client)
        return bool(result.rowcount)


def revoke_token(token: str) -> bool:
    """Revoke a session by its token (e.g. from a script); True when it was still open."""
    if not looks_like_session_token(token):
        return False
    with session_scope() as session:
        result = session.execute(update(StaffSession)
                                 .where(StaffSession.token_hash == token_hash(token), StaffSession.revoked_at.is_(None))
                                 .values(revoked_at=utcnow()))
        return bool(result.rowcount)
