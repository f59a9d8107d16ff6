"""The replicator's copier, driven directly with events: copies verified and idempotent, erases total,
and a copy that arrives after the erase brings nothing back."""

from __future__ import annotations

import os

from sqlalchemy import func, select

from shoebox.testing import RunningSystem
from shoebox_lib.db import Database
from shoebox_lib.events import ItemDeleted, ItemStored
from shoebox_replicator.copier import Copier
from shoebox_replicator.models import ObjectCopy


def parts(system: RunningSystem) -> tuple[Copier, Database]:
    state = system.services["replicator"].app.state
    return state.container.copier, state.runtime.db


async def copies(system: RunningSystem, key: str) -> int:
    _, db = parts(system)
    async with db.transaction() as session:
        count: int = (await session.execute(
            select(func.count()).select_from(ObjectCopy).where(ObjectCopy.object_key == key))).scalar_one()
    return count


async def test_a_copy_is_verified_idempotent_and_erased_from_every_tier(system: RunningSystem) -> None:
    copier, db = parts(system)
    storage = copier.storage
    key, data = "u/1/r/copy-me", os.urandom(300_000)
    await storage.primary.put_bytes(key, data, content_type="image/png")
    stored = ItemStored(item_id=1, owner_id=1, object_key=key, size=len(data), content_type="image/png")
    for _ in range(2):
        async with db.transaction() as session:
            await copier.replicate(session, stored)
    assert await storage.tier("secondary").get_bytes(key) == data
    copied = await storage.tier("secondary").head(key)
    assert copied is not None
    assert copied.content_type == "image/png"
    assert await copies(system, key) == 1

    async with db.transaction() as session:
        await copier.erase(session, ItemDeleted(item_id=1, owner_id=1, object_keys=[key]))
    assert [await d.head(key) for d in storage.tiers.values()] == [None] * len(storage.tiers)
    assert await copies(system, key) == 0


async def test_a_copy_arriving_after_the_erase_brings_nothing_back(system: RunningSystem) -> None:
    copier, db = parts(system)
    storage = copier.storage
    key = "u/1/r/late"
    await storage.primary.put_bytes(key, b"late bytes")
    async with db.transaction() as session:
        await copier.erase(session, ItemDeleted(item_id=2, owner_id=1, object_keys=[key]))
    # The object reappears in PRIMARY only to show the copier is not stopped by its absence but by the
    # tombstone: a redelivered item.stored must not copy it again.
    await storage.primary.put_bytes(key, b"late bytes")
    async with db.transaction() as session:
        await copier.replicate(session, ItemStored(item_id=2, owner_id=1, object_key=key, size=10))
    assert await storage.tier("secondary").head(key) is None
    assert await copies(system, key) == 0
