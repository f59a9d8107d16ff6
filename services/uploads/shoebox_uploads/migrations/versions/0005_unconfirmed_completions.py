"""completions metadata has not been seen to apply: found through a partial index, sent again at most once a
grace period (`resent_at`)

Revision ID: 0005_unconfirmed_completions
Revises: 0004_open_sessions
Create Date: 2026-12-03 16:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005_unconfirmed_completions'
down_revision: str | None = '0004_open_sessions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('upload_sessions', sa.Column('resent_at', sa.DateTime(timezone=True), nullable=True),
                  schema='uploads')
    op.create_index('ix_upload_sessions_unconfirmed', 'upload_sessions', ['completed_at'], unique=False,
                    schema='uploads', postgresql_where=sa.text("status = 'completed' AND committed_at IS NULL"))


def downgrade() -> None:
    op.drop_index('ix_upload_sessions_unconfirmed', table_name='upload_sessions', schema='uploads')
    op.drop_column('upload_sessions', 'resent_at', schema='uploads')
