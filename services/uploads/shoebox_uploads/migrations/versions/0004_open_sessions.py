"""an owner's open sessions counted through an index (the per-account limit on open uploads)

Revision ID: 0004_open_sessions
Revises: 0003_facts
Create Date: 2026-12-02 10:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0004_open_sessions'
down_revision: str | None = '0003_facts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_upload_sessions_owner_status', 'upload_sessions', ['owner_id', 'status'], unique=False,
                    schema='uploads')


def downgrade() -> None:
    op.drop_index('ix_upload_sessions_owner_status', table_name='upload_sessions', schema='uploads')
