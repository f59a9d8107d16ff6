"""What storage holds against what metadata says it should: objects nobody references (orphans) and stored
files whose bytes are on no tier (missing); and clearing the orphans.

One bucket per tier holds everything: library originals and thumbnails, Ente file data and public-link
uploads, compute's derived objects, the store space's files. An object is referenced when a row that is
not gone for good names it: an item's `object_key` or `thumbnail_object_key` (items not DELETED), a
variant of such an item, a file data entry, a file data upload not committed yet. A DELETED item's
objects are not kept by its row (which stays only so its id is never reused): `item.deleted` is already
taking them away.

Objects exist before the rows that name them (an upload's bytes land before its item commits; compute
writes a thumbnail before `job.completed` records it), so only objects older than the grace period can
be orphans. The grace period must be longer than the longest time an upload may take to commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Select, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.db import Database
from shoebox_lib.settings import Tier
from shoebox_lib.storage import Storage
from shoebox_lib.storage.base import StorageDriver, StoredObject
from shoebox_metadata.kinds import ItemStatus
from shoebox_metadata.models import FileData, FileDataUpload, Item, Variant

BATCH = 500  # objects checked against the database per query, and items per page of the missing check
CONCURRENCY = 8  # storage calls (HEAD, DELETE) in flight at once

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class OrphanedObject:
    tier: Tier
    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class MissingObject:
    item_id: int
    owner_id: int
    key: str


@dataclass(frozen=True)
class AuditReport:
    orphaned: list[OrphanedObject]
    missing: list[MissingObject]


@dataclass(frozen=True)
class Cleared:
    files_deleted: int


class Audit:
    def __init__(self, db: Database, storage: Storage, *, grace_seconds: int) -> None:
        if grace_seconds < 0:
            raise ValueError("the grace period cannot be negative")
        self.db = db
        self.storage = storage
        self.grace = timedelta(seconds=grace_seconds)

    async def report(self) -> AuditReport:
        orphaned = [orphan async for batch in self._orphans() for orphan in batch]
        return AuditReport(orphaned=orphaned, missing=await self._missing())

    async def clear_orphans(self) -> Cleared:
        """Delete every orphan, on every tier it is found on. Each batch is checked against the database
        again right before it is deleted: a row that came to name one of its objects since the listing
        keeps that object."""
        deleted = 0
        async for batch in self._orphans():
            still = await self._unreferenced([orphan.key for orphan in batch])
            doomed = [orphan for orphan in batch if orphan.key in still]
            await _bounded([self.storage.tier(orphan.tier).delete(orphan.key) for orphan in doomed])
            deleted += len(doomed)
        return Cleared(files_deleted=deleted)

    # Orphans

    async def _orphans(self) -> AsyncIterator[list[OrphanedObject]]:
        """The orphans of every tier, a batch (of one tier) at a time, as the listing goes."""
        cutoff = datetime.now(UTC) - self.grace
        for tier, driver in self.storage.tiers.items():
            async for batch in _batches(_older_than(driver, cutoff), BATCH):
                unreferenced = await self._unreferenced([stored.key for stored in batch])
                orphans = [OrphanedObject(tier, s.key, s.size, s.last_modified) for s in batch if s.key in unreferenced]
                if orphans:
                    yield orphans

    async def _unreferenced(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` that no row names, in one query."""
        async with self.db.transaction() as session:
            referenced = set((await session.execute(_references(keys))).scalars())
        return set(keys) - referenced

    # Missing

    async def _missing(self) -> list[MissingObject]:
        missing: list[MissingObject] = []
        after = 0
        while page := await self._stored_items(after):
            found = await _bounded([self._on_some_tier(key) for _, _, key in page])
            missing += [MissingObject(item_id, owner_id, key)
                        for (item_id, owner_id, key), present in zip(page, found, strict=True) if not present]
            after = page[-1][0]
        return await self._still_stored(missing)

    async def _stored_items(self, after: int) -> list[tuple[int, int, str]]:
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(Item.id, Item.owner_id, Item.object_key)
                .where(Item.status == ItemStatus.STORED, Item.object_key.is_not(None), Item.id > after)
                .order_by(Item.id).limit(BATCH))
            return [(item_id, owner_id, key) for item_id, owner_id, key in rows if key is not None]

    async def _on_some_tier(self, key: str) -> bool:
        for driver in self.storage.tiers.values():  # PRIMARY first: where nearly every object is
            if await driver.head(key) is not None:
                return True
        return False

    async def _still_stored(self, missing: list[MissingObject]) -> list[MissingObject]:
        """Leave out items deleted or given new bytes while their objects were looked for."""
        kept: list[MissingObject] = []
        for start in range(0, len(missing), BATCH):
            chunk = missing[start:start + BATCH]
            async with self.db.transaction() as session:
                now = await _stored_keys(session, [m.item_id for m in chunk])
            kept += [m for m in chunk if now.get(m.item_id) == m.key]
        return kept


def _references(keys: Sequence[str]) -> Select[tuple[str | None]]:
    """Every row that names one of `keys` (see the module's docstring for which rows keep an object)."""
    live = Item.status != ItemStatus.DELETED
    key = union(
        select(Item.object_key.label("key")).where(live, Item.object_key.in_(keys)),
        select(Item.thumbnail_object_key).where(live, Item.thumbnail_object_key.in_(keys)),
        select(Variant.object_key).join(Item, Item.id == Variant.item_id).where(live, Variant.object_key.in_(keys)),
        select(FileData.object_key).where(FileData.object_key.in_(keys)),
        select(FileDataUpload.object_key).where(FileDataUpload.object_key.in_(keys)),
    ).subquery().c.key
    return select(key)


async def _stored_keys(session: AsyncSession, item_ids: list[int]) -> dict[int, str | None]:
    rows = await session.execute(select(Item.id, Item.object_key)
                                 .where(Item.id.in_(item_ids), Item.status == ItemStatus.STORED))
    return {item_id: key for item_id, key in rows}


async def _older_than(driver: StorageDriver, cutoff: datetime) -> AsyncIterator[StoredObject]:
    async for stored in driver.list_objects():
        if stored.last_modified < cutoff:
            yield stored


async def _batches(items: AsyncIterator[T], size: int) -> AsyncIterator[list[T]]:
    batch: list[T] = []
    async for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _bounded(calls: Sequence[Awaitable[R]], limit: int = CONCURRENCY) -> list[R]:
    """Await all of `calls`, at most `limit` at a time, their results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[R]) -> R:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))
