"""The v1 face's library: an album's cover image, the indexes that page an album's images by when each
was added and an owner's images by id, and the one that finds what is due to leave the trash

Revision ID: 0007_v1_library
Revises: 0006_store_space
Create Date: 2026-12-02 14:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007_v1_library"
down_revision: str | None = "0006_store_space"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("collections", sa.Column("cover_item_id", sa.BigInteger(), nullable=True), schema="metadata")
    op.create_foreign_key("fk_collections_cover_item", "collections", "items", ["cover_item_id"], ["id"],
                          source_schema="metadata", referent_schema="metadata", ondelete="SET NULL")
    op.create_index("ix_collection_files_page", "collection_files", ["collection_id", "added_at", "item_id"],
                    schema="metadata")
    op.create_index("ix_items_owner_id", "items", ["owner_id", "id"], schema="metadata")
    op.create_index("ix_trash_due", "trash", ["delete_by"], schema="metadata",
                    postgresql_where=sa.text("NOT is_deleted AND NOT is_restored"))


def downgrade() -> None:
    op.drop_index("ix_trash_due", table_name="trash", schema="metadata")
    op.drop_index("ix_items_owner_id", table_name="items", schema="metadata")
    op.drop_index("ix_collection_files_page", table_name="collection_files", schema="metadata")
    op.drop_constraint("fk_collections_cover_item", "collections", schema="metadata", type_="foreignkey")
    op.drop_column("collections", "cover_item_id", schema="metadata")
