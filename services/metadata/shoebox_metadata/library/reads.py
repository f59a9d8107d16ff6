"""The hot reads: each is one statement, run on asyncpg itself, outside any transaction, and comes back as
typed rows rather than ORM objects. An image's view is read at every open of it, so its item, variants,
copies, albums and whether an album shares it with the reader come together in one round trip.

Who may see what is decided by the caller (`Items`); these only fetch the facts. JSONB comes decoded by the
codec the engine gave the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from shoebox_lib.db import Database
from shoebox_metadata.kinds import ItemStatus, Visibility
from shoebox_metadata.library.repo import bounded, is_id
from shoebox_metadata.models import SCHEMA, Collection, CollectionFile, Copy, Item, Share, Variant


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item's columns that its views show or serve from."""

    id: int
    owner_id: int
    filename: str
    content_type: str | None
    declared_size: int
    size: int | None
    sha256: str | None
    visibility: str
    title: str | None
    tags: list[str]
    status: str
    object_key: str | None
    width: int | None
    height: int | None
    format: str | None
    created_at: datetime

    @classmethod
    def of(cls, item: Item) -> ItemRecord:
        return cls(**{name: getattr(item, name) for name in ITEM_COLUMNS})


@dataclass(frozen=True, slots=True)
class VariantRecord:
    name: str
    status: str
    object_key: str | None
    content_type: str | None
    width: int | None
    height: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class CopyRecord:
    object_key: str
    tier: str
    size: int


@dataclass(frozen=True, slots=True)
class ImageFacts:
    item: ItemRecord
    variants: list[VariantRecord]  # by name
    copies: list[CopyRecord]  # by object, then tier; read only for the item's owner, else empty
    albums: list[int]  # the owner's live albums holding it; read only for the owner, else empty
    # Whether a live album the reader owns, or one shared with them, holds it; asked only of a reader who is
    # not the owner, about a stored item that is not public (else False).
    in_readers_album: bool


ITEM_COLUMNS = tuple(ItemRecord.__dataclass_fields__)
VARIANT_COLUMNS = tuple(VariantRecord.__dataclass_fields__)
COPY_COLUMNS = tuple(CopyRecord.__dataclass_fields__)

_ITEMS, _VARIANTS, _COPIES, _ALBUMS, _MEMBERS, _SHARES = (
    f"{SCHEMA}.{model.__tablename__}" for model in (Item, Variant, Copy, Collection, CollectionFile, Share))


def _row_of(columns: tuple[str, ...], alias: str) -> str:
    return f"ROW({', '.join(f'{alias}.{c}' for c in columns)})"


# $1 the item, $2 the reader (NULL when signed out). The owner-only parts are NULL for anyone else.
IMAGE_FACTS = f"""
SELECT {', '.join(f'i.{c}' for c in ITEM_COLUMNS)},
  ARRAY(SELECT {_row_of(VARIANT_COLUMNS, 'v')} FROM {_VARIANTS} v WHERE v.item_id = i.id ORDER BY v.name)
    AS variants,
  CASE WHEN i.owner_id = $2 THEN ARRAY(
    SELECT {_row_of(COPY_COLUMNS, 'c')} FROM {_COPIES} c WHERE c.item_id = i.id ORDER BY c.object_key, c.tier)
  END AS copies,
  CASE WHEN i.owner_id = $2 THEN ARRAY(
    SELECT m.collection_id FROM {_MEMBERS} m JOIN {_ALBUMS} a ON a.id = m.collection_id
    WHERE m.item_id = i.id AND NOT m.is_deleted AND a.owner_id = i.owner_id AND NOT a.is_deleted
    ORDER BY m.collection_id)
  END AS albums,
  CASE WHEN i.owner_id <> $2 AND i.status = '{ItemStatus.STORED}' AND i.visibility <> '{Visibility.PUBLIC}'
  THEN EXISTS(
    SELECT 1 FROM {_MEMBERS} m JOIN {_ALBUMS} a ON a.id = m.collection_id
    WHERE m.item_id = i.id AND NOT m.is_deleted AND NOT a.is_deleted
      AND (a.owner_id = $2 OR a.id IN (SELECT s.collection_id FROM {_SHARES} s
                                        WHERE s.user_id = $2 AND NOT s.is_deleted)))
  END AS in_readers_album
FROM {_ITEMS} i WHERE i.id = $1
"""


