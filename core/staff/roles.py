"""Staff roles and the one permission check, `has_role`.

    agent       answers callers in the agent console (claims handoffs, reveals a caller's number to call back)
    supervisor  everything an agent may do, plus the supervisor dashboard and moving applications/tickets on
    editor      edits service guides; separate from agent/supervisor (an editor is not an agent, nor the reverse)
    admin       may do everything, including what editors do

A route or function states the role it needs; `has_role(account, "agent")` is true for agents, supervisors
and admins, `has_role(account, "editor")` for editors and admins. Several required roles mean "any of them".
"""
from __future__ import annotations

from collections.abc import Iterable

ROLES: tuple[str, ...] = ("agent", "supervisor", "editor", "admin")

# role -> the roles it includes
GRANTS: dict[str, frozenset[str]] = {
    "agent": frozenset({"agent"}),
    "supervisor": frozenset({"supervisor", "agent"}),
    "editor": frozenset({"editor"}),
    "admin": frozenset(ROLES),
}

ROLE_LABELS = {"agent": "坐席", "supervisor": "班长/质检", "editor": "指南编辑", "admin": "管理员"}


def effective_roles(role: str) -> frozenset[str]:
    """Every role `role` includes (an unknown role includes none)."""
    return GRANTS.get(role, frozenset())


def required_roles(required: str | Iterable[str]) -> tuple[str, ...]:
    wanted = (required,) if isinstance(required, str) else tuple(required)
    unknown = [r for r in wanted if r not in GRANTS]
    if not wanted or unknown:
        raise ValueError(f"unknown staff role(s) required: {unknown or 'none given'}; known: {', '.join(ROLES)}")
    return wanted


def has_role(account: object, required: str | Iterable[str]) -> bool:
    """True when `account` may act as (any of) `required`.

    `account` is a role name, or anything with a `role` attribute (StaffAccount, StaffPrincipal); an object
    whose `disabled` attribute is true has no role at all. Asking for an unknown role is a programming error
    (ValueError), so a typo such as "agnet" fails loudly instead of locking everybody out or letting them in.
    """
    wanted = required_roles(required)
    if account is None or getattr(account, "disabled", False):
        return False
    role = account if isinstance(account, str) else getattr(account, "role", None)
    granted = effective_roles(role) if isinstance(role, str) else frozenset()
    return any(r in granted for r in wanted)
