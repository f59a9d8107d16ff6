"""Copies every stored object from PRIMARY to the other tiers, streaming, and verifies each copy."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.bus import emit
from shoebox_lib.errors import NotFound
from shoebox_lib.events import ItemDeleted, ItemStored, ReplicaStored, VariantStored
from shoebox_lib.settings import Tier
from shoebox_lib.storage import Storage
from shoebox_replicator.models import BUS, ObjectCopy, Tombstone

log = logging.getLogger(__name__)

COPIED_BYTES = Counter("shoebox_replicated_bytes_total", "Bytes copied to other tiers", ["tier"])


DELETED_OBJECTS = Counter("shoebox_deleted_objects_total", "Objects removed from a tier after a hard delete",
                          ["tier"])


async def lock_key(session: AsyncSession, key: str) -> None:
    """Copying and erasing one object take turns, so an erase never races a copy still being written."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"replica:{key}"})


class ReplicationFailed(Exception):
    """A copy that does not match its source; the event is retried."""


class Copier:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @property
    def targets(self) -> list[Tier]:
        return [tier for tier in self.storage.tiers if tier != "primary"]

    async def replicate(self, session: AsyncSession, event: ItemStored | VariantStored) -> None:
        """Copy the object to every other tier that lacks a verified copy; record and announce each."""
        await lock_key(session, event.object_key)
        if await session.get(Tombstone, event.object_key) is not None:
            return  # deleted for good before this copy came round
        source = self.storage.primary
        original = await source.head(event.object_key)
        if original is None:
            raise NotFound(f"{event.object_key} is not in PRIMARY (yet)")
        for tier in self.targets:
            known = await session.get(ObjectCopy, (event.object_key, tier))
            if known is not None and known.size == original.size:
                continue
            target = self.storage.tier(tier)
            await target.put_stream(event.object_key, source.get_stream(event.object_key),
                                    content_type=original.content_type)
            copy = await target.head(event.object_key)
            if copy is None or copy.size != original.size:
                raise ReplicationFailed(f"copy of {event.object_key} in {tier} does not match its source")
            COPIED_BYTES.labels(tier).inc(copy.size)
            now = datetime.now(UTC)
            values = dict(object_key=event.object_key, tier=tier, size=copy.size, etag=copy.etag,
                          item_id=event.item_id, owner_id=event.owner_id, copied_at=now, verified_at=now)
            await session.execute(insert(ObjectCopy).values(**values).on_conflict_do_update(
                index_elements=[ObjectCopy.object_key, ObjectCopy.tier], set_=values,
            ))
            await emit(session, BUS, ReplicaStored(object_key=event.object_key, tier=tier, size=copy.size,
                                                   item_id=event.item_id))

    async def erase(self, session: AsyncSession, event: ItemDeleted) -> None:
        """The library has deleted the item for good (committed): remove its objects from every tier."""
        for key in event.object_keys:
            await lock_key(session, key)
            await session.execute(insert(Tombstone).values(object_key=key).on_conflict_do_nothing())
            for tier, driver in self.storage.tiers.items():
                await driver.delete(key)
                DELETED_OBJECTS.labels(tier).inc()
            await session.execute(delete(ObjectCopy).where(ObjectCopy.object_key == key))
