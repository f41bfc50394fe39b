"""The guide store: every service guide with its versions, in the application database.

A guide (table `guides`) has versions (`guide_versions`):

* at most one open draft (status `draft`, then `review` once submitted; `number` None), which an editor
  saves again and again (each save validated against knowledge/schema.py, per-field errors);
* published versions, numbered 1, 2, ... in publishing order, each with author, publisher, time, note and
  optional effective (生效) and expiry (失效) dates.

Callers get the *live* version: the highest-numbered published version whose effective date has come; none
once that version's expiry date has passed. A rollback publishes an earlier version's content again as a new
version. Every process follows the live set through `revision()` (one aggregate query) and `published()`
(core/guides/live.py hands both to knowledge/live.py).

Rules: editors, supervisors and admins edit drafts; publishing and rollback need the reviewer right
(`supervisor`, which admins have too), and the publisher must not be the draft's last author, unless the
deployment allows self-publishing (GUIDE_SELF_PUBLISH=1, small teams). Every change is audited (guide.*).

The YAML files of knowledge/guides/ are the seed (`seed_from_folder`) and the import/export format.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from core.db import session_scope
from core.guides.diff import diff_guides
from core.guides.errors import GuideNotFound, InvalidGuide, InvalidInput, InvalidState, NotAllowed
from core.models import GuideRecord, GuideVersion, utcnow
from core.settings import get_settings
from core.staff import audit, has_role
from knowledge.schema import Guide, GuideError, field_errors, load_guide

DRAFT, REVIEW, PUBLISHED = "draft", "review", "published"
OPEN_STATES = (DRAFT, REVIEW)
SOURCES = ("seed", "editor", "import", "rollback", "queue")
SEED_AUTHOR = "seed"


# -- who may do what -------------------------------------------------------------------------------------------
def can_edit(actor: Any) -> bool:
    return has_role(actor, ("editor", "supervisor"))


def can_publish(actor: Any) -> bool:
    return has_role(actor, "supervisor") or (get_settings().guide_self_publish and has_role(actor, "editor"))


def _require_edit(actor: Any) -> None:
    if not can_edit(actor):
        raise NotAllowed("您的账号不能编辑办事指南。")


def _require_publish(actor: Any) -> None:
    if not can_publish(actor):
        raise NotAllowed("发布需要审核权限（班长/质检或管理员）；编辑只能提交审核。")


def _who(actor: Any) -> tuple[int | None, str]:
    return getattr(actor, "staff_id", None), getattr(actor, "username", None) or str(actor or "system")


# -- content ---------------------------------------------------------------------------------------------------
def content_of(guide: Guide) -> dict:
    """The guide as stored and returned by the API: the schema's shape, every field present."""
    return guide.model_dump(mode="json")


