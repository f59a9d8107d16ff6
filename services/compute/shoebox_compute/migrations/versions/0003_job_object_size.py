"""A job's item original's size, recorded when the job is made (from item.stored, or the item's source),
so that leasing the job needs no HEAD of storage

Revision ID: 0003_job_object_size
Revises: 0002_broker
Create Date: 2026-12-02 14:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_job_object_size"
down_revision: str | None = "0002_broker"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for jobs made before: their size is asked of storage when they are leased.
    op.add_column("jobs", sa.Column("object_size", sa.BigInteger(), nullable=True), schema="compute")


def downgrade() -> None:
    op.drop_column("jobs", "object_size", schema="compute")
