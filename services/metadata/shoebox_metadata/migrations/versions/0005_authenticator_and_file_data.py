"""Ente Auth keys and entities, file data and pending preview uploads

Revision ID: 0005_authenticator_and_file_data
Revises: 0004_file_links
Create Date: 2026-11-24 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005_authenticator_and_file_data"
down_revision: str | None = "0004_file_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "authenticator_keys",
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("encrypted_key", sa.Text(), nullable=False),
        sa.Column("header", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id"),
        schema="metadata",
    )
    op.create_table(
        "authenticator_entities",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("encrypted_data", sa.Text(), nullable=True),
        sa.Column("header", sa.Text(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("is_deleted = (encrypted_data IS NULL)", name="authenticator_entities_deleted_has_no_data"),
        sa.ForeignKeyConstraint(["owner_id"], ["metadata.authenticator_keys.owner_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="metadata",
    )
    op.create_index("ix_authenticator_entities_diff", "authenticator_entities", ["owner_id", "updated_at"],
                    unique=True, schema="metadata")
    op.create_table(
        "file_data",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("encrypted_data", sa.Text(), nullable=True),
        sa.Column("decryption_header", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("object_key", sa.String(length=1024), nullable=True),
        sa.Column("object_nonce", sa.Text(), nullable=True),
        sa.Column("object_size", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["metadata.items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "type"),
        schema="metadata",
    )
    op.create_index("ix_file_data_diff", "file_data", ["owner_id", "updated_at"], unique=True, schema="metadata")
    op.create_table(
        "file_data_uploads",
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("multipart_upload_id", sa.String(length=1024), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["metadata.items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("object_key"),
        schema="metadata",
    )
    op.create_index(op.f("ix_metadata_file_data_uploads_expires_at"), "file_data_uploads", ["expires_at"],
                    unique=False, schema="metadata")
    op.create_index(op.f("ix_metadata_file_data_uploads_item_id"), "file_data_uploads", ["item_id"],
                    unique=False, schema="metadata")


def downgrade() -> None:
    op.drop_index(op.f("ix_metadata_file_data_uploads_item_id"), table_name="file_data_uploads", schema="metadata")
    op.drop_index(op.f("ix_metadata_file_data_uploads_expires_at"), table_name="file_data_uploads", schema="metadata")
    op.drop_table("file_data_uploads", schema="metadata")
    op.drop_index("ix_file_data_diff", table_name="file_data", schema="metadata")
    op.drop_table("file_data", schema="metadata")
    op.drop_index("ix_authenticator_entities_diff", table_name="authenticator_entities", schema="metadata")
    op.drop_table("authenticator_entities", schema="metadata")
    op.drop_table("authenticator_keys", schema="metadata")
