"""guide store with versions and the unanswered-question queue

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_guides_name", "guides", ["name"], unique=True)
    op.create_table(
        "guide_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("guide_id", sa.Integer, sa.ForeignKey("guides.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("open_draft", sa.Integer, nullable=True),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("based_on", sa.Integer, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=True),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(64), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publisher_id", sa.Integer, sa.ForeignKey("staff_accounts.id"), nullable=True),
        sa.Column("publisher", sa.String(64), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_guide_versions_guide_id", "guide_versions", ["guide_id"])
    op.create_index("ix_guide_versions_status", "guide_versions", ["status"])
    # published numbers are unique per guide; at most one open draft per guide (NULLs never collide)
    op.create_index("uq_guide_versions_number", "guide_versions", ["guide_id", "number"], unique=True)
    op.create_index("uq_guide_versions_open_draft", "guide_versions", ["guide_id", "open_draft"], unique=True)
    op.create_table(
        "unanswered_questions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("normalized", sa.String(500), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("suggestions", sa.JSON, nullable=False),
        sa.Column("sender_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.JSON, nullable=False),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_unanswered_questions_normalized", "unanswered_questions", ["normalized"])
    op.create_index("ix_unanswered_questions_sender_hash", "unanswered_questions", ["sender_hash"])
    op.create_index("ix_unanswered_questions_status", "unanswered_questions", ["status"])
    op.create_index("ix_unanswered_questions_created_at", "unanswered_questions", ["created_at"])


def downgrade() -> None:
    op.drop_table("unanswered_questions")
    op.drop_table("guide_versions")
    op.drop_table("guides")
