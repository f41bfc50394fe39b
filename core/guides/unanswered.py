"""The unanswered-question queue: what callers asked that the guides could not answer.

The dialogue records a question when the assistant refused it (no guide found), fell back ("not understood"),
or offered "did you mean"; the last is recorded when offered and marked `accepted` (off the open list) when the
same caller picks one of the suggestions within the hour (`accepted()`). Text is stored masked (core/privacy), the
sender only as a hash. Editors see open questions grouped by similarity (shared content words) and ranked
by how often they were asked, and turn a group into an example question of a guide (its draft, reviewed and
published as a new version), into a request for a new guide, or dismiss it.

    record(text, reason, sender, suggestions)     # from actions/ (never raises: a queue hiccup must not
    accepted(sender, guide)                       #  break a caller's conversation)
    groups(status="open") / resolve(ids, action, actor, ...)
"""
from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.db import session_scope
from core.guides import store
from core.guides.errors import GuideNotFound, InvalidInput
from core.models import UnansweredQuestion, utcnow
from core.privacy import mask_text
from core.staff import audit
from nlu.textnorm import normalize

log = logging.getLogger(__name__)

REASONS = ("not_found", "fallback", "did_you_mean")
STATUSES = ("open", "accepted", "dismissed", "used", "requested")
ACTIONS = {"dismiss": "dismissed", "example": "used", "request": "requested"}
MAX_TEXT = 300
SIMILAR = 0.6            # share of content words that puts two questions in one group
GROUP_WINDOW = 5000      # newest open questions considered for grouping


def _sender_hash(sender: str | None) -> str:
    return hashlib.sha256(f"unanswered:{sender or ''}".encode("utf-8")).hexdigest()[:32] if sender else ""


def record(text: str, reason: str, sender: str | None = None, suggestions: list[str] | None = None) -> bool:
    """Add a question to the queue; False (and a log line) when it was not worth keeping or the store failed."""
    try:
        clean = normalize(text or "")
        if len(clean) < 2 or clean.startswith("/") or reason not in REASONS:
            return False
        masked = mask_text(text.strip())[:MAX_TEXT]
        with session_scope() as session:
            session.add(UnansweredQuestion(
                text=masked, normalized=normalize(masked)[:500], reason=reason,
                suggestions=list(suggestions or [])[:3], sender_hash=_sender_hash(sender), status="open",
                resolution={}, created_at=utcnow()))
        return True
    except Exception:  # noqa: BLE001 - the caller's answer matters more than the queue
        log.exception("unanswered question not recorded")
        return False


def accepted(sender: str | None, guide: str) -> None:
    """The caller took a "did you mean" suggestion: that question was answered after all."""
    if not sender:
        return
    try:
        with session_scope() as session:
            row = session.scalar(select(UnansweredQuestion).where(
                UnansweredQuestion.sender_hash == _sender_hash(sender), UnansweredQuestion.reason == "did_you_mean",
                UnansweredQuestion.status == "open", UnansweredQuestion.created_at >= utcnow() - timedelta(hours=1))
                .order_by(UnansweredQuestion.id.desc()).limit(1))
            if row is not None and guide in (row.suggestions or []):
                row.status, row.resolution = "accepted", {"guide": guide}
    except Exception:  # noqa: BLE001
        log.exception("unanswered question not updated")


def _terms(text: str) -> frozenset[str]:
    """The content words of a question (jieba, function words and question words dropped, as the search does)."""
    from knowledge.lexical import word_tokens

    return frozenset(t for t in word_tokens(text) if "*" not in t and not t.isdigit())


