"""Tables of the application database (Alembic migrations in core/migrations)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class HandoffRequest(Base):
    """A caller asked for a human agent; hotline staff see these in the agent console."""

    __tablename__ = "handoff_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    reason: Mapped[str] = mapped_column(String(64))
    last_message: Mapped[str] = mapped_column(Text, default="")  # stored masked
    status: Mapped[str] = mapped_column(String(32), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    context: Mapped[dict] = mapped_column(JSON, default=dict)


# -- one-table applications (一表申请) and their status (办件进度): core/applications.py -------------------
from datetime import date  # noqa: E402

from sqlalchemy import Date, ForeignKey  # noqa: E402
from sqlalchemy.orm import relationship  # noqa: E402


class Application(Base):
    """A submitted one-table application; `number` is the receipt number (受理编号) given to the caller."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    guide: Mapped[str] = mapped_column(String(128))
    items: Mapped[list] = mapped_column(JSON, default=list)          # chosen covered items
    data: Mapped[dict] = mapped_column(JSON, default=dict)           # validated form values
    channel: Mapped[str] = mapped_column(String(32), default="web")
    sender: Mapped[str] = mapped_column(String(128), default="", index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    print_token: Mapped[str] = mapped_column(String(64))
    verifiers: Mapped[list] = mapped_column(JSON, default=list)      # hashes of the accepted verification factors
    overall_status: Mapped[str] = mapped_column(String(16), default="已提交")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    item_rows: Mapped[list["ApplicationItem"]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="ApplicationItem.id")


class ApplicationItem(Base):
    """Status of one covered item (事项) of an application."""

    __tablename__ = "application_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="已提交")
    note: Mapped[str] = mapped_column(Text, default="")             # e.g. what to supply for 需补正
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    application: Mapped[Application] = relationship(back_populates="item_rows")


class ApplicationEvent(Base):
    """Audit trail of an application's life cycle."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    item: Mapped[str | None] = mapped_column(String(128), nullable=True)   # None = whole application
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VerificationAttempt(Base):
    """Failed status verifications per requester or receipt number, to stop enumeration."""

    __tablename__ = "verification_attempts"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# -- staff accounts, their sessions and the audit log: core/staff ---------------------------------------------
from sqlalchemy import Boolean, Index  # noqa: E402


class StaffAccount(Base):
    """A hotline staff member (agent, supervisor, editor, admin); the password is stored as an argon2 hash."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)     # stored lower-case
    display_name: Mapped[str] = mapped_column(String(32), default="")              # shown to callers, e.g. 坐席007
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)                 # consecutive, reset on success
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StaffSession(Base):
    """A login session; only the sha256 of the opaque token (and of its CSRF token) is stored."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StaffAudit(Base):
    """Who did what to which record: logins, account changes, and later claim / reveal / release / close."""

    __tablename__ = "staff_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # no ON DELETE: an account with audit entries cannot be deleted, only disabled
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True,
                                                 index=True)   # None = service token or CLI
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    __table_args__ = (Index("ix_staff_audit_target", "target_type", "target_id"),)


# -- human handoff: the queue, live conversations with agents, agents on duty: core/handoff ----------------------
from sqlalchemy import text as sql_text  # noqa: E402

# at most one live (queued or connected) handoff conversation per sender, enforced by the database
HANDOFF_LIVE_STATES_SQL = "state IN ('queued', 'connected')"


class HandoffConversation(Base):
    """A caller's conversation with the human side of the hotline: waiting, with an agent, or over."""

    __tablename__ = "handoff_conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    state: Mapped[str] = mapped_column(String(24), index=True)   # queued connected returned closed callback_requested
    priority: Mapped[int] = mapped_column(Integer, default=0)      # higher first, then FIFO
    priority_reasons: Mapped[list] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(32))                # caller_request repeated_fallback form_failures voice
    summary: Mapped[dict] = mapped_column(JSON, default=dict)      # built by the dialogue, personal data masked
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True, index=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(16), nullable=True)      # caller staff
    wrap_up: Mapped[str | None] = mapped_column(String(16), nullable=True)       # 咨询已解答 已转工单 ...
    wrap_up_note: Mapped[str] = mapped_column(Text, default="")                  # stored masked
    large_text: Mapped[bool] = mapped_column(Boolean, default=False)
    callback_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)  # full number, staff only
    callback_note: Mapped[str] = mapped_column(Text, default="")                 # stored masked
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("uq_handoff_live_sender", "sender", unique=True,
              sqlite_where=sql_text(HANDOFF_LIVE_STATES_SQL), postgresql_where=sql_text(HANDOFF_LIVE_STATES_SQL)),
        Index("ix_handoff_conversations_state_agent", "state", "agent_id"),
    )


