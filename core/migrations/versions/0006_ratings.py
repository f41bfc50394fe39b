"""conversation events, ratings (好差评) and follow-up tasks

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("conversation", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("answered_by", sa.String(16), nullable=True),
        sa.Column("kinds", sa.JSON, nullable=False),
        sa.Column("guide", sa.String(128), nullable=True),
        sa.Column("fallback", sa.Boolean, nullable=False),
        sa.Column("declined", sa.Boolean, nullable=False),
        sa.Column("value", sa.Integer, nullable=True),
        sa.Column("staff_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_conversation_events_at", "conversation_events", ["at"])
    op.create_index("ix_conversation_events_day_kind", "conversation_events", ["day", "kind"])
    op.create_index("ix_conversation_events_conversation", "conversation_events", ["conversation", "kind"])

    op.create_table(
        "rating_invitations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject_key", sa.String(200), nullable=False, unique=True),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("attribution", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rating_invitations_sender", "rating_invitations", ["sender"])

    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject_key", sa.String(200), nullable=False, unique=True),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("sender", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("served_by", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=True),
        sa.Column("guide", sa.String(128), nullable=True),
        sa.Column("application_number", sa.String(32), nullable=True),
        sa.Column("ticket_number", sa.String(32), nullable=True),
        sa.Column("handoff_id", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("sender", "agent_id", "guide", "status", "day", "created_at"):
        op.create_index(f"ix_ratings_{column}", "ratings", [column])

    op.create_table(
        "rating_followups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rating_id", sa.Integer, sa.ForeignKey("ratings.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("rectification", sa.Text, nullable=False),
        sa.Column("caller_response", sa.String(16), nullable=False),
        sa.Column("caller_note", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("called_back_by", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=True),
        sa.Column("called_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("state", "due", "created_at"):
        op.create_index(f"ix_rating_followups_{column}", "rating_followups", [column])

    op.create_table(
        "rating_appeals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rating_id", sa.Integer, sa.ForeignKey("ratings.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("filed_by", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=False),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=True),
        sa.Column("decision_note", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_rating_appeals_state", "rating_appeals", ["state"])


def downgrade() -> None:
    op.drop_table("rating_appeals")
    op.drop_table("rating_followups")
    op.drop_table("ratings")
    op.drop_table("rating_invitations")
    op.drop_table("conversation_events")
