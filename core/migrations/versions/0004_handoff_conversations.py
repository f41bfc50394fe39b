"""human handoff: conversations in the queue or with an agent, their transcripts, agents on duty

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LIVE = sa.text("state IN ('queued', 'connected')")


def upgrade() -> None:
    op.create_table(
        "handoff_conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("priority_reasons", sa.JSON, nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(16), nullable=True),
        sa.Column("wrap_up", sa.String(16), nullable=True),
        sa.Column("wrap_up_note", sa.Text, nullable=False),
        sa.Column("large_text", sa.Boolean, nullable=False),
        sa.Column("callback_phone", sa.String(32), nullable=True),
        sa.Column("callback_note", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handoff_conversations_sender", "handoff_conversations", ["sender"])
    op.create_index("ix_handoff_conversations_state", "handoff_conversations", ["state"])
    op.create_index("ix_handoff_conversations_agent_id", "handoff_conversations", ["agent_id"])
    op.create_index("ix_handoff_conversations_state_agent", "handoff_conversations", ["state", "agent_id"])
    # one live (queued or connected) conversation per sender, even when two requests race
    op.create_index("uq_handoff_live_sender", "handoff_conversations", ["sender"], unique=True,
                    sqlite_where=LIVE, postgresql_where=LIVE)
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer,
                  sa.ForeignKey("handoff_conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("internal", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handoff_messages_conversation_id", "handoff_messages", ["conversation_id"])
    op.create_table(
        "handoff_agent_presence",
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff_accounts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handoff_agent_presence_last_seen_at", "handoff_agent_presence", ["last_seen_at"])


def downgrade() -> None:
    op.drop_table("handoff_agent_presence")
    op.drop_table("handoff_messages")
    op.drop_table("handoff_conversations")
