"""The replicator's copier, driven directly with events, and its copy worker (running in the system):
copies verified by their own read-back SHA-256 and idempotent, erases total, a copy that arrives after the
erase brings nothing back, and a tier that fails or hands back wrong bytes is tried again, with backoff,
until its copy is right (nothing is dead-lettered)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from shoebox.testing import RunningSystem
from shoebox_lib.db import Database
from shoebox_lib.events import ItemDeleted, ItemStored
from shoebox_replicator import copier as copier_module
from shoebox_replicator.copier import Copier, CopyWorker
from shoebox_replicator.models import ObjectCopy, PendingCopy, PendingDelete
from shoebox_replicator.throttle import Throttle


def parts(system: RunningSystem) -> tuple[Copier, Database]:
    state = system.services["replicator"].app.state
    return state.container.copier, state.runtime.db


async def copies(system: RunningSystem, key: str) -> int:
    _, db = parts(system)
    async with db.transaction() as session:
        count: int = (await session.execute(
            select(func.count()).select_from(ObjectCopy).where(ObjectCopy.object_key == key))).scalar_one()
    return count


async def owed(system: RunningSystem, key: str) -> list[PendingCopy]:
    _, db = parts(system)
    async with db.transaction() as session:
        return list((await session.execute(select(PendingCopy).where(PendingCopy.object_key == key))).scalars())


async def until_copied(system: RunningSystem, key: str) -> ObjectCopy:
    """The worker runs in the system: wait for it to owe the key nothing, then read its record."""
    _, db = parts(system)
    async with asyncio.timeout(60):
        while await owed(system, key) or not await copies(system, key):
            await asyncio.sleep(0.05)
    async with db.transaction() as session:
        found = (await session.execute(select(ObjectCopy).where(ObjectCopy.object_key == key))).scalar_one()
    return found


async def until_erased(system: RunningSystem, key: str) -> None:
    _, db = parts(system)
    async with asyncio.timeout(60):
        while True:
            async with db.transaction() as session:
                left = (await session.execute(select(func.count()).select_from(PendingDelete)
                                              .where(PendingDelete.object_key == key))).scalar_one()
            if not left:
                return
            await asyncio.sleep(0.05)


async def test_a_copy_is_verified_idempotent_and_erased_from_every_tier(system: RunningSystem) -> None:
    copier, db = parts(system)
    storage = copier.storage
    key, data = "u/1/r/copy-me", os.urandom(300_000)
    await storage.primary.put_bytes(key, data, content_type="image/png")
    stored = ItemStored(item_id=1, owner_id=1, object_key=key, size=len(data), content_type="image/png")
    for _ in range(2):
        async with db.transaction() as session:
            await copier.replicate(session, stored)
    record = await until_copied(system, key)
    assert (record.sha256, record.size, record.owner_id) == (hashlib.sha256(data).hexdigest(), len(data), 1)
    assert await storage.tier("secondary").get_bytes(key) == data
    copied = await storage.tier("secondary").head(key)
    assert copied is not None
    assert copied.content_type == "image/png"
    assert await copies(system, key) == 1

    async with db.transaction() as session:
        await copier.erase(session, ItemDeleted(item_id=1, owner_id=1, object_keys=[key]))
    await until_erased(system, key)
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
    assert await owed(system, key) == []  # nothing queued: nothing will be copied
    assert await storage.tier("secondary").head(key) is None
    assert await copies(system, key) == 0


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(copier_module, "backoff", lambda attempts: timedelta(milliseconds=50 * attempts))


async def test_a_tier_that_refuses_is_tried_again_until_it_takes_the_copy(system: RunningSystem, quick_backoff: None,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    copier, db = parts(system)
    target = copier.storage.tier("secondary")
    refusals = 0
    real_put = target.put_stream

    async def down(key: str, chunks: AsyncIterator[bytes], **kwargs: Any) -> Any:
        nonlocal refusals
        if key.endswith("outage") and refusals < 5:  # the tier is down for its first five tries
            refusals += 1
            raise ConnectionError("the tier refuses connections")
        return await real_put(key, chunks, **kwargs)

    async def down_server_side(source: Any, key: str) -> Any:
        nonlocal refusals
        if key.endswith("outage") and refusals < 5:
            refusals += 1
            raise ConnectionError("the tier refuses connections")
        return await real_copy(source, key)

    real_copy = target.copy_from
    monkeypatch.setattr(target, "put_stream", down)
    monkeypatch.setattr(target, "copy_from", down_server_side)
    key, data = "u/1/r/outage", os.urandom(50_000)
    await copier.storage.primary.put_bytes(key, data)
    async with db.transaction() as session:
        await copier.replicate(session, ItemStored(item_id=3, owner_id=1, object_key=key, size=len(data)))
    record = await until_copied(system, key)
    assert refusals == 5
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert await target.get_bytes(key) == data


async def test_a_copy_whose_bytes_read_back_wrong_is_never_counted(system: RunningSystem, quick_backoff: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    copier, db = parts(system)
    target = copier.storage.tier("secondary")
    real_put = target.put_stream
    bad_tries = 0

    async def rotting(key: str, chunks: AsyncIterator[bytes], **kwargs: Any) -> Any:
        """The first two copies land with one byte flipped, as a failing disk would write them."""
        nonlocal bad_tries
        if not key.endswith("rot") or bad_tries >= 2:
            return await real_put(key, chunks, **kwargs)
        bad_tries += 1
        data = b"".join([chunk async for chunk in chunks])

        async def flipped() -> AsyncIterator[bytes]:
            yield bytes([data[0] ^ 1]) + data[1:]

        return await real_put(key, flipped(), **kwargs)

    async def streamed(source: Any, key: str) -> None:
        return None  # as between two endpoints: the bytes stream through the worker

    monkeypatch.setattr(target, "put_stream", rotting)
    monkeypatch.setattr(target, "copy_from", streamed)
    key, data = "u/1/r/rot", os.urandom(20_000)
    await copier.storage.primary.put_bytes(key, data)
    async with db.transaction() as session:
        await copier.replicate(session, ItemStored(item_id=4, owner_id=1, object_key=key, size=len(data)))
    async with asyncio.timeout(60):
        while bad_tries < 2:
            assert await copies(system, key) == 0, "a copy that does not match was counted"
            await asyncio.sleep(0.01)
    record = await until_copied(system, key)
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert await target.get_bytes(key) == data


async def test_a_delete_reaches_a_tier_that_was_down_once_it_is_back(system: RunningSystem, quick_backoff: None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    copier, db = parts(system)
    storage = copier.storage
    key, data = "u/1/r/gone-while-down", os.urandom(10_000)
    await storage.primary.put_bytes(key, data)
    async with db.transaction() as session:
        await copier.replicate(session, ItemStored(item_id=5, owner_id=1, object_key=key, size=len(data)))
    await until_copied(system, key)
    secondary = storage.tier("secondary")
    real_delete = secondary.delete
    refused = 0

    async def down(name: str) -> None:
        nonlocal refused
        if name == key and refused < 4:
            refused += 1
            raise ConnectionError("the tier refuses connections")
        await real_delete(name)

    monkeypatch.setattr(secondary, "delete", down)
    async with db.transaction() as session:
        await copier.erase(session, ItemDeleted(item_id=5, owner_id=1, object_keys=[key]))
    await until_erased(system, key)
    assert refused == 4
    assert [await d.head(key) for d in storage.tiers.values()] == [None] * len(storage.tiers)
    assert await copies(system, key) == 0


async def test_a_worker_stopped_just_after_it_took_copies_gives_them_back(api: RunningSystem,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The cancel of a clean stop can land after a take has committed but before its rows reach the worker's
    hands: they are given back all the same, not left leased for the lease's 15 minutes."""
    copier, db = parts(api)
    running = next(t for t in asyncio.all_tasks() if t.get_name() == "replicator:copy-worker")
    running.cancel()  # the system's own worker is out of the way: the one below is the only taker
    with contextlib.suppress(asyncio.CancelledError):
        await running
    worker = CopyWorker(db, copier, Throttle(1 << 30), timedelta(minutes=15))
    took = asyncio.Event()

    async def stalls(limit: int) -> list[Any]:
        took.set()  # `take` has committed; the stop lands here, before run() has what it took
        await asyncio.Event().wait()
        return []

    monkeypatch.setattr(worker, "take_deletes", stalls)
    key, data = "u/1/r/taken", os.urandom(1000)
    await copier.storage.primary.put_bytes(key, data)
    async with db.transaction() as session:
        await copier.replicate(session, ItemStored(item_id=6, owner_id=1, object_key=key, size=len(data)))
    task = asyncio.create_task(worker.run())
    async with asyncio.timeout(30):
        await took.wait()
    [held] = await owed(api, key)
    assert held.held_by == worker.name
    assert held.due_at > datetime.now(UTC) + timedelta(minutes=14)

    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    [given_back] = await owed(api, key)
    assert given_back.held_by is None
    assert given_back.due_at <= datetime.now(UTC)
    assert given_back.attempts == 0
