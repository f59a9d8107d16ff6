"""replica health: the copies the replicator found bad, and the objects with no good copy left

Revision ID: 0009_replica_health
Revises: 0008_search
Create Date: 2026-12-09 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0009_replica_health"
down_revision: str | None = "0008_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bad_copies",
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("repaired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("object_key", "tier"),
        schema="metadata",
    )
    op.create_table(
        "damaged_objects",
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=True),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("object_key"),
        schema="metadata",
    )


def downgrade() -> None:
    op.drop_table("damaged_objects", schema="metadata")
    op.drop_table("bad_copies", schema="metadata")
