"""The staff audit log (`staff_audit`): who did what to which record, and when.

Every feature that lets staff see or change a caller's data writes one entry with `audit(...)` in the
same database transaction as the change itself, so the change and its record commit (or roll back)
together:

    from core.staff import audit
    with session_scope() as session:
        handoff.status = "claimed"
        audit(session, principal.staff_id, "handoff.claim", "handoff", handoff.id, channel="web")

Action names are `<area>.<verb>`: `staff.login`, `staff.login_failed`, `staff.logout`, `staff.create`,
`staff.set_role`, `staff.set_password`, `staff.disable`, `staff.enable`, `staff.set_display_name`,
`application.advance`; later `handoff.claim`, `handoff.reveal`, `handoff.release`, `handoff.close`,
`ticket.*`, `guide.*`. `staff_id` is None for the service token (ADMIN_TOKEN) and the command line.

Details must be JSON values; strings in them are masked with core.privacy.mask_text (ID and phone
numbers), and keys that look like secrets (password, token, secret, csrf) are refused outright.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import StaffAudit, utcnow
from core.privacy import mask_text

SECRET_WORDS = ("password", "passwd", "token", "secret", "csrf")


def _clean(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return mask_text(value)[:2000]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = str(key)
            if any(word in key.lower() for word in SECRET_WORDS):
                raise ValueError(f"audit detail {path}{key!r} looks like a secret; secrets are never logged")
            out[key] = _clean(item, f"{path}{key}.")
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(item, path) for item in value]
    raise TypeError(f"audit detail {path.rstrip('.') or 'value'} is not a JSON value: {type(value).__name__}")


def audit(session: Session, staff_id: int | None, action: str, target_type: str | None = None,
          target_id: object = None, **detail: Any) -> StaffAudit:
    """Add one audit entry to `session` (committed with the caller's transaction) and return it."""
    if not isinstance(action, str) or not action or len(action) > 64:
        raise ValueError("audit action must be a non-empty string of at most 64 characters")
    entry = StaffAudit(
        staff_id=staff_id, action=action,
        target_type=None if target_type is None else str(target_type)[:32],
        target_id=None if target_id is None else str(target_id)[:128],
        detail=_clean(detail, ""), created_at=utcnow(),
    )
    session.add(entry)
    return entry


def audit_entries(session: Session, *, staff_id: int | None = None, action: str | None = None,
                  target_type: str | None = None, target_id: object = None,
                  actions: Iterable[str] | None = None, limit: int = 100) -> list[StaffAudit]:
    """Latest entries first, filtered by any of the given fields."""
    query = select(StaffAudit)
    if staff_id is not None:
        query = query.where(StaffAudit.staff_id == staff_id)
    if action is not None:
        query = query.where(StaffAudit.action == action)
    if actions is not None:
        query = query.where(StaffAudit.action.in_(list(actions)))
    if target_type is not None:
        query = query.where(StaffAudit.target_type == target_type)
    if target_id is not None:
        query = query.where(StaffAudit.target_id == str(target_id))
    return list(session.scalars(query.order_by(StaffAudit.id.desc()).limit(max(1, limit))))
