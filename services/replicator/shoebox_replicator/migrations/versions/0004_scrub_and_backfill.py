"""objects with their expected SHA-256, scrub and backfill progress, backfill copies

Revision ID: 0004_scrub_and_backfill
Revises: 0003_pending_copies
Create Date: 2026-12-02 18:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004_scrub_and_backfill"
down_revision: str | None = "0003_pending_copies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "objects",
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=True),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("primary_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("damaged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("object_key"),
        schema="replicator",
    )
    op.create_index("ix_replicator_objects_item_id", "objects", ["item_id"], schema="replicator")
    op.create_index("ix_replicator_objects_damaged_at", "objects", ["damaged_at"], schema="replicator")
    # The objects known so far: those with a copy (its SHA-256, when it was recorded, is what PRIMARY hashed
    # to), then those still owed one.
    op.execute("""
        INSERT INTO replicator.objects (object_key, item_id, owner_id, size, sha256)
        SELECT DISTINCT ON (object_key) object_key, item_id, owner_id, size, sha256
        FROM replicator.object_copies ORDER BY object_key, sha256 NULLS LAST
        ON CONFLICT DO NOTHING""")
    op.execute("""
        INSERT INTO replicator.objects (object_key, item_id, owner_id, size)
        SELECT DISTINCT ON (object_key) object_key, item_id, owner_id, 0 FROM replicator.pending_copies
        ON CONFLICT DO NOTHING""")
    op.create_table(
        "scrub_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.String(length=1024), nullable=True),
        sa.Column("pass_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_pass_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="replicator",
    )
    op.create_table(
        "backfills",
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.String(length=1024), nullable=True),
        sa.Column("queued", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tier"),
        schema="replicator",
    )
    op.add_column("pending_copies", sa.Column("backfill", sa.Boolean(), server_default=sa.false(), nullable=False),
                  schema="replicator")


def downgrade() -> None:
    op.drop_column("pending_copies", "backfill", schema="replicator")
    op.drop_table("backfills", schema="replicator")
    op.drop_table("scrub_progress", schema="replicator")
    op.drop_index("ix_replicator_objects_damaged_at", table_name="objects", schema="replicator")
    op.drop_index("ix_replicator_objects_item_id", table_name="objects", schema="replicator")
    op.drop_table("objects", schema="replicator")
