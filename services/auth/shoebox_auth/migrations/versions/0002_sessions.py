"""sessions remember the client that opened them

Revision ID: 0002_sessions
Revises: 1e19276d2f7a
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_sessions"
down_revision: str | None = "1e19276d2f7a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("client_package", sa.String(length=200), nullable=True), schema="auth")
    op.add_column("sessions", sa.Column("client_version", sa.String(length=100), nullable=True), schema="auth")


def downgrade() -> None:
    op.drop_column("sessions", "client_version", schema="auth")
    op.drop_column("sessions", "client_package", schema="auth")
