"""Staff accounts (core/staff): roles, argon2 hashing, lockout, sessions, audit log and the command line."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import session_scope
from core.models import StaffAccount, StaffAudit, StaffSession, utcnow
from core.settings import get_settings
from core.staff import (
    ROLES,
    DuplicateAccount,
    InvalidCredentials,
    InvalidInput,
    UnknownAccount,
    audit,
    audit_entries,
    create_account,
    get_account,
    has_role,
    hash_password,
    login,
    logout,
    resolve_session,
    revoke_token,
    set_disabled,
    set_display_name,
    set_password,
    set_role,
    verify_password,
)
from core.staff import passwords
from tests.staff_fixtures import PASSWORD, make_staff, staff_db  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


# -- roles ---------------------------------------------------------------------------------------------------
def test_role_hierarchy():
    allowed = {(role, need) for role in ROLES for need in ROLES if has_role(role, need)}
    assert allowed == {
        ("agent", "agent"),
        ("supervisor", "supervisor"), ("supervisor", "agent"),
        ("editor", "editor"),
        ("admin", "admin"), ("admin", "supervisor"), ("admin", "agent"), ("admin", "editor"),
    }
    assert has_role("editor", ["agent", "editor"]) and not has_role("agent", ("editor", "admin"))
    assert not has_role(None, "agent") and not has_role("root", "agent")


def test_unknown_required_role_is_a_programming_error():
    with pytest.raises(ValueError):
        has_role("admin", "agnet")
    with pytest.raises(ValueError):
        has_role("admin", [])


def test_a_disabled_account_has_no_role():
    class Account:
        role, disabled = "admin", True

    assert not has_role(Account(), "agent")


# -- passwords -----------------------------------------------------------------------------------------------
def test_passwords_are_argon2id_hashes_with_the_default_cost():
    assert passwords.hasher.time_cost >= 2 and passwords.hasher.memory_cost >= 19 * 1024
    encoded = hash_password(PASSWORD)
    assert encoded.startswith("$argon2id$") and PASSWORD not in encoded
    assert encoded != hash_password(PASSWORD), "salted"
    assert verify_password(encoded, PASSWORD)
    assert not verify_password(encoded, PASSWORD + "x")
    assert not verify_password("not a hash", PASSWORD)


def test_weak_passwords_are_refused(staff_db):
    for bad, why in [("short", "至少需要10个字符"), ("aaaaaaaaaaaa", "过于简单"), (" padded password ", "空格"),
                     ("zhangsan01", "用户名相同")]:
        with pytest.raises(InvalidInput) as err:
            create_account("zhangsan01", bad, "agent")
        assert why in err.value.message
    assert get_account("zhangsan01") is None


def test_only_the_hash_is_stored(staff_db):
    create_account("Alice", PASSWORD, "agent", display_name="坐席007")
    with session_scope() as session:
        account = session.scalar(select(StaffAccount))
    assert account.username == "alice" and account.display_name == "坐席007"
    assert account.password_hash.startswith("$argon2id$") and PASSWORD not in account.password_hash
    with pytest.raises(DuplicateAccount):
        create_account("ALICE", PASSWORD, "agent")
    for bad in [("a", "agent"), ("bob", "root"), ("bob smith", "agent")]:
        with pytest.raises(InvalidInput):
            create_account(bad[0], PASSWORD, bad[1])
    with pytest.raises(InvalidInput):
        create_account("bob", PASSWORD, "agent", display_name="x" * 40)


# -- login and lockout ---------------------------------------------------------------------------------------
def test_login_opens_a_session_stored_as_sha256(staff_db):
    create_account("alice", PASSWORD, "supervisor", display_name="班长01")
    new = login("  Alice ", PASSWORD, client="10.0.0.1")
    assert new.token.startswith("stf_") and len(new.token) >= 40
    assert new.principal.role == "supervisor" and new.principal.display_name == "班长01"
    assert new.principal.roles == {"supervisor", "agent"} and new.principal.public_name == "班长01"
    with session_scope() as session:
        row = session.scalar(select(StaffSession))
        stored = [str(v) for v in (row.token_hash, row.csrf_hash)]
    assert row.token_hash == hashlib.sha256(new.token.encode()).hexdigest()
    assert new.token not in stored and new.csrf_token not in stored
    assert timedelta(hours=11, minutes=59) < new.expires_at - utcnow() <= timedelta(hours=12)
    principal = resolve_session(new.token)
    assert principal is not None and principal.username == "alice" and principal.session_id == row.id
    assert resolve_session("stf_" + "x" * 43) is None and resolve_session("garbage") is None
    assert resolve_session(None) is None and resolve_session("") is None


def test_failures_look_alike_and_lock_the_account(staff_db, monkeypatch):
    monkeypatch.setenv("STAFF_LOCK_MAX_FAILURES", "3")
    monkeypatch.setenv("STAFF_LOCK_MINUTES", "15")
    get_settings.cache_clear()
    create_account("alice", PASSWORD, "agent")
    errors = []
    for user, pw in [("nobody", PASSWORD), ("alice", "wrong password 1"), ("", ""), ("a" * 300, "x")]:
        with pytest.raises(InvalidCredentials) as err:
            login(user, pw)
        errors.append(str(err.value))
    assert errors[0] == "unknown_user" and errors[1] == "wrong_password"  # reasons stay inside core/
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            login("alice", "wrong password 2")
    with pytest.raises(InvalidCredentials) as err:
        login("alice", PASSWORD)                        # right password, but locked now
    assert str(err.value) == "locked"
    account = get_account("alice")
    assert account.locked_until is not None and account.failed_logins == 0
    later = utcnow() + timedelta(minutes=16)
    assert login("alice", PASSWORD, now=later).principal.username == "alice"
    account = get_account("alice")
    assert account.locked_until is None and account.failed_logins == 0 and account.last_login_at is not None
    with session_scope() as session:
        reasons = [e.detail["reason"] for e in audit_entries(session, action="staff.login_failed")]
        assert "wrong_password_now_locked" in reasons and "locked" in reasons and "unknown_user" in reasons
        assert all(PASSWORD not in str(e.detail) and "wrong password" not in str(e.detail)
                   for e in audit_entries(session))


def test_a_success_resets_the_failure_count(staff_db, monkeypatch):
    monkeypatch.setenv("STAFF_LOCK_MAX_FAILURES", "3")
    get_settings.cache_clear()
    create_account("alice", PASSWORD, "agent")
    for _ in range(5):
        for _ in range(2):
            with pytest.raises(InvalidCredentials):
                login("alice", "wrong password")
        login("alice", PASSWORD)                      # never 3 in a row: never locked


def test_enable_clears_a_lock(staff_db, monkeypatch):
    monkeypatch.setenv("STAFF_LOCK_MAX_FAILURES", "1")
    get_settings.cache_clear()
    create_account("alice", PASSWORD, "agent")
    with pytest.raises(InvalidCredentials):
        login("alice", "wrong password")
    with pytest.raises(InvalidCredentials):
        login("alice", PASSWORD)
    set_disabled("alice", False)
    assert login("alice", PASSWORD)


# -- expiry and revocation -----------------------------------------------------------------------------------
def test_sessions_expire(staff_db, monkeypatch):
    create_account("alice", PASSWORD, "agent")
    old = login("alice", PASSWORD, now=utcnow() - timedelta(hours=13))
    assert resolve_session(old.token) is None
    new = login("alice", PASSWORD)
    assert resolve_session(new.token, now=new.expires_at - timedelta(seconds=1)) is not None
    assert resolve_session(new.token, now=new.expires_at) is None
    monkeypatch.setenv("STAFF_SESSION_HOURS", "2")
    get_settings.cache_clear()
    short = login("alice", PASSWORD)
    assert timedelta(hours=1, minutes=59) < short.expires_at - utcnow() <= timedelta(hours=2)


def test_logout_and_revocation(staff_db):
    create_account("alice", PASSWORD, "agent")
    a, b, c = (login("alice", PASSWORD) for _ in range(3))
    assert logout(resolve_session(a.token)) is True
    assert resolve_session(a.token) is None and resolve_session(b.token) is not None
    assert revoke_token(b.token) is True and revoke_token(b.token) is False
    assert resolve_session(b.token) is None
    set_password("alice", "another good password")   # ends every other session
    assert resolve_session(c.token) is None
    with pytest.raises(InvalidCredentials):
        login("alice", PASSWORD)
    assert login("alice", "another good password")


def test_disable_ends_sessions_and_logins(staff_db):
    create_account("alice", PASSWORD, "agent")
    session_token = login("alice", PASSWORD).token
    set_disabled("alice", True)
    assert resolve_session(session_token) is None
    with pytest.raises(InvalidCredentials) as err:
        login("alice", PASSWORD)
    assert str(err.value) == "disabled"
    set_disabled("alice", False)
    assert resolve_session(login("alice", PASSWORD).token) is not None
    assert resolve_session(session_token) is None, "a revoked session stays revoked"


def test_role_and_display_name_changes_apply_to_open_sessions(staff_db):
    create_account("alice", PASSWORD, "agent")
    token = login("alice", PASSWORD).token
    set_role("alice", "editor")
    set_display_name("alice", "编辑01")
    principal = resolve_session(token)
    assert principal.role == "editor" and not has_role(principal, "agent") and principal.public_name == "编辑01"
    with pytest.raises(UnknownAccount):
        set_role("nobody", "agent")
    with pytest.raises(InvalidInput):
        set_role("alice", "root")


def test_sessions_survive_a_restart_and_work_in_another_process(staff_db):
    from core.db import _engine_for

    create_account("alice", PASSWORD, "agent", display_name="坐席007")
    token = login("alice", PASSWORD).token
    _engine_for.cache_clear()                        # as after a restart: new engine, nothing in memory
    assert resolve_session(token).username == "alice"
    code = "import sys; from core.staff import resolve_session; print(resolve_session(sys.stdin.read()).public_name)"
    out = subprocess.run([sys.executable, "-c", code], input=token, capture_output=True, text=True, timeout=120,
                         env=_env(staff_db), cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "坐席007"


# -- audit log -----------------------------------------------------------------------------------------------
def test_audit_entries(staff_db):
    account = create_account("alice", PASSWORD, "agent")
    with session_scope() as session:
        entry = audit(session, account.id, "handoff.reveal", "handoff", 42, field="phone",
                      note="回拨13912345678", when=utcnow().date(), items=("a", "b"))
    with session_scope() as session:
        row = session.get(StaffAudit, entry.id)
        assert (row.staff_id, row.action, row.target_type, row.target_id) == (account.id, "handoff.reveal",
                                                                              "handoff", "42")
        assert row.detail["note"] == "回拨139****5678" and row.detail["items"] == ["a", "b"]
        assert row.created_at is not None
        assert [e.id for e in audit_entries(session, target_type="handoff", target_id=42)] == [entry.id]
        assert audit_entries(session, action="staff.create", target_type="staff", target_id=account.id)
    with session_scope() as session:
        with pytest.raises(ValueError):
            audit(session, account.id, "staff.x", password="secret!")
        with pytest.raises(ValueError):
            audit(session, account.id, "staff.x", nested={"api_token": "x"})
        with pytest.raises(TypeError):
            audit(session, account.id, "staff.x", obj=object())
        with pytest.raises(ValueError):
            audit(session, account.id, "")


def test_audit_is_part_of_the_callers_transaction(staff_db):
    with pytest.raises(RuntimeError):
        with session_scope() as session:
            audit(session, None, "ticket.close", "ticket", "T1")
            raise RuntimeError("the change failed")
    with session_scope() as session:
        assert audit_entries(session, action="ticket.close") == []


# -- the command line ----------------------------------------------------------------------------------------
def _env(data_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("STAFF_")}
    return {**env, "HOTLINE_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}


def cli(data_dir, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.staff", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, env=_env(data_dir), cwd=ROOT)


def test_cli_manages_accounts(staff_db):
    secret = "a long enough secret 42"
    added = cli(staff_db, "add", "Wang", "--role", "agent", "--password-stdin", "--display-name", "坐席007",
                stdin=secret + "\n")
    assert added.returncode == 0, added.stderr
    assert "wang" in added.stdout and "坐席007" in added.stdout and secret not in added.stdout + added.stderr
    assert login("wang", secret).principal.display_name == "坐席007"

    listed = cli(staff_db, "list")
    assert listed.returncode == 0 and "wang" in listed.stdout and "agent" in listed.stdout and "启用" in listed.stdout
    assert '"role": "agent"' in cli(staff_db, "list", "--json").stdout

    assert cli(staff_db, "set-role", "wang", "supervisor").returncode == 0
    assert get_account("wang").role == "supervisor"

    assert cli(staff_db, "disable", "wang").returncode == 0
    with pytest.raises(InvalidCredentials):
        login("wang", secret)
    assert "已停用" in cli(staff_db, "list").stdout
    assert cli(staff_db, "enable", "wang").returncode == 0
    assert login("wang", secret)

    changed = cli(staff_db, "set-password", "wang", "--password-stdin", stdin="brand new secret 7\n")
    assert changed.returncode == 0, changed.stderr
    with pytest.raises(InvalidCredentials):
        login("wang", secret)
    assert login("wang", "brand new secret 7")

    with session_scope() as session:
        actions = [e.action for e in audit_entries(session, target_type="staff")]
        assert {"staff.create", "staff.set_role", "staff.disable", "staff.enable", "staff.set_password"} <= set(actions)
        assert all(e.detail.get("via") == "cli" for e in audit_entries(session, action="staff.create"))


@pytest.mark.parametrize("args, stdin, message", [
    (("add", "li", "--role", "agent", "--password-stdin"), "short\n", "至少需要10个字符"),
    (("add", "li", "--role", "agent", "--password-stdin"), "", "没有从标准输入读到密码"),
    (("add", "li", "--role", "agent"), "ignored password 123\n", "--password-stdin"),
    (("add", "li", "--role", "root", "--password-stdin"), "a long enough secret\n", "invalid choice"),
    (("add", "-", "--role", "agent", "--password-stdin"), "a long enough secret\n", "用户名应为"),
    (("disable", "nobody"), None, "没有用户名为 nobody 的账号"),
    (("set-role", "nobody", "agent"), None, "没有用户名为 nobody 的账号"),
    (("set-password", "nobody", "--password-stdin"), "a long enough secret\n", "没有用户名为 nobody 的账号"),
    (("frobnicate",), None, "invalid choice"),
])
def test_cli_bad_input_exits_2_without_a_traceback(staff_db, args, stdin, message):
    out = cli(staff_db, *args, stdin=stdin)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert message in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert "a long enough secret" not in out.stderr + out.stdout


def test_cli_refuses_a_duplicate(staff_db):
    create_account("li", PASSWORD, "agent")
    out = cli(staff_db, "add", "LI", "--role", "editor", "--password-stdin", stdin="a long enough secret\n")
    assert out.returncode == 2 and "已存在" in out.stderr and "Traceback" not in out.stderr
    assert get_account("li").role == "agent"


def test_cli_reports_an_unusable_database_without_a_traceback(staff_db, tmp_path):
    env = {**_env(staff_db), "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    out = subprocess.run([sys.executable, "-m", "core.staff", "list"], capture_output=True, text=True, timeout=120,
                         env=env, cwd=ROOT)
    assert out.returncode == 1 and "DATABASE_URL" in out.stderr and "Traceback" not in out.stderr
