"""announcements: the id of the item.stored that announced each original, and when it was last sent again

Revision ID: 0010_announcements
Revises: 0009_replica_health
Create Date: 2026-12-03 17:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_announcements"
down_revision: str | None = "0009_replica_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("items", sa.Column("announcement_id", postgresql.UUID(as_uuid=True), nullable=True),
                  schema="metadata")
    op.add_column("items", sa.Column("reannounced_at", sa.DateTime(timezone=True), nullable=True),
                  schema="metadata")


def downgrade() -> None:
    op.drop_column("items", "reannounced_at", schema="metadata")
    op.drop_column("items", "announcement_id", schema="metadata")
