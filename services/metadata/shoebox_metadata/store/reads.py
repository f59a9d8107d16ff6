"""The store's hot read: `GET /entities/{id}` in one statement on asyncpg itself, outside any transaction.

The entity (a live item or collection of the store's space), its parent, whether a collection above it is
trashed, how many live children a collection holds and how far compute is with a file all come in one round
trip; the ORM's version of the same read made five, and spent most of its time compiling them.
"""

from __future__ import annotations

from typing import Any

from shoebox_lib.db import Database
from shoebox_metadata.kinds import VariantStatus
from shoebox_metadata.library.repo import is_id
from shoebox_metadata.models import SCHEMA, Collection, CollectionFile, Item, Variant
from shoebox_metadata.store.repo import LIVE_ITEM, MAX_DEPTH
from shoebox_metadata.store.space import STORE_SPACE
from shoebox_metadata.store.views import EntityView, collection_view, item_view

ITEM_FIELDS = ("id", "title", "description", "created_at", "updated_at", "taken_at", "added_by", "updated_by",
               "status", "size", "height", "width", "duration", "content_type", "media_type", "extension", "md5",
               "object_key")
COLLECTION_FIELDS = ("id", "name", "description", "parent_id", "created_at", "updated_at", "added_by",
                     "updated_by", "is_trashed")

_ITEMS, _COLLECTIONS, _MEMBERS, _VARIANTS = (
    f"{SCHEMA}.{model.__tablename__}" for model in (Item, Collection, CollectionFile, Variant))
_LIVE = ", ".join(f"'{status}'" for status in LIVE_ITEM)

# $1 the entity. The chain walk stops at the depth rule and one more, as `repo.ancestors` does.
ENTITY = f"""
WITH RECURSIVE
  i AS (SELECT * FROM {_ITEMS} WHERE id = $1 AND owner_id = {STORE_SPACE} AND status IN ({_LIVE})),
  c AS (SELECT * FROM {_COLLECTIONS}
        WHERE id = $1 AND owner_id = {STORE_SPACE} AND NOT is_deleted AND NOT EXISTS (SELECT 1 FROM i)),
  parent AS (
    (SELECT m.collection_id AS id FROM {_MEMBERS} m JOIN i ON m.item_id = i.id WHERE NOT m.is_deleted LIMIT 1)
    UNION ALL SELECT parent_id FROM c WHERE parent_id IS NOT NULL),
  chain(id, parent_id, is_trashed, depth) AS (
    SELECT a.id, a.parent_id, a.is_trashed, 1 FROM {_COLLECTIONS} a JOIN parent ON a.id = parent.id
    WHERE a.owner_id = {STORE_SPACE}
    UNION ALL
    SELECT a.id, a.parent_id, a.is_trashed, chain.depth + 1 FROM {_COLLECTIONS} a JOIN chain ON a.id = chain.parent_id
    WHERE a.owner_id = {STORE_SPACE} AND chain.depth <= {MAX_DEPTH + 1})
SELECT
  (SELECT ROW({', '.join(f'i.{f}' for f in ITEM_FIELDS)}) FROM i) AS item,
  (SELECT ROW({', '.join(f'c.{f}' for f in COLLECTION_FIELDS)}) FROM c) AS collection,
  (SELECT id FROM parent LIMIT 1) AS parent_id,
  EXISTS (SELECT 1 FROM chain WHERE is_trashed) AS indirectly_deleted,
  (SELECT count(*) FROM {_COLLECTIONS} s JOIN c ON s.parent_id = c.id WHERE NOT s.is_deleted)
  + (SELECT count(*) FROM {_MEMBERS} m JOIN c ON m.collection_id = c.id JOIN {_ITEMS} x ON x.id = m.item_id
     WHERE NOT m.is_deleted AND x.status IN ({_LIVE})) AS children,
  ARRAY(SELECT DISTINCT v.status FROM {_VARIANTS} v JOIN i ON v.item_id = i.id) AS variant_states
"""


def _state(variant_states: list[str]) -> str:
    """As `repo.processing_states` names it."""
    if VariantStatus.PROCESSING in variant_states:
        return "processing"
    return "failed" if VariantStatus.FAILED in variant_states else "completed"


async def entity(db: Database, entity_id: int) -> EntityView | None:
    """The entity's view as `Entities.get` shows it; None if there is no such live entity."""
    if not is_id(entity_id):
        return None
    async with db.driver() as conn:
        row = await conn.fetchrow(ENTITY, entity_id)
    assert row is not None, "the statement returns one row always"
    indirectly = bool(row["indirectly_deleted"])
    # Transient model objects, so the views are built by the same code as every other read's.
    if row["item"] is not None:
        item = Item(**_fields(ITEM_FIELDS, row["item"]))
        return item_view(item, parent_id=row["parent_id"], indirectly_deleted=indirectly,
                         overall_status=_state(list(row["variant_states"])))
    if row["collection"] is not None:
        collection = Collection(**_fields(COLLECTION_FIELDS, row["collection"]))
        return collection_view(collection, children=int(row["children"]), indirectly_deleted=indirectly)
    return None


def _fields(names: tuple[str, ...], record: Any) -> dict[str, Any]:
    return dict(zip(names, record, strict=True))