class HandoffMessage(Base):
    """One line of a handoff transcript; `internal` notes are for staff only, never sent to the caller."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("handoff_conversations.id", ondelete="CASCADE"),
                                                 index=True)
    role: Mapped[str] = mapped_column(String(16))                   # caller assistant agent system
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32), default="text")
    text: Mapped[str] = mapped_column(Text, default="")              # caller text stored masked
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AgentPresence(Base):
    """Last heartbeat of an agent console; an agent is on duty while it is recent (HANDOFF_ON_DUTY_SECONDS)."""

    __tablename__ = "handoff_agent_presence"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), primary_key=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


# -- 12345 tickets (工单): core/tickets ------------------------------------------------------------------------
class Ticket(Base):
    """A citizen's appeal (诉求) taken by the hotline: classified, routed to a department, worked to the end.

    `state`: accepted 已受理 -> dispatched 已派单 -> in_progress 办理中 -> resolved 已办结 -> visited 已回访,
    or returned 退回 (a department rejected it as not theirs; back to classification).
    `classification`: auto (the classifier was sure), pending (waiting in the manual-classification queue),
    manual (set by staff)."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, index=True)       # 工单编号 given to the caller
    sender: Mapped[str] = mapped_column(String(128), default="", index=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")                # web voice callback staff
    appeal_type: Mapped[str] = mapped_column(String(8))                            # 咨询 求助 投诉 举报 建议
    description: Mapped[str] = mapped_column(Text)          # the caller's own words; ID and phone numbers masked
    address: Mapped[str] = mapped_column(String(200), default="")                  # 事发地址
    place_key: Mapped[str] = mapped_column(String(200), default="", index=True)   # normalised address, duplicates
    occurred: Mapped[str] = mapped_column(String(64), default="")                  # when, as the caller said it
    caller_name: Mapped[str | None] = mapped_column(String(64), nullable=True)     # None = not given / anonymous
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)           # full number, staff reveal only
    phone_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)      # verifies the caller's status check
    reply_wanted: Mapped[bool] = mapped_column(Boolean, default=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    level1: Mapped[str] = mapped_column(String(32), default="", index=True)
    level2: Mapped[str] = mapped_column(String(64), default="")
    level3: Mapped[str] = mapped_column(String(64), default="")
    department: Mapped[str] = mapped_column(String(64), default="", index=True)   # 承办单位
    confidence: Mapped[float] = mapped_column(default=0.0)
    classification: Mapped[str] = mapped_column(String(16), default="auto", index=True)
    state: Mapped[str] = mapped_column(String(16), default="accepted", index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    due: Mapped[date] = mapped_column(Date, index=True)                            # reply deadline (working days)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True, index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)    # id on a city's 工单 platform
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TicketEvent(Base):
    """The life of a ticket: created, dispatched, state changes, replies to the caller, staff notes,
    reclassification, reassignment, return by a department, forwarding to an outside platform."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))         # created state reply note reclassify reassign return ...
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)   # the state after this event
    text: Mapped[str] = mapped_column(Text, default="")   # stored masked
    public: Mapped[bool] = mapped_column(Boolean, default=False)           # shown to the caller in progress checks
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- guide editor: service guides with versions, and the unanswered-question queue: core/guides ----------------
class GuideRecord(Base):
    """One service guide (办事指南) by name; its content lives in its versions (GuideVersion)."""

    __tablename__ = "guides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GuideVersion(Base):
    """A guide's content at one point: the open draft (status draft/review, `number` None) or a published
    version (`number` 1, 2, ... in publishing order). Callers get the highest-numbered published version whose
    `effective_from` has come (none once its `expires_at` has passed)."""

    __tablename__ = "guide_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guide_id: Mapped[int] = mapped_column(ForeignKey("guides.id", ondelete="CASCADE"), index=True)
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)        # None while a draft
    status: Mapped[str] = mapped_column(String(16), index=True)               # draft review published
    open_draft: Mapped[int | None] = mapped_column(Integer, nullable=True)    # 1 for the one open draft, else None
    content: Mapped[dict] = mapped_column(JSON)                                # the guide in the schema's shape
    content_hash: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="editor")         # seed editor import rollback queue
    based_on: Mapped[int | None] = mapped_column(Integer, nullable=True)      # published number it started from
    note: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True)
    author: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    publisher_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True)
    publisher: Mapped[str | None] = mapped_column(String(64), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    effective_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)   # 生效
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)       # 失效

    __table_args__ = (
        Index("uq_guide_versions_number", "guide_id", "number", unique=True),
        Index("uq_guide_versions_open_draft", "guide_id", "open_draft", unique=True),
    )


class UnansweredQuestion(Base):
    """A caller's question the assistant refused, fell back on, or offered "did you mean" for (stored masked)."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)                                    # masked
    normalized: Mapped[str] = mapped_column(String(500), index=True)
    reason: Mapped[str] = mapped_column(String(16))                           # not_found fallback did_you_mean
    suggestions: Mapped[list] = mapped_column(JSON, default=list)
    sender_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)   # open accepted dismissed used requested
    resolution: Mapped[dict] = mapped_column(JSON, default=dict)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# -- ratings and dashboard: 好差评 ratings, their follow-ups (回访) and appeals (申诉复核), conversation events ----------
# core/ratings (the rules), core/conversation_events.py (what happened, no personal data), core/metrics (figures)
class ConversationEvent(Base):
    """Something that happened in a conversation, recorded as it happens, read by the supervisor dashboard.

    No personal data: `conversation` is a keyed hash of the sender id, no text is stored. `kind`: turn,
    handoff_requested, handoff_connected, handoff_returned, handoff_closed, handoff_cancelled, callback_requested,
    rating, ticket_filed, application_submitted. `day` is the local (Asia/Shanghai) date of `at`."""

    __tablename__ = "conversation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    conversation: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16), default="web")
    answered_by: Mapped[str | None] = mapped_column(String(16), nullable=True)   # assistant agent safety handoff
    kinds: Mapped[list] = mapped_column(JSON, default=list)                      # bot message kinds of a turn
    guide: Mapped[str | None] = mapped_column(String(128), nullable=True)
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)               # not understood
    declined: Mapped[bool] = mapped_column(Boolean, default=False)               # no guide answers it
    value: Mapped[int | None] = mapped_column(Integer, nullable=True)            # wait seconds, rating level ...
    staff_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_conversation_events_day_kind", "day", "kind"),
        Index("ix_conversation_events_conversation", "conversation", "kind"),
    )


