"""Staff accounts shared by every staff console (agent console, guide editor, ticket desk, supervisor dashboard).

    roles.py     ROLES and has_role(account, required): supervisor ⊇ agent, admin ⊇ everything, editor apart
    passwords.py argon2id hashing and the password rule (at least 10 characters)
    accounts.py  create / list / set_role / set_password / set_display_name / set_disabled (+ audit entries)
    sessions.py  login (lockout, generic failure), opaque session tokens stored as sha256, logout
    audit.py     audit(session, staff_id, action, target_type, target_id, **detail) -> staff_audit
    __main__.py  the command line: python -m core.staff add|list|disable|enable|set-role|set-password|...

The gateway's FastAPI dependencies live in connectors/gateway/auth.py; this package imports nothing from
connectors/ or actions/.
"""
from core.staff.accounts import (
    DuplicateAccount,
    InvalidInput,
    StaffError,
    UnknownAccount,
    create_account,
    get_account,
    list_accounts,
    set_disabled,
    set_display_name,
    set_password,
    set_role,
)
from core.staff.audit import audit, audit_entries
from core.staff.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from core.staff.roles import ROLES, effective_roles, has_role
from core.staff.sessions import (
    InvalidCredentials,
    NewSession,
    StaffPrincipal,
    csrf_matches,
    login,
    logout,
    resolve_session,
    revoke_token,
)

__all__ = [
    "MIN_PASSWORD_LENGTH", "ROLES", "DuplicateAccount", "InvalidCredentials", "InvalidInput", "NewSession",
    "StaffError", "StaffPrincipal", "UnknownAccount", "audit", "audit_entries", "create_account", "csrf_matches",
    "effective_roles", "get_account", "has_role", "hash_password", "list_accounts", "login", "logout",
    "resolve_session", "revoke_token", "set_disabled", "set_display_name", "set_password", "set_role",
    "verify_password",
]
