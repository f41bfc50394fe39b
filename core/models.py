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
