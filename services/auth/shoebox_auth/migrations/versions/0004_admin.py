"""Ente admin and sign-in edge cases: users.is_email_mfa_enabled, ente_subscriptions

Revision ID: 0004_admin
Revises: 0003_ente
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_admin"
down_revision: str | None = "0003_ente"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("is_email_mfa_enabled", sa.Boolean(), server_default=sa.false(),
                                     nullable=False), schema="auth")
    op.create_table(
        "ente_subscriptions",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("storage", sa.BigInteger(), nullable=False),
        sa.Column("expiry_time", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.String(length=100), nullable=False),
        sa.Column("transaction_id", sa.String(length=200), nullable=False),
        sa.Column("payment_provider", sa.String(length=100), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
        schema="auth",
    )


def downgrade() -> None:
    op.drop_table("ente_subscriptions", schema="auth")
    op.drop_column("users", "is_email_mfa_enabled", schema="auth")
