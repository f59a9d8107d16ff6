"""Copies every stored object from PRIMARY to the other tiers, and erases deleted ones from every tier.

Learning of an object (`item.stored`, `variant.stored`) only queues a copy per tier that lacks one
(`PendingCopy`), in the event's own transaction; learning of a delete (`item.deleted`) queues a delete per
tier (`PendingDelete`) beside a tombstone. The copy worker (`CopyWorker.run`) takes due copies and
moves the bytes outside any transaction: it streams the object from PRIMARY to the tier, hashing what it
reads, then reads the copy back, hashing again; only a copy whose own bytes hash as the source's did is
recorded as verified, in a short transaction of its own. A failed try comes due again with backoff, for as
long as the tier stays down; nothing is dead-lettered.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.bus import emit
from shoebox_lib.db import Database, after_commit
from shoebox_lib.events import ItemDeleted, ItemStored, ReplicaStored, VariantStored
from shoebox_lib.settings import Tier
from shoebox_lib.storage import Storage
from shoebox_replicator.models import BUS, ObjectCopy, PendingCopy, PendingDelete, Tombstone

log = logging.getLogger(__name__)

COPIED_BYTES = Counter("shoebox_replicated_bytes_total", "Bytes copied to other tiers", ["tier"])
FAILED_TRIES = Counter("shoebox_replica_failed_tries_total", "Copies and deletes that failed (to be tried again)",
                       ["tier", "queue"])
PENDING_COPIES = Gauge("shoebox_replica_pending_copies", "Copies still owed to a tier", ["tier"])
REPLICATION_LAG = Gauge("shoebox_replication_lag_seconds", "Age of the oldest copy still owed to any tier")
DELETED_OBJECTS = Counter("shoebox_deleted_objects_total", "Objects removed from a tier after a hard delete",
                          ["tier"])

# Copies one worker moves at once, and how long a taken copy is its own before another worker may take it
# (a worker that died mid-copy leaves its copies to come due again then).
PARALLEL = 4
LEASE = timedelta(minutes=15)
# A failed try comes due again after 1 s, 2 s, 4 s… up to this; a tier down for a day is tried every 5 min.
MAX_BACKOFF_SECONDS = 300
IDLE_POLL_SECONDS = 5.0  # between looks at the queue when nothing wakes the worker


async def lock_key(session: AsyncSession, key: str) -> None:
    """Recording a copy and erasing its object take turns, so an erase never races a copy's record."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"replica:{key}"})


class ReplicationFailed(Exception):
    """A copy that does not match its source, or a source not there (yet); tried again later."""


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** min(attempts, 16), MAX_BACKOFF_SECONDS))


@dataclass(frozen=True)
class Owed:
    """One copy a worker has taken."""

    object_key: str
    tier: Tier
    item_id: int | None
    attempts: int


