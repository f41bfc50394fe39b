"""One-table applications: receipt numbers, idempotent submission, life cycle and verified status checks.

Used by the action server (conversation) and the gateway (API), so both behave the same.

Staff move an application through its life cycle from the command line:

    python -m core.applications advance NM20250301ABCD2345 --item 户口登记 --status 需补正 \
        --note "请补交落户方居民户口簿原件" --due 2025-03-15
    python -m core.applications show NM20250301ABCD2345
    python -m core.applications list [--limit 20]

Life cycle of each covered item: 已提交 -> 预审中 -> 审批中 -> 已办结 -> 已出件 / 已寄递, with 需补正
(what to supply and by when) possible from 已提交, 预审中 and 审批中, and back to 预审中 / 审批中
once the caller has supplied it. The overall status is 需补正 while any item needs
supplements, else the least advanced item's status.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import status_sources
from core.application_forms import ApplicationForm, form_for
from core.db import session_scope
from core.models import Application, ApplicationEvent, ApplicationItem, utcnow
from core.settings import get_settings
from core.status_sources import FACTOR_PATTERN, NUMBER_PATTERN, application_view
from core.validators import TZ, today_local
from core.verification import LockPolicy, StatusOutcome, verified_lookup  # noqa: F401 (re-exported)
from core.verification import aware
from knowledge.schema import Guide

NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: unambiguous when read aloud
NUMBER_SUFFIX = 8
STATUSES = status_sources.STATUSES
SUPPLEMENT = "需补正"
TRANSITIONS: dict[str, set[str]] = {
    "已提交": {"预审中", "审批中", SUPPLEMENT},
    "预审中": {"审批中", SUPPLEMENT},
    SUPPLEMENT: {"预审中", "审批中"},
    "审批中": {"已办结", SUPPLEMENT},
    "已办结": {"已出件", "已寄递"},
    "已出件": set(),
    "已寄递": set(),
}
_RANK = {"已提交": 0, "预审中": 1, "审批中": 2, "已办结": 3, "已出件": 4, "已寄递": 4}
DEFAULT_SUPPLEMENT_DAYS = 10


class ApplicationError(Exception):
    """Base of the errors callers can act on; `message` is Chinese for the user or staff."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class UnknownGuide(ApplicationError):
    pass


class InvalidApplication(ApplicationError):
    def __init__(self, errors: dict[str, str], form: ApplicationForm) -> None:
        self.errors, self.form = errors, form
        super().__init__("；".join(f"{(form.get(k).label if form.get(k) else k)}：{v}" for k, v in errors.items()))


class NotFound(ApplicationError):
    pass


class TransitionError(ApplicationError):
    pass


# -- receipt numbers and keys --------------------------------------------------------------------------
def new_number(day: date | None = None) -> str:
    day = day or today_local()
    return "NM" + day.strftime("%Y%m%d") + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(NUMBER_SUFFIX))


def normalize_number(raw: str | None) -> str:
    return "".join((raw or "").split()).upper()