class RatingInvitation(Base):
    """A `rating_request` sent to a caller; one per subject (a conversation, an application, a ticket), ever."""

    __tablename__ = "rating_invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(200), unique=True)   # conversation:<sender>, application:<no>
    sender: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="web")
    attribution: Mapped[dict] = mapped_column(JSON, default=dict)       # served_by, agent_id, guide, number ...
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Rating(Base):
    """One 好差评 rating (level 1-5, 5 = 非常满意); never deleted: an upheld appeal sets `status` to excluded."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_key: Mapped[str] = mapped_column(String(200), unique=True)   # one rating per conversation / 办件
    subject: Mapped[str] = mapped_column(String(16))                     # conversation application ticket
    sender: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="web")
    level: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")               # stored masked
    served_by: Mapped[str] = mapped_column(String(16), default="assistant")   # assistant agent
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True, index=True)
    guide: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    application_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ticket_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    handoff_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="valid", index=True)   # valid excluded
    day: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class RatingFollowup(Base):
    """回访 of a bad rating (levels 1-2): open -> called_back (findings, 整改, the caller's response) -> closed."""

    __tablename__ = "rating_followups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)   # open called_back closed
    due: Mapped[date] = mapped_column(Date, index=True)                           # working days after the rating
    findings: Mapped[str] = mapped_column(Text, default="")                       # stored masked
    rectification: Mapped[str] = mapped_column(Text, default="")                  # 整改, stored masked
    caller_response: Mapped[str] = mapped_column(String(16), default="")          # 满意 基本满意 不满意 未接通
    caller_note: Mapped[str] = mapped_column(Text, default="")                    # stored masked
    outcome: Mapped[str] = mapped_column(String(16), default="")                  # called_back appeal_upheld ...
    called_back_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True)
    called_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RatingAppeal(Base):
    """申诉复核 of a rating (a mistake or malicious); decided by a second supervisor, not the one who filed it."""

    __tablename__ = "rating_appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)   # pending upheld rejected
    reason: Mapped[str] = mapped_column(String(16))                                  # mistake malicious other
    note: Mapped[str] = mapped_column(Text, default="")                              # stored masked
    filed_by: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")                     # stored masked
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# -- privacy (issue 10): bookkeeping of the tracker store retention job (core/tracker_privacy.py) ---------------
from sqlalchemy import Float  # noqa: E402


class PrivacyJob(Base):
    """How far a periodic privacy job got (e.g. conversations idle before `watermark` were masked)."""

    __tablename__ = "privacy_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[float] = mapped_column(Float, default=0.0)   # seconds since the epoch, as Rasa's timestamps
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
