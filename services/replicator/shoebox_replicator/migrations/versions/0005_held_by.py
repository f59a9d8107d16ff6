"""the worker holding a pending copy or delete, so a worker that stops gives back all it holds

Revision ID: 0005_held_by
Revises: 0004_scrub_and_backfill
Create Date: 2026-12-03 11:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005_held_by"
down_revision: str | None = "0004_scrub_and_backfill"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("pending_copies", "pending_deletes"):
        op.add_column(table, sa.Column("held_by", sa.String(length=128), nullable=True), schema="replicator")


def downgrade() -> None:
    for table in ("pending_copies", "pending_deletes"):
        op.drop_column(table, "held_by", schema="replicator")
