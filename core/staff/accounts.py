"""Staff account management: create, list, change role / password / display name, disable and enable.

Used by the command line (`python -m core.staff`) and by tests; every change writes an audit entry.
Errors carry a Chinese `message` for the person at the keyboard.
"""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.db import session_scope
from core.models import StaffAccount, StaffSession, utcnow
from core.staff import passwords
from core.staff.audit import audit
from core.staff.roles import ROLES

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{1,63}$")
DISPLAY_NAME_MAX = 32


class StaffError(Exception):
    """A refused staff operation; `message` is shown to the person (Chinese)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidInput(StaffError):
    pass


class UnknownAccount(StaffError):
    pass


class DuplicateAccount(StaffError):
    pass


def normalize_username(raw: str) -> str:
    name = (raw or "").strip().lower()
    if not USERNAME.match(name):
        raise InvalidInput("用户名应为2-64位小写字母、数字或 _ . @ -，并以字母或数字开头。")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"角色无效：{role}。可选：{'、'.join(ROLES)}。")
    return role


def check_display_name(display_name: str | None) -> str:
    name = (display_name or "").strip()
    if len(name) > DISPLAY_NAME_MAX or any(not ch.isprintable() for ch in name):
        raise InvalidInput(f"显示名称最多{DISPLAY_NAME_MAX}个字符，且不能包含控制字符。")
    return name


def check_password(password: str, username: str | None = None) -> str:
    problem = passwords.password_problem(password, username)
    if problem:
        raise InvalidInput(problem)
    return password


def create_account(username: str, password: str, role: str, *, display_name: str = "",
                   actor_id: int | None = None, **audit_detail: Any) -> StaffAccount:
    """A new enabled account; the password is hashed with argon2 and never stored in clear."""
    username = normalize_username(username)
    check_role(role)
    display_name = check_display_name(display_name)
    check_password(password, username)
    encoded = passwords.hash_password(password)
    now = utcnow()
    try:
        with session_scope() as session:
            if session.scalar(select(StaffAccount.id).where(StaffAccount.username == username)) is not None:
                raise DuplicateAccount(f"用户名 {username} 已存在。")
            account = StaffAccount(username=username, display_name=display_name, role=role,
                                   password_hash=encoded, disabled=False, failed_logins=0,
                                   created_at=now, updated_at=now)
            session.add(account)
            session.flush()
            audit(session, actor_id, "staff.create", "staff", account.id, username=username, role=role,
                  **audit_detail)
    except IntegrityError as exc:  # created concurrently by someone else
        raise DuplicateAccount(f"用户名 {username} 已存在。") from exc
    return account


def get_account(username: str) -> StaffAccount | None:
    try:
        name = normalize_username(username)
    except InvalidInput:
        return None
    with session_scope() as session:
        return session.scalar(select(StaffAccount).where(StaffAccount.username == name))


def list_accounts() -> list[StaffAccount]:
    with session_scope() as session:
        return list(session.scalars(select(StaffAccount).order_by(StaffAccount.username)))


def _change(username: str, action: str, actor_id: int | None, audit_detail: dict[str, Any], apply) -> StaffAccount:
    name = normalize_username(username)
    with session_scope() as session:
        account = session.scalar(select(StaffAccount).where(StaffAccount.username == name))
        if account is None:
            raise UnknownAccount(f"没有用户名为 {name} 的账号。")
        extra = apply(session, account) or {}
        account.updated_at = utcnow()
        audit(session, actor_id, action, "staff", account.id, username=name, **extra, **audit_detail)
    return account


def _revoke_all(session, staff_id: int) -> int:
    result = session.execute(update(StaffSession)
                             .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
                             .values(revoked_at=utcnow()))
    return result.rowcount or 0


def set_role(username: str, role: str, *, actor_id: int | None = None, **audit_detail: Any) -> StaffAccount:
    """Takes effect at once, also for sessions already open (the role is read on every request)."""
    check_role(role)

    def apply(_session, account):
        old, account.role = account.role, role
        return {"old_role": old, "role": role}

    return _change(username, "staff.set_role", actor_id, audit_detail, apply)


def set_password(username: str, password: str, *, actor_id: int | None = None,
                 **audit_detail: Any) -> StaffAccount:
    """New password; ends every open session of the account and clears a login lock."""
    check_password(password, normalize_username(username))
    encoded = passwords.hash_password(password)

    def apply(session, account):
        account.password_hash = encoded
        account.failed_logins, account.locked_until = 0, None
        return {"sessions_revoked": _revoke_all(session, account.id)}

    return _change(username, "staff.set_password", actor_id, audit_detail, apply)


def set_display_name(username: str, display_name: str, *, actor_id: int | None = None,
                     **audit_detail: Any) -> StaffAccount:
    name = check_display_name(display_name)

    def apply(_session, account):
        account.display_name = name
        return {"display_name": name}

    return _change(username, "staff.set_display_name", actor_id, audit_detail, apply)


def set_disabled(username: str, disabled: bool, *, actor_id: int | None = None,
                 **audit_detail: Any) -> StaffAccount:
    """Disabling ends every open session at once; enabling also clears a login lock."""

    def apply(session, account):
        account.disabled = disabled
        if disabled:
            return {"sessions_revoked": _revoke_all(session, account.id)}
        account.failed_logins, account.locked_until = 0, None
        return {}

    return _change(username, "staff.disable" if disabled else "staff.enable", actor_id, audit_detail, apply)
