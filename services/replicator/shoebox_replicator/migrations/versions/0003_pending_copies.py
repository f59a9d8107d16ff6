"""pending copies and deletes: the queues the copy worker drains outside any transaction; a copy's own SHA-256

Revision ID: 0003_pending_copies
Revises: 0002_tombstones
Create Date: 2026-12-02 15:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0003_pending_copies"
down_revision: str | None = "0002_tombstones"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_copies",
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=True),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("object_key", "tier"),
        schema="replicator",
    )
    op.create_index("ix_replicator_pending_copies_due_at", "pending_copies", ["due_at"], schema="replicator")
    op.create_table(
        "pending_deletes",
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("object_key", "tier"),
        schema="replicator",
    )
    op.create_index("ix_replicator_pending_deletes_due_at", "pending_deletes", ["due_at"], schema="replicator")
    op.add_column("object_copies", sa.Column("sha256", sa.String(length=64), nullable=True), schema="replicator")


def downgrade() -> None:
    op.drop_column("object_copies", "sha256", schema="replicator")
    op.drop_index("ix_replicator_pending_deletes_due_at", table_name="pending_deletes", schema="replicator")
    op.drop_table("pending_deletes", schema="replicator")
    op.drop_index("ix_replicator_pending_copies_due_at", table_name="pending_copies", schema="replicator")
    op.drop_table("pending_copies", schema="replicator")