def _similar(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the shorter question's content words that the other one has too (0 without content words)."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def groups(status: str = "open", limit: int = 100) -> list[dict]:
    """Questions grouped by similarity, the most asked first: {"id" (of the group's first question), "text"
    (the most frequent wording), "count", "ids", "texts", "reasons", "suggestions", "first_at", "last_at"}."""
    if status not in STATUSES:
        raise InvalidInput("状态应为 " + "、".join(STATUSES), field="status")
    with session_scope() as session:
        rows = list(session.scalars(select(UnansweredQuestion).where(UnansweredQuestion.status == status)
                                    .order_by(UnansweredQuestion.id.desc()).limit(GROUP_WINDOW)))
    clusters: list[dict] = []
    for row in sorted(rows, key=lambda r: r.id):
        terms = _terms(row.normalized)
        best, score = None, 0.0
        for cluster in clusters:       # single linkage: as close as the closest question already in the group
            s = 1.0 if row.normalized in cluster["_texts"] else max(
                (_similar(terms, other) for other in cluster["_terms"]), default=0.0)
            if s > score:
                best, score = cluster, s
        if best is None or score < SIMILAR:
            best = {"_terms": set(), "_texts": set(), "rows": []}
            clusters.append(best)
        best["_terms"].add(terms)
        best["_texts"].add(row.normalized)
        best["rows"].append(row)
    out = []
    for cluster in clusters:
        rows = cluster["rows"]
        wordings: dict[str, int] = {}
        for r in rows:
            wordings[r.text] = wordings.get(r.text, 0) + 1
        reasons: dict[str, int] = {}
        for r in rows:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
        suggestions = list(dict.fromkeys(s for r in rows for s in (r.suggestions or [])))[:3]
        out.append({
            "id": rows[0].id, "text": max(wordings, key=lambda t: (wordings[t], -len(t))), "count": len(rows),
            "ids": [r.id for r in rows], "texts": list(wordings)[:10], "reasons": reasons,
            "suggestions": suggestions, "first_at": store._iso(rows[0].created_at),
            "last_at": store._iso(rows[-1].created_at),
            "resolution": rows[-1].resolution if status != "open" else None,
        })
    out.sort(key=lambda g: (-g["count"], g["id"]))
    return out[:max(1, limit)]


def resolve(ids: list[int], action: str, actor: Any, *, guide: str | None = None, question: str | None = None,
            note: str = "") -> dict:
    """Resolve open questions: "example" adds `question` (default: the first one's text) to the examples of
    `guide`'s draft; "request" records a request for a new guide; "dismiss" drops them."""
    if action not in ACTIONS:
        raise InvalidInput("操作应为 dismiss、example 或 request。", field="action")
    if not ids or len(ids) > 500:
        raise InvalidInput("请选择要处理的问题。", field="ids")
    store._require_edit(actor)
    staff_id, username = store._who(actor)
    with session_scope() as session:
        rows = list(session.scalars(select(UnansweredQuestion).where(UnansweredQuestion.id.in_(ids),
                                                                     UnansweredQuestion.status == "open")))
    if not rows:
        raise GuideNotFound("这些问题已被处理或不存在。")
    resolution: dict = {"note": note[:500]} if note else {}
    draft = None
    if action == "example":
        if not guide:
            raise InvalidInput("请选择要加入示例问题的办事指南。", field="guide")
        example = (question or rows[0].text).strip()[:MAX_TEXT]
        if not example or mask_text(example) != example:
            raise InvalidInput("示例问题不能包含身份证号或电话号码。", field="question")
        try:
            base = store.get_draft(guide)["guide"]
        except GuideNotFound:
            base = store.get_published(guide)["guide"]
        if example not in base.get("examples", []):
            base = {**base, "examples": list(base.get("examples", [])) + [example]}
        draft = store.save_draft(guide, base, actor, note=f"来自未答问题：{example}"[:500], source="queue")
        resolution.update({"guide": guide, "example": example})
    elif action == "request":
        resolution.update({"request": (question or rows[0].text)[:MAX_TEXT]})
    now = utcnow()
    with session_scope() as session:
        for row in session.scalars(select(UnansweredQuestion).where(
                UnansweredQuestion.id.in_([r.id for r in rows]), UnansweredQuestion.status == "open")):
            row.status, row.resolution, row.resolved_by, row.resolved_at = ACTIONS[action], resolution, username, now
        audit(session, staff_id, f"unanswered.{action}", "unanswered", rows[0].id, count=len(rows), **resolution)
    return {"resolved": len(rows), "status": ACTIONS[action], "resolution": resolution,
            "draft": None if draft is None else {"name": guide, "status": draft["status"]}}