def content_hash(content: dict) -> str:
    payload = json.dumps(content, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def validate(raw: object) -> Guide:
    """The Guide, or InvalidGuide with per-field errors."""
    guide, errors = field_errors(raw)
    if guide is None:
        raise InvalidGuide("办事指南有错误，请按提示修改后再保存。", errors=errors)
    return guide


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; everything is stored in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse_time(value: object, field: str) -> datetime | None:
    """An ISO date or date-time (a date means its start, China time); None/"" = not set."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return _aware(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{field}应为日期，例如 2025-07-01 或 2025-07-01T08:00:00+08:00。", field=field)
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{field}不是有效日期：{text[:40]}", field=field) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone(timedelta(hours=8)))   # the hotline's time zone
    return parsed.astimezone(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    value = _aware(value)
    return value.isoformat() if value is not None else None


# -- reading ---------------------------------------------------------------------------------------------------
def _record(session: Session, name: str) -> GuideRecord | None:
    return session.scalar(select(GuideRecord).where(GuideRecord.name == name))


def _versions(session: Session, guide_id: int) -> list[GuideVersion]:
    return list(session.scalars(select(GuideVersion).where(GuideVersion.guide_id == guide_id)
                                .order_by(GuideVersion.number.desc().nulls_first(), GuideVersion.id.desc())))


def live_of(versions: list[GuideVersion], now: datetime | None = None) -> GuideVersion | None:
    """The version callers get now (see the module docstring)."""
    now = now or utcnow()
    published = sorted((v for v in versions if v.status == PUBLISHED), key=lambda v: v.number, reverse=True)
    for version in published:
        effective = _aware(version.effective_from)
        if effective is None or effective <= now:
            expires = _aware(version.expires_at)
            return None if expires is not None and expires <= now else version
    return None


def _open_draft(versions: list[GuideVersion]) -> GuideVersion | None:
    return next((v for v in versions if v.status in OPEN_STATES), None)


def _draft_of(session: Session, name: str, missing: str) -> tuple[GuideRecord, GuideVersion]:
    """The guide and its open draft; GuideNotFound(missing) when there is none."""
    record = _record(session, name)
    draft = _open_draft(_versions(session, record.id)) if record else None
    if draft is None:
        raise GuideNotFound(missing)
    return record, draft


def _version_view(v: GuideVersion, live: GuideVersion | None = None) -> dict:
    return {
        "version": v.number, "status": v.status, "source": v.source, "based_on": v.based_on, "note": v.note,
        "author": v.author, "created_at": _iso(v.created_at), "updated_at": _iso(v.updated_at),
        "submitted_by": v.submitted_by, "submitted_at": _iso(v.submitted_at),
        "publisher": v.publisher, "published_at": _iso(v.published_at),
        "effective_from": _iso(v.effective_from), "expires_at": _iso(v.expires_at),
        "live": live is not None and v.id == live.id,
    }


def guide_state(versions: list[GuideVersion], now: datetime | None = None) -> str:
    """draft | in_review | scheduled | expiring | expired | published | new (never published, no draft)."""
    now = now or utcnow()
    draft = _open_draft(versions)
    if draft is not None:
        return "in_review" if draft.status == REVIEW else "draft"
    live = live_of(versions, now)
    numbers = [v.number for v in versions if v.status == PUBLISHED]
    if numbers and (live is None or max(numbers) > live.number):
        newest = max((v for v in versions if v.status == PUBLISHED), key=lambda v: v.number)
        effective = _aware(newest.effective_from)
        if effective is not None and effective > now:
            return "scheduled"
        return "expired"
    if live is None:
        return "new"
    expires = _aware(live.expires_at)
    if expires is not None and expires - now <= timedelta(days=get_settings().guide_expiring_days):
        return "expiring"
    return "published"


def list_guides(query: str = "", state: str = "") -> list[dict]:
    """Every guide with its state, live version and open draft; `query` matches name, code and aliases."""
    now = utcnow()
    needle = query.strip().lower()
    out = []
    with session_scope() as session:
        records = list(session.scalars(select(GuideRecord).order_by(GuideRecord.name)))
        rows = list(session.scalars(select(GuideVersion)))
        by_guide: dict[int, list[GuideVersion]] = {}
        for row in rows:
            by_guide.setdefault(row.guide_id, []).append(row)
        for record in records:
            versions = by_guide.get(record.id, [])
            live = live_of(versions, now)
            draft = _open_draft(versions)
            shown = (draft or live or max(versions, key=lambda v: v.id)).content if versions else {}
            entry = {
                "name": record.name, "code": shown.get("code", ""), "state": guide_state(versions, now),
                "version": live.number if live else None,
                "published_at": _iso(live.published_at) if live else None,
                "effective_from": _iso(live.effective_from) if live else None,
                "expires_at": _iso(live.expires_at) if live else None,
                "versions": sum(1 for v in versions if v.status == PUBLISHED),
                "draft": None if draft is None else {"status": draft.status, "author": draft.author,
                                                     "updated_at": _iso(draft.updated_at)},
                "updated_at": _iso(record.updated_at),
            }
            if needle:
                haystack = " ".join([record.name, str(shown.get("code", ""))] + list(shown.get("aliases", [])))
                if needle not in haystack.lower():
                    continue
            if state and entry["state"] != state:
                continue
            out.append(entry)
    return out


def get_published(name: str) -> dict:
    """The live version: {"name", "version", ..., "guide": content}; GuideNotFound when none."""
    with session_scope() as session:
        record = _record(session, name)
        versions = _versions(session, record.id) if record else []
        live = live_of(versions)
        if live is None:
            raise GuideNotFound("没有找到该办事指南的已发布版本。")
        return {"name": name, **_version_view(live, live), "state": guide_state(versions), "guide": live.content}


def get_draft(name: str) -> dict:
    with session_scope() as session:
        _, draft = _draft_of(session, name, "该办事指南目前没有草稿。")
        return {"name": name, **_version_view(draft), "guide": draft.content}


def get_version(name: str, number: int) -> dict:
    with session_scope() as session:
        record = _record(session, name)
        versions = _versions(session, record.id) if record else []
        found = next((v for v in versions if v.number == number), None)
        if found is None:
            raise GuideNotFound(f"没有找到第{number}版。")
        return {"name": name, **_version_view(found, live_of(versions)), "guide": found.content}


def versions_of(name: str) -> dict:
    with session_scope() as session:
        record = _record(session, name)
        if record is None:
            raise GuideNotFound("没有找到该办事指南。")
        versions = _versions(session, record.id)
        live = live_of(versions)
        draft = _open_draft(versions)
        return {"name": name, "state": guide_state(versions), "live": live.number if live else None,
                "draft": _version_view(draft) if draft else None,
                "versions": [_version_view(v, live) for v in versions if v.status == PUBLISHED]}


def _content_at(session: Session, record: GuideRecord, ref: str) -> tuple[dict, str]:
    """Content of a version reference: a number, "draft", or "published"/"live"."""
    versions = _versions(session, record.id)
    ref = (ref or "").strip().lower()
    if ref == "draft":
        found = _open_draft(versions)
    elif ref in ("published", "live"):
        found = live_of(versions)
    elif ref.isdigit():
        found = next((v for v in versions if v.number == int(ref)), None)
    else:
        raise InvalidInput("版本应为版本号、draft 或 published。", field="version")
    if found is None:
        raise GuideNotFound(f"没有找到版本 {ref}。")
    return found.content, (str(found.number) if found.number else "draft")


def diff(name: str, old: str, new: str) -> dict:
    """Field-level differences between two versions (numbers, "draft" or "published")."""
    with session_scope() as session:
        record = _record(session, name)
        if record is None:
            raise GuideNotFound("没有找到该办事指南。")
        a, a_label = _content_at(session, record, old)
        b, b_label = _content_at(session, record, new)
    return {"name": name, "from": a_label, "to": b_label, "changes": diff_guides(a, b)}


# -- writing ---------------------------------------------------------------------------------------------------
def _touch(record: GuideRecord) -> None:
    record.updated_at = utcnow()


def _next_number(session: Session, guide_id: int) -> int:
    top = session.scalar(select(func.max(GuideVersion.number)).where(GuideVersion.guide_id == guide_id))
    return (top or 0) + 1


def save_draft(name: str, raw: object, actor: Any, *, note: str = "", source: str = "editor") -> dict:
    """Create or replace the open draft with a whole guide (validated); a draft in review goes back to draft."""
    _require_edit(actor)
    guide = validate(raw)
    if guide.name != name:
        raise InvalidGuide("事项名称与地址中的名称不一致。",
                           errors=[{"field": "name", "message": f"应为“{name}”（改名请新建指南）"}])
    content = content_of(guide)
    staff_id, username = _who(actor)
    with session_scope() as session:
        record = _record(session, name)
        if record is None:
            record = GuideRecord(name=name, created_at=utcnow(), updated_at=utcnow())
            session.add(record)
            session.flush()
        versions = _versions(session, record.id)
        draft = _open_draft(versions)
        live = live_of(versions)
        now = utcnow()
        if draft is None:
            draft = GuideVersion(guide_id=record.id, number=None, status=DRAFT, open_draft=1, created_at=now,
                                 based_on=live.number if live else None, source=source)
            session.add(draft)
        draft.content, draft.content_hash = content, content_hash(content)
        draft.status, draft.author_id, draft.author, draft.updated_at = DRAFT, staff_id, username, now
        draft.submitted_by = draft.submitted_at = None
        if note:
            draft.note = note[:500]
        elif draft.note is None:
            draft.note = ""
        _touch(record)
        audit(session, staff_id, "guide.draft", "guide", name, source=source)
        session.flush()
        return {"name": name, **_version_view(draft), "guide": content}


def submit(name: str, actor: Any, *, note: str = "") -> dict:
    """Send the open draft to review (编辑 -> 审核)."""
    _require_edit(actor)
    staff_id, username = _who(actor)
    with session_scope() as session:
        record, draft = _draft_of(session, name, "该办事指南没有可提交的草稿。")
        if draft.status == REVIEW:
            raise InvalidState("草稿已在审核中。", state=REVIEW)
        draft.status, draft.submitted_by, draft.submitted_at = REVIEW, username, utcnow()
        if note:
            draft.note = note[:500]
        _touch(record)
        audit(session, staff_id, "guide.submit", "guide", name, note=draft.note)
        return {"name": name, **_version_view(draft)}


def _check_window(effective_from: datetime | None, expires_at: datetime | None) -> None:
    if effective_from and expires_at and expires_at <= effective_from:
        raise InvalidInput("失效时间必须晚于生效时间。", field="expires_at")
    if expires_at and expires_at <= utcnow():
        raise InvalidInput("失效时间已过，发布后市民将查不到该指南。", field="expires_at")


def publish(name: str, actor: Any, *, note: str = "", effective_from: object = None,
            expires_at: object = None) -> dict:
    """Publish the draft in review as the next version (审核 -> 发布); callers get it when it takes effect."""
    _require_publish(actor)
    start, end = parse_time(effective_from, "生效时间"), parse_time(expires_at, "失效时间")
    _check_window(start, end)
    staff_id, username = _who(actor)
    with session_scope() as session:
        record, draft = _draft_of(session, name, "该办事指南没有待发布的草稿。")
        if draft.status != REVIEW:
            raise InvalidState("请先提交审核，再由审核人发布。", state=draft.status)
        if (not get_settings().guide_self_publish and staff_id is not None
                and draft.author_id == staff_id):
            raise NotAllowed("不能发布自己编辑的草稿，请由另一位有审核权限的同事发布。")
        validate(draft.content)   # the schema may have become stricter since the draft was saved
        draft.number = _next_number(session, record.id)
        draft.status, draft.open_draft = PUBLISHED, None
        draft.publisher_id, draft.publisher, draft.published_at = staff_id, username, utcnow()
        draft.effective_from, draft.expires_at = start, end
        if note:
            draft.note = note[:500]
        _touch(record)
        audit(session, staff_id, "guide.publish", "guide", name, version=draft.number, note=draft.note,
              effective_from=_iso(start), expires_at=_iso(end))
        try:
            session.flush()
        except IntegrityError as exc:      # another reviewer published at the same moment
            raise InvalidState("另一位同事刚刚发布了新版本，请刷新后再试。") from exc
        return {"name": name, **_version_view(draft, draft if (start is None or start <= utcnow()) else None)}


def rollback(name: str, version: int, actor: Any, *, note: str = "") -> dict:
    """Publish the content of an earlier version again, as a new version, effective now."""
    _require_publish(actor)
    staff_id, username = _who(actor)
    with session_scope() as session:
        record = _record(session, name)
        versions = _versions(session, record.id) if record else []
        target = next((v for v in versions if v.status == PUBLISHED and v.number == version), None)
        if target is None:
            raise GuideNotFound(f"没有找到第{version}版。")
        validate(target.content)
        now = utcnow()
        new = GuideVersion(
            guide_id=record.id, number=_next_number(session, record.id), status=PUBLISHED, open_draft=None,
            content=target.content, content_hash=target.content_hash, source="rollback", based_on=version,
            note=note[:500] or f"回滚到第{version}版", author_id=staff_id, author=username, created_at=now,
            updated_at=now, publisher_id=staff_id, publisher=username, published_at=now,
            effective_from=None, expires_at=target.expires_at if _aware(target.expires_at) and
            _aware(target.expires_at) > now else None)
        session.add(new)
        _touch(record)
        audit(session, staff_id, "guide.rollback", "guide", name, to_version=version)
        try:
            session.flush()
        except IntegrityError as exc:
            raise InvalidState("另一位同事刚刚发布了新版本，请刷新后再试。") from exc
        return {"name": name, **_version_view(new, new)}


def discard_draft(name: str, actor: Any) -> dict:
    _require_edit(actor)
    staff_id, _ = _who(actor)
    with session_scope() as session:
        record, draft = _draft_of(session, name, "该办事指南目前没有草稿。")
        session.delete(draft)
        _touch(record)
        audit(session, staff_id, "guide.discard", "guide", name)
    return {"name": name, "discarded": True}


# -- what every process follows --------------------------------------------------------------------------------
def revision(now: datetime | None = None) -> str:
    """Changes whenever the live set may have changed: a publish, or an effective/expiry time passing."""
    now = now or utcnow()
    with session_scope() as session:
        row = session.execute(select(
            func.count(GuideVersion.id), func.max(GuideVersion.id),
            func.sum(case((GuideVersion.effective_from <= now, 1), else_=0)),
            func.sum(case((GuideVersion.expires_at <= now, 1), else_=0)),
        ).where(GuideVersion.status == PUBLISHED)).one()
    return "r{}-{}-{}-{}".format(*(int(x or 0) for x in row))


_parsed: dict[str, Guide] = {}     # content hash -> Guide: unchanged guides are not validated again


def _remember(digest: str, guide: Guide) -> None:
    if len(_parsed) > 2000:
        _parsed.clear()
    _parsed[digest] = guide


def published_guides(now: datetime | None = None) -> list[Guide]:
    """The Guide of every live version (a version the schema no longer accepts is left out, with a log line).

    Cheap when little changed: the live versions are chosen from their dates alone, and only content not seen
    before is read and validated."""
    import logging

    now = now or utcnow()
    with session_scope() as session:
        rows = session.execute(select(GuideVersion.id, GuideVersion.guide_id, GuideVersion.number,
                                      GuideVersion.status, GuideVersion.effective_from, GuideVersion.expires_at,
                                      GuideVersion.content_hash).where(GuideVersion.status == PUBLISHED)).all()
        names = dict(session.execute(select(GuideRecord.id, GuideRecord.name)).all())
        by_guide: dict[int, list] = {}
        for row in rows:
            by_guide.setdefault(row.guide_id, []).append(row)
        live_rows = [live for live in (live_of(versions, now) for versions in by_guide.values()) if live is not None]
        missing = [r.id for r in live_rows if r.content_hash not in _parsed]
        contents = dict(session.execute(select(GuideVersion.id, GuideVersion.content)
                                        .where(GuideVersion.id.in_(missing))).all()) if missing else {}
    guides = []
    for live in sorted(live_rows, key=lambda r: names.get(r.guide_id, "")):
        guide = _parsed.get(live.content_hash)
        if guide is None:
            guide, errors = field_errors(contents.get(live.id))
            if guide is None:
                logging.getLogger(__name__).error("guide %s version %s fails the schema: %s",
                                                  names.get(live.guide_id), live.number, errors[:3])
                continue
            _remember(live.content_hash, guide)
        guides.append(guide)
    return guides


# -- the YAML seed -------------------------------------------------------------------------------------------------
@dataclass
class SeedReport:
    added: list[str]
    updated: list[str]
    errors: list[str]


def seed_from_folder(folder: Path | None = None, *, guides: list[Guide] | None = None) -> SeedReport:
    """Import the YAML guides: a new file becomes version 1, published; a changed file becomes a new published
    version only while nobody has edited that guide in the editor (its live version came from the seed and it has
    no open draft). Safe to run at every start, in every process: one read of the store, writes only for what
    changed. `guides`: the folder's guides when the caller has them loaded already (the process's YAML catalog);
    otherwise each file is read here and a broken one is reported without stopping the others."""
    errors: list[str] = []
    if guides is None:
        guides = []
        for path in sorted(Path(folder or get_settings().knowledge_dir).glob("*.yaml")):
            try:
                guides.append(load_guide(path))
            except GuideError as exc:
                errors.append(str(exc))
    contents = [(guide, content_of(guide)) for guide in guides]
    for guide, content in contents:     # published_guides() need not validate this content again
        _remember(content_hash(content), guide)
    try:
        return _seed(contents, errors)
    except IntegrityError:              # another process seeded the same guides at the same moment: look again
        return _seed(contents, errors)


def _seed(contents: list[tuple[Guide, dict]], errors: list[str]) -> SeedReport:
    report = SeedReport([], [], list(errors))
    now = utcnow()
    with session_scope() as session:
        records = {r.name: r for r in session.scalars(select(GuideRecord))}
        by_guide: dict[int, list[GuideVersion]] = {}
        for version in session.scalars(select(GuideVersion).options(defer(GuideVersion.content))):
            by_guide.setdefault(version.guide_id, []).append(version)
        for guide, content in contents:
            digest = content_hash(content)
            record = records.get(guide.name)
            if record is None:
                record = GuideRecord(name=guide.name, created_at=now, updated_at=now)
                session.add(record)
                session.flush()
                number, based_on, note = 1, None, "从YAML导入（初始版本）"
                report.added.append(guide.name)
            else:
                versions = by_guide.get(record.id, [])
                newest = max((v for v in versions if v.status == PUBLISHED), key=lambda v: v.number, default=None)
                if (newest is None or newest.source != "seed" or newest.content_hash == digest
                        or _open_draft(versions) is not None):
                    continue
                number, based_on, note = newest.number + 1, newest.number, "YAML文件已更新"
                report.updated.append(guide.name)
            session.add(GuideVersion(
                guide_id=record.id, number=number, status=PUBLISHED, open_draft=None, content=content,
                content_hash=digest, source="seed", based_on=based_on, note=note, author=SEED_AUTHOR,
                created_at=now, updated_at=now, publisher=SEED_AUTHOR, published_at=now))
            audit(session, None, "guide.seed", "guide", guide.name, version=number)
    return report