async def _hashed(chunks: AsyncIterator[bytes], digest: hashlib._Hash, sizes: list[int]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        digest.update(chunk)
        sizes[0] += len(chunk)
        yield chunk


async def content_hash(chunks: AsyncIterator[bytes]) -> tuple[str, int]:
    """The SHA-256 and size of a stream, read to its end."""
    digest, sizes = hashlib.sha256(), [0]
    async for _ in _hashed(chunks, digest, sizes):
        pass
    return digest.hexdigest(), sizes[0]


class Copier:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.wake = asyncio.Event()

    @property
    def targets(self) -> list[Tier]:
        return [tier for tier in self.storage.tiers if tier != "primary"]

    async def replicate(self, session: AsyncSession, event: ItemStored | VariantStored) -> None:
        """Owe the object a copy in every other tier that lacks one (the worker moves the bytes)."""
        await lock_key(session, event.object_key)
        if await session.get(Tombstone, event.object_key) is not None:
            return  # deleted for good before this copy came round
        now = datetime.now(UTC)
        for tier in self.targets:
            if await session.get(ObjectCopy, (event.object_key, tier)) is not None:
                continue
            await session.execute(insert(PendingCopy).values(
                object_key=event.object_key, tier=tier, item_id=event.item_id, owner_id=event.owner_id, attempts=0,
                due_at=now).on_conflict_do_nothing())
        after_commit(session, self._wake)

    async def _wake(self) -> None:
        self.wake.set()

    async def erase(self, session: AsyncSession, event: ItemDeleted) -> None:
        """The library has deleted the item for good (committed): its objects are owed a delete on every tier
        (the worker makes them, and retries a tier that is down until it is back); the tombstone keeps any
        copy still on its way from bringing an object back."""
        now = datetime.now(UTC)
        for key in event.object_keys:
            await lock_key(session, key)
            await session.execute(insert(Tombstone).values(object_key=key).on_conflict_do_nothing())
            await session.execute(delete(PendingCopy).where(PendingCopy.object_key == key))
            for tier in self.storage.tiers:
                await session.execute(insert(PendingDelete).values(object_key=key, tier=tier, attempts=0, due_at=now)
                                      .on_conflict_do_nothing())
        after_commit(session, self._wake)


class CopyWorker:
    """Drains the copies and deletes owed, a few at a time, each made outside any transaction."""

    def __init__(self, db: Database, copier: Copier) -> None:
        self.db = db
        self.copier = copier
        self.storage = copier.storage

    async def run(self) -> None:
        while True:
            self.copier.wake.clear()  # before looking: a wake while it looks is kept for the wait below
            owed, deletes = await self.take(PARALLEL), await self.take_deletes(PARALLEL)
            await self.measure()
            if not owed and not deletes:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that lands as the
                # event is set, and a worker that ignores its cancel keeps the loop from closing.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_POLL_SECONDS):
                        await self.copier.wake.wait()
                continue
            await asyncio.gather(*(self.copy(one) for one in owed), *(self.delete(one) for one in deletes))

    async def take(self, limit: int) -> list[Owed]:
        """Due copies, each held for this worker for `LEASE` (another worker skips them)."""
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            rows = (await session.execute(
                select(PendingCopy).where(PendingCopy.due_at <= now).order_by(PendingCopy.due_at)
                .limit(limit).with_for_update(skip_locked=True))).scalars().all()
            for row in rows:
                row.due_at = now + LEASE
            return [Owed(r.object_key, r.tier, r.item_id, r.attempts) for r in rows]  # type: ignore[arg-type]

    async def take_deletes(self, limit: int) -> list[Owed]:
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            rows = (await session.execute(
                select(PendingDelete).where(PendingDelete.due_at <= now).order_by(PendingDelete.due_at)
                .limit(limit).with_for_update(skip_locked=True))).scalars().all()
            for row in rows:
                row.due_at = now + LEASE
            return [Owed(r.object_key, r.tier, None, r.attempts) for r in rows]  # type: ignore[arg-type]

    async def delete(self, owed: Owed) -> None:
        """Remove a deleted object from one tier; a tier that is down is tried again later."""
        try:
            await self.storage.tier(owed.tier).delete(owed.object_key)
        except Exception as exc:
            await self._failed(owed, exc, PendingDelete)
            return
        DELETED_OBJECTS.labels(owed.tier).inc()
        async with self.db.transaction() as session:
            await session.execute(delete(PendingDelete).where(PendingDelete.object_key == owed.object_key,
                                                              PendingDelete.tier == owed.tier))
            await session.execute(delete(ObjectCopy).where(ObjectCopy.object_key == owed.object_key,
                                                           ObjectCopy.tier == owed.tier))

    async def copy(self, owed: Owed) -> None:
        try:
            sha256, size = await self._move(owed)
        except Exception as exc:  # a tier down, a source not there yet, a copy that does not match
            await self._failed(owed, exc, PendingCopy)
            return
        await self._record(owed, sha256, size)

    async def _move(self, owed: Owed) -> tuple[str, int]:
        """Stream the object to the tier, hashing it, then read the copy back and hash that: the SHA-256 and
        size of a copy that matches its source, or ReplicationFailed."""
        source, target = self.storage.primary, self.storage.tier(owed.tier)
        original = await source.head(owed.object_key)
        if original is None:
            raise ReplicationFailed(f"{owed.object_key} is not in PRIMARY (yet)")
        digest, sizes = hashlib.sha256(), [0]
        await target.put_stream(owed.object_key, _hashed(source.get_stream(owed.object_key), digest, sizes),
                                content_type=original.content_type)
        sent = digest.hexdigest()
        got, size = await content_hash(target.get_stream(owed.object_key))
        if (got, size) != (sent, sizes[0]) or size != original.size:
            raise ReplicationFailed(f"the copy of {owed.object_key} in {owed.tier} does not match its source "
                                    f"({size} bytes, sha256 {got}; sent {sizes[0]}, {sent})")
        COPIED_BYTES.labels(owed.tier).inc(size)
        return got, size

    async def _record(self, owed: Owed, sha256: str, size: int) -> None:
        target = self.storage.tier(owed.tier)
        async with self.db.transaction() as session:
            await lock_key(session, owed.object_key)
            if await session.get(Tombstone, owed.object_key) is not None:
                # Erased while the bytes moved: the erase ran before this copy landed, so remove it now.
                await target.delete(owed.object_key)
                await session.execute(delete(PendingCopy).where(PendingCopy.object_key == owed.object_key))
                return
            info = await target.head(owed.object_key)
            now = datetime.now(UTC)
            values = dict(object_key=owed.object_key, tier=owed.tier, size=size, etag=info.etag if info else None,
                          sha256=sha256, item_id=owed.item_id, owner_id=None, copied_at=now, verified_at=now)
            pending = await session.get(PendingCopy, (owed.object_key, owed.tier))
            if pending is not None:
                values["owner_id"] = pending.owner_id
                await session.delete(pending)
            await session.execute(insert(ObjectCopy).values(**values).on_conflict_do_update(
                index_elements=[ObjectCopy.object_key, ObjectCopy.tier], set_=values))
            await emit(session, BUS, ReplicaStored(object_key=owed.object_key, tier=owed.tier, size=size,
                                                   item_id=owed.item_id))

    async def _failed(self, owed: Owed, exc: Exception, queue: type[PendingCopy] | type[PendingDelete]) -> None:
        FAILED_TRIES.labels(owed.tier, queue.__tablename__).inc()
        attempts = owed.attempts + 1
        log.warning("%s of %s on %s failed (try %d), trying again in %s: %s", queue.__tablename__, owed.object_key,
                    owed.tier, attempts, backoff(attempts), exc)
        async with self.db.transaction() as session:
            await session.execute(
                update(queue).where(queue.object_key == owed.object_key, queue.tier == owed.tier)
                .values(attempts=attempts, due_at=datetime.now(UTC) + backoff(attempts), last_error=str(exc)[:2000]))

    async def measure(self) -> None:
        """The queue's gauges: copies owed per tier, and the age of the oldest."""
        async with self.db.transaction() as session:
            counts = {tier: count for tier, count in (await session.execute(
                select(PendingCopy.tier, func.count()).group_by(PendingCopy.tier))).all()}
            oldest = (await session.execute(select(func.min(PendingCopy.created_at)))).scalar_one()
        for tier in self.copier.targets:
            PENDING_COPIES.labels(tier).set(counts.get(tier, 0))
        REPLICATION_LAG.set((datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0)
