"""The job broker: lanes, leases, progress and bounded tries on jobs; job files; the worker registry and
worker credentials

Revision ID: 0002_broker
Revises: 4d10e0140e70
Create Date: 2026-12-02 01:15:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_broker"
down_revision: str | None = "4d10e0140e70"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in (
        sa.Column("lane", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("progress", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("lease_worker", sa.String(length=128), nullable=True),
        sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True),
    ):
        op.add_column("jobs", column, schema="compute")
    op.alter_column("jobs", "object_key", existing_type=sa.String(length=1024), nullable=True, schema="compute")
    # The statuses CL's clients read.
    op.execute("UPDATE compute.jobs SET status = 'in_progress' WHERE status = 'processing'")
    op.execute("UPDATE compute.jobs SET status = 'failed' WHERE status = 'error'")
    op.create_index("ix_jobs_dispatch", "jobs", ["task_type", "lane", sa.text("priority DESC"), "created_at"],
                    schema="compute", postgresql_where=sa.text("status = 'queued'"))
    op.create_index("ix_jobs_lease", "jobs", ["lease_expires"], schema="compute",
                    postgresql_where=sa.text("status = 'in_progress'"))
    op.create_table(
        "job_files",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["compute.jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "role", "path"),
        schema="compute",
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("capabilities", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("idle", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("credential_id", sa.String(length=40), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="compute",
    )
    op.create_index("ix_compute_workers_last_seen", "workers", ["last_seen"], schema="compute")
    op.create_table(
        "worker_credentials",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema="compute",
    )


def downgrade() -> None:
    op.drop_table("worker_credentials", schema="compute")
    op.drop_index("ix_compute_workers_last_seen", table_name="workers", schema="compute")
    op.drop_table("workers", schema="compute")
    op.drop_table("job_files", schema="compute")
    op.drop_index("ix_jobs_lease", table_name="jobs", schema="compute")
    op.drop_index("ix_jobs_dispatch", table_name="jobs", schema="compute")
    op.execute("UPDATE compute.jobs SET status = 'processing' WHERE status = 'in_progress'")
    op.execute("UPDATE compute.jobs SET status = 'error' WHERE status = 'failed'")
    op.execute("DELETE FROM compute.jobs WHERE object_key IS NULL")
    op.alter_column("jobs", "object_key", existing_type=sa.String(length=1024), nullable=False, schema="compute")
    for name in ("lease_expires", "lease_worker", "max_attempts", "progress", "created_by", "lane"):
        op.drop_column("jobs", name, schema="compute")
