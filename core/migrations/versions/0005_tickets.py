"""tickets (工单) and their events

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(128), nullable=False, server_default=""),
        sa.Column("channel", sa.String(32), nullable=False, server_default="web"),
        sa.Column("appeal_type", sa.String(8), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("address", sa.String(200), nullable=False, server_default=""),
        sa.Column("place_key", sa.String(200), nullable=False, server_default=""),
        sa.Column("occurred", sa.String(64), nullable=False, server_default=""),
        sa.Column("caller_name", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("phone_hash", sa.String(64), nullable=True),
        sa.Column("reply_wanted", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("level1", sa.String(32), nullable=False, server_default=""),
        sa.Column("level2", sa.String(64), nullable=False, server_default=""),
        sa.Column("level3", sa.String(64), nullable=False, server_default=""),
        sa.Column("department", sa.String(64), nullable=False, server_default=""),
        sa.Column("confidence", sa.Float, nullable=False, server_default="0"),
        sa.Column("classification", sa.String(16), nullable=False, server_default="auto"),
        sa.Column("state", sa.String(16), nullable=False, server_default="accepted"),
        sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("duplicate_of", sa.Integer, sa.ForeignKey("tickets.id"), nullable=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("number", "sender", "place_key", "level1", "department", "classification", "state", "due",
                   "duplicate_of", "idempotency_key", "created_at"):
        op.create_index(f"ix_tickets_{column}", "tickets", [column], unique=column in ("number", "idempotency_key"))
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False, server_default="system"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("ticket_events")
    op.drop_table("tickets")