def content_key(scope: str, guide: str, items: Iterable[str], data: dict[str, Any]) -> str:
    """Idempotency key: same sender + same guide, items and form content = same application."""
    payload = json.dumps({"scope": scope, "guide": guide, "items": sorted(items), "data": data},
                         ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def explicit_key(scope: str, key: str) -> str:
    return hashlib.sha256(f"explicit|{scope}|{key}".encode("utf-8")).hexdigest()


def verification_factors(form: ApplicationForm, data: dict[str, str]) -> list[str]:
    """Last 4 digits of every phone, last 6 characters of every ID number on the form."""
    factors = []
    for spec in form.fields:
        value = (data.get(spec.field) or "").upper()
        if spec.type == "phone" and len(value) >= 4:
            factors.append(value[-4:])
        elif spec.type == "id_number" and len(value) == 18:
            factors.append(value[-6:])
    return factors


def print_url(number: str, token: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/api/applications/{number}/form?token={token}"


# -- guides -----------------------------------------------------------------------------------------------
def get_guide(name: str) -> Guide:
    from knowledge.catalog import get_catalog

    guide = get_catalog().get(name)
    if guide is None:
        raise UnknownGuide(f"没有找到“{name}”这个办事指南。")
    if not guide.form:
        raise UnknownGuide(f"“{name}”暂不支持在线一表申请，请到窗口办理。")
    return guide


def next_steps(guide: Guide, items: Iterable[str]) -> dict[str, Any]:
    """Where to go with which originals, and the 容缺 rule, for the chosen items."""
    chosen = set(items)
    originals = []
    for m in guide.materials:
        if "申请表" in m.name or "原件" not in m.form or m.when:
            continue
        if m.items and not (set(m.items) & chosen):
            continue
        originals.append(m.name)
    return {
        "windows": list(guide.where.windows),
        "originals": originals,
        "deferral_note": guide.deferral_note,
        "promised_time": guide.time_limit.promised,
        "online": list(guide.where.online.channels) if guide.where.online.available else [],
    }


# -- creation ---------------------------------------------------------------------------------------------
@dataclass
class Submission:
    view: dict[str, Any]
    created: bool
    print_url: str
    next_steps: dict[str, Any] = field(default_factory=dict)


def create_application(*, guide: str, items: Iterable[str] | None, data: dict[str, Any], channel: str,
                       sender: str, idempotency_key: str | None = None, today: date | None = None) -> Submission:
    """Validate and store an application; the same submission twice returns the first one."""
    guide_obj = get_guide(guide)
    form = form_for(guide_obj, items)  # raises UnknownItems
    clean, errors = form.validate(data or {}, today=today)
    if errors:
        raise InvalidApplication(errors, form)
    scope = f"{channel}|{sender}"
    key = explicit_key(scope, idempotency_key) if idempotency_key else content_key(scope, form.guide, form.items, clean)
    with session_scope() as session:
        existing = session.scalar(select(Application).where(Application.idempotency_key == key))
        if existing is not None:
            return _submission(existing, guide_obj, created=False)
    for _attempt in range(5):
        try:
            with session_scope() as session:
                number = new_number(today)
                now = utcnow()
                app = Application(
                    number=number, guide=form.guide, items=list(form.items), data=clean, channel=channel[:32],
                    sender=sender[:128], idempotency_key=key, print_token=secrets.token_urlsafe(24),
                    verifiers=status_sources.verifiers_for(number, verification_factors(form, clean)),
                    overall_status="已提交", created_at=now, updated_at=now,
                )
                app.item_rows = [ApplicationItem(name=i, status="已提交", note="", updated_at=now) for i in form.items]
                session.add(app)
                session.flush()
                session.add(ApplicationEvent(application_id=app.id, item=None, status="已提交",
                                             note=f"通过{channel}渠道提交", actor="applicant", created_at=now))
                session.flush()
                return _submission(app, guide_obj, created=True)
        except IntegrityError:
            with session_scope() as session:  # a concurrent duplicate won the race: return it
                existing = session.scalar(select(Application).where(Application.idempotency_key == key))
                if existing is not None:
                    return _submission(existing, guide_obj, created=False)
            # otherwise the number collided (vanishingly rare): draw another
    raise ApplicationError("受理编号生成失败，请稍后再试。")


def _submission(app: Application, guide: Guide, *, created: bool) -> Submission:
    return Submission(application_view(app), created, print_url(app.number, app.print_token),
                      next_steps(guide, app.items))


def get_application(number: str) -> Application | None:
    """The full record with its items loaded (for staff and the printable form)."""
    with session_scope() as session:
        app = session.scalar(select(Application).where(Application.number == normalize_number(number)))
        if app is not None:
            _ = list(app.item_rows)
        return app


# -- life cycle --------------------------------------------------------------------------------------------
def overall_status(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    if not statuses:
        return "已提交"
    if SUPPLEMENT in statuses:
        return SUPPLEMENT
    least = min(statuses, key=lambda s: _RANK[s])
    if _RANK[least] == 4:
        return "已寄递" if all(s == "已寄递" for s in statuses) else "已出件"
    return least


def advance(number: str, status: str, *, item: str | None = None, note: str = "", due: date | None = None,
            actor: str = "staff") -> dict[str, Any]:
    """Move one item (or every item) to `status`; returns the new status view."""
    if status not in STATUSES:
        raise TransitionError(f"未知状态“{status}”，可选：{'、'.join(STATUSES)}。")
    note = (note or "").strip()
    if status == SUPPLEMENT and not note:
        raise TransitionError("需补正必须写明需要补交的材料或更正的内容（--note）。")
    with session_scope() as session:
        app = session.scalar(select(Application).where(Application.number == normalize_number(number)))
        if app is None:
            raise NotFound(f"没有受理编号为{number}的申请。")
        rows = [r for r in app.item_rows if item is None or r.name == item]
        if not rows:
            raise NotFound(f"该申请不包含事项“{item}”，包含：{'、'.join(r.name for r in app.item_rows)}。")
        blocked = [r for r in rows if status not in TRANSITIONS[r.status]]
        if blocked:
            raise TransitionError("；".join(f"{r.name}当前为{r.status}，不能改为{status}" for r in blocked))
        now = utcnow()
        if status == SUPPLEMENT and due is None:
            due = today_local() + timedelta(days=DEFAULT_SUPPLEMENT_DAYS)
        for row in rows:
            row.status = status
            row.note = note
            row.due_date = due if status == SUPPLEMENT else None
            row.updated_at = now
            session.add(ApplicationEvent(application_id=app.id, item=row.name, status=status, note=note,
                                         actor=actor[:64], created_at=now))
        app.overall_status = overall_status(r.status for r in app.item_rows)
        app.updated_at = now
        session.flush()
        return application_view(app)


# -- verified status checks (lockout rules shared with tickets: core/verification.py) ---------------------------
def check_status(number: str | None, factor: str | None, *, requester: str,
                 policy: LockPolicy | None = None, client: str | None = None) -> StatusOutcome:
    """Verified status lookup. Unknown number and wrong factor give the same `denied` outcome."""
    number = normalize_number(number)
    factor = "".join((factor or "").split()).upper()

    def lookup() -> dict[str, Any] | None:
        if NUMBER_PATTERN.fullmatch(number) and FACTOR_PATTERN.fullmatch(factor):
            return status_sources.get_status_source().lookup(number, factor)
        return None

    return verified_lookup(number, requester, lookup, policy=policy, client=client)


def print_token_ok(app: Application, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(app.print_token, token or "")


# -- command line --------------------------------------------------------------------------------------------
def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("日期格式应为YYYY-MM-DD") from None


def _print_view(view: dict[str, Any]) -> None:
    print(f"{view['number']}  {view['guide']}  总体状态：{view['overall']}")
    for item in view["items"]:
        extra = f"  {item['note']}" if item["note"] else ""
        due = f"（{item['due']}前）" if item.get("due") else ""
        print(f"  - {item['name']}：{item['status']}{extra}{due}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.applications", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    adv = sub.add_parser("advance", help="move an application (or one item) to a new status")
    adv.add_argument("number")
    adv.add_argument("--item", help="covered item name; omit for every item")
    adv.add_argument("--status", required=True, choices=STATUSES)
    adv.add_argument("--note", default="", help="what to supply (需补正) or a remark")
    adv.add_argument("--due", type=_parse_date, help="deadline for 需补正, YYYY-MM-DD")
    adv.add_argument("--actor", default=os.environ.get("USER", "staff"))
    show = sub.add_parser("show", help="print an application's status")
    show.add_argument("number")
    lst = sub.add_parser("list", help="latest applications")
    lst.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        if args.command == "advance":
            _print_view(advance(args.number, args.status, item=args.item, note=args.note, due=args.due,
                                actor=f"cli:{args.actor}"))
        elif args.command == "show":
            app = get_application(args.number)
            if app is None:
                raise NotFound(f"没有受理编号为{args.number}的申请。")
            _print_view(application_view(app))
        else:
            with session_scope() as session:
                rows = session.scalars(select(Application).order_by(Application.id.desc()).limit(args.limit))
                for app in rows:
                    created = aware(app.created_at).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
                    print(f"{app.number}  {created}  {app.overall_status}  {app.guide}  ({app.channel})")
    except ApplicationError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
