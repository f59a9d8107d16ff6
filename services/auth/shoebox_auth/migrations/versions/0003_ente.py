"""Ente sign-in: key attributes, SRP credentials, setups and sessions, email codes; rate limits;
users.is_email_verified

Revision ID: 0003_ente
Revises: 0002_sessions
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_ente"
down_revision: str | None = "0002_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("is_email_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
                  schema="auth")
    op.create_table(
        "ente_key_attributes",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
        schema="auth",
    )
    op.create_table(
        "ente_srp_credentials",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("srp_user_id", sa.UUID(), nullable=False),
        sa.Column("salt", sa.Text(), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("srp_user_id"),
        schema="auth",
    )
    op.create_table(
        "ente_srp_sessions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("srp_user_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=False),
        sa.Column("server_secret", sa.Text(), nullable=False),
        sa.Column("client_public", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="auth",
    )
    op.create_index(op.f("ix_auth_ente_srp_sessions_srp_user_id"), "ente_srp_sessions", ["srp_user_id"],
                    unique=False, schema="auth")
    op.create_index(op.f("ix_auth_ente_srp_sessions_expires_at"), "ente_srp_sessions", ["expires_at"],
                    unique=False, schema="auth")
    op.create_table(
        "ente_srp_setups",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.UUID(), nullable=False),
        sa.Column("srp_user_id", sa.UUID(), nullable=False),
        sa.Column("salt", sa.Text(), nullable=False),
        sa.Column("verifier", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["auth.ente_srp_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="auth",
    )
    op.create_index(op.f("ix_auth_ente_srp_setups_user_id"), "ente_srp_setups", ["user_id"], unique=False,
                    schema="auth")
    op.create_table(
        "ente_email_codes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("wrong_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema="auth",
    )
    op.create_index(op.f("ix_auth_ente_email_codes_email"), "ente_email_codes", ["email"], unique=False,
                    schema="auth")
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        schema="auth",
    )
    op.create_index(op.f("ix_auth_rate_limits_updated_at"), "rate_limits", ["updated_at"], unique=False,
                    schema="auth")


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_rate_limits_updated_at"), table_name="rate_limits", schema="auth")
    op.drop_table("rate_limits", schema="auth")
    op.drop_index(op.f("ix_auth_ente_email_codes_email"), table_name="ente_email_codes", schema="auth")
    op.drop_table("ente_email_codes", schema="auth")
    op.drop_index(op.f("ix_auth_ente_srp_setups_user_id"), table_name="ente_srp_setups", schema="auth")
    op.drop_table("ente_srp_setups", schema="auth")
    op.drop_index(op.f("ix_auth_ente_srp_sessions_expires_at"), table_name="ente_srp_sessions", schema="auth")
    op.drop_index(op.f("ix_auth_ente_srp_sessions_srp_user_id"), table_name="ente_srp_sessions", schema="auth")
    op.drop_table("ente_srp_sessions", schema="auth")
    op.drop_table("ente_srp_credentials", schema="auth")
    op.drop_table("ente_key_attributes", schema="auth")
    op.drop_column("users", "is_email_verified", schema="auth")