async def image_facts(db: Database, item_id: int, reader_id: int | None) -> ImageFacts | None:
    """Everything an image's view shows, read for `reader_id`; None if no such item."""
    if not is_id(item_id):
        return None
    async with db.driver() as conn:
        row = await conn.fetchrow(IMAGE_FACTS, item_id, reader_id)
    if row is None:
        return None
    return ImageFacts(item=ItemRecord(*(row[name] for name in ITEM_COLUMNS)),
                      variants=[VariantRecord(*v) for v in row["variants"]],
                      copies=[CopyRecord(*c) for c in row["copies"] or ()], albums=list(row["albums"] or ()),
                      in_readers_album=bool(row["in_readers_album"]))


# A diff page is 2,500 of these: tuples, which are made several times faster than frozen dataclasses.
class FileRecord(NamedTuple):
    """An item's columns that an Ente diff shows, named as on `Item`."""

    id: int
    owner_id: int
    status: str
    size: int | None
    object_key: str | None
    file_decryption_header: str | None
    thumbnail_object_key: str | None
    thumbnail_decryption_header: str | None
    thumbnail_size: int | None
    metadata_encrypted_data: str | None
    metadata_decryption_header: str | None
    magic_metadata: dict[str, Any] | None
    pub_magic_metadata: dict[str, Any] | None


class MembershipChange(NamedTuple):
    """A line of a collection's diff: the file as it is, and its membership as it changed."""

    file: FileRecord
    collection_id: int
    encrypted_key: str | None
    key_decryption_nonce: str | None
    updation_time: int
    is_deleted: bool


FILE_COLUMNS = FileRecord._fields
_MAGIC = ("magic_metadata", "pub_magic_metadata")
_PLAIN = len(FILE_COLUMNS) - len(_MAGIC)
assert FILE_COLUMNS[_PLAIN:] == _MAGIC, "the magic metadata columns come last"
# Magic metadata comes as its JSON text and is decoded with orjson, several times the standard library's speed:
# its integers were checked to fit 64 bits when written, which is all orjson reads exactly.
MEMBERSHIP_CHANGES = f"""
SELECT {', '.join(f'i.{c}::text' if c in _MAGIC else f'i.{c}' for c in FILE_COLUMNS)},
       m.collection_id, m.encrypted_key, m.key_decryption_nonce, m.updation_time AS changed_at,
       m.is_deleted AS left_collection
FROM {_MEMBERS} m JOIN {_ITEMS} i ON i.id = m.item_id
WHERE m.collection_id = $1 AND m.updation_time > $2
ORDER BY m.updation_time LIMIT $3
"""


async def membership_changes(db: Database, collection_id: int, since: int, limit: int
                             ) -> tuple[list[MembershipChange], bool]:
    """A collection's membership changes after `since`, oldest first: a page of `limit`, and whether more
    follow. Selects only the columns a diff shows."""
    async with db.driver() as conn:
        rows = await conn.fetch(MEMBERSHIP_CHANGES, collection_id, bounded(since), bounded(limit) + 1)
    changes = [MembershipChange(_file(row), row["collection_id"], row["encrypted_key"], row["key_decryption_nonce"],
                                row["changed_at"], row["left_collection"]) for row in rows[:limit]]
    return changes, len(rows) > limit


def _file(row: Any) -> FileRecord:
    magic, public_magic = row[_PLAIN], row[_PLAIN + 1]
    return FileRecord._make((*row[:_PLAIN], orjson.loads(magic) if magic is not None else None,
                             orjson.loads(public_magic) if public_magic is not None else None))
