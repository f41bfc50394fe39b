"""conversation ownership and privacy: bookkeeping of the tracker store retention job

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_jobs",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("watermark", sa.Float(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("privacy_jobs")
