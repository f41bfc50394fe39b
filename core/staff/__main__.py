"""Staff accounts from a shell.

    python -m core.staff add USERNAME --role agent --password-stdin [--display-name 坐席007]
    python -m core.staff list [--json]
    python -m core.staff disable USERNAME          (ends its sessions at once)
    python -m core.staff enable USERNAME           (also clears a login lock)
    python -m core.staff set-role USERNAME ROLE
    python -m core.staff set-password USERNAME --password-stdin   (ends its sessions)
    python -m core.staff set-display-name USERNAME NAME

Passwords are read from standard input (first line), never from the command line, and must have at least
10 characters. Roles: agent, supervisor (includes agent), editor, admin (includes all). Exit code 0 on
success, 2 for bad input (unknown user, weak password, ...), 1 when the database cannot be used.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime, timezone

from core.staff import accounts
from core.staff.roles import ROLE_LABELS, ROLES

BAD_INPUT, FAILED = 2, 1


class CliError(Exception):
    def __init__(self, message: str, code: int = BAD_INPUT) -> None:
        self.message, self.code = message, code
        super().__init__(message)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise CliError("没有从标准输入读到密码。用法示例：printf '%s\\n' \"$PASSWORD\" | "
                           "python -m core.staff add NAME --role agent --password-stdin")
        return password
    if not sys.stdin.isatty():
        raise CliError("请加 --password-stdin 并从标准输入提供密码（密码不能写在命令行里）。")
    first = getpass.getpass("新密码：")
    if first != getpass.getpass("再输入一次："):
        raise CliError("两次输入的密码不一致。")
    return first


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def _local(value: datetime | None) -> str:
    if value is None:
        return "-"
    from core.validators import TZ

    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def _status(account) -> str:
    if account.disabled:
        return "已停用"
    locked = account.locked_until
    if locked is not None:
        if locked.tzinfo is None:
            locked = locked.replace(tzinfo=timezone.utc)
        if locked > datetime.now(timezone.utc):
            return f"锁定至{_local(locked)}"
    return "启用"


def _describe(account) -> str:
    shown = f"，显示名称“{account.display_name}”" if account.display_name else ""
    return f"{account.username}（{ROLE_LABELS.get(account.role, account.role)} {account.role}{shown}）"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.staff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--display-name", default="", help="name shown to callers instead of the real name, e.g. 坐席007")
    lst = sub.add_parser("list", help="list accounts")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    for name, text in (("disable", "disable an account and end its sessions"),
                       ("enable", "enable an account and clear a login lock")):
        sub.add_parser(name, help=text).add_argument("username")
    role = sub.add_parser("set-role", help="change an account's role")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    pw = sub.add_parser("set-password", help="set a new password and end the account's sessions")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    dn = sub.add_parser("set-display-name", help="change the name shown to callers ('' to clear)")
    dn.add_argument("username")
    dn.add_argument("display_name")
    return parser


def run(args: argparse.Namespace) -> None:
    via = {"via": "cli", "os_user": _who()}
    if args.command == "add":
        password = _read_password(args.password_stdin)
        account = accounts.create_account(args.username, password, args.role, display_name=args.display_name, **via)
        print(f"已创建账号 {_describe(account)}。")
    elif args.command == "list":
        rows = accounts.list_accounts()
        if args.json:
            print(json.dumps([{"username": a.username, "role": a.role, "display_name": a.display_name,
                               "disabled": a.disabled, "status": _status(a),
                               "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None}
                              for a in rows], ensure_ascii=False, indent=2))
        elif not rows:
            print("还没有账号。创建：python -m core.staff add USERNAME --role agent --password-stdin")
        else:
            print(f"{'用户名':<20}{'角色':<12}{'显示名称':<14}{'状态':<20}最近登录")
            for a in rows:
                print(f"{a.username:<23}{a.role:<14}{(a.display_name or '-'):<16}{_status(a):<22}{_local(a.last_login_at)}")
    elif args.command in ("disable", "enable"):
        account = accounts.set_disabled(args.username, args.command == "disable", **via)
        print(f"账号 {account.username} 已{'停用，已登录的会话全部失效' if account.disabled else '启用'}。")
    elif args.command == "set-role":
        account = accounts.set_role(args.username, args.role, **via)
        print(f"账号 {_describe(account)} 的角色已更新，立即生效。")
    elif args.command == "set-password":
        password = _read_password(args.password_stdin)
        account = accounts.set_password(args.username, password, **via)
        print(f"账号 {account.username} 的密码已更新，原有会话全部失效。")
    elif args.command == "set-display-name":
        account = accounts.set_display_name(args.username, args.display_name, **via)
        print(f"账号 {_describe(account)} 的显示名称已更新。")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)   # usage errors: argparse prints them and exits with 2
    try:
        from core.db import upgrade

        upgrade()
        run(args)
    except CliError as exc:
        print(exc.message, file=sys.stderr)
        return exc.code
    except accounts.StaffError as exc:
        print(exc.message, file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("已取消。", file=sys.stderr)
        return 130
    except Exception as exc:  # database unreachable, wrong DATABASE_URL, ...: a message, not a traceback
        from sqlalchemy.exc import SQLAlchemyError

        hint = "无法使用数据库，请检查 DATABASE_URL。" if isinstance(exc, SQLAlchemyError) else "请联系系统管理员。"
        print(f"操作失败（{type(exc).__name__}）：{hint}", file=sys.stderr)
        return FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
