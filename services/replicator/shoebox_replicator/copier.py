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
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge
from sqlalchemy import delete, func, select, text, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.bus import emit
from shoebox_lib.db import Database, after_commit
from shoebox_lib.events import ItemDeleted, ItemStored, ReplicaStored, VariantStored
from shoebox_lib.settings import Tier
from shoebox_lib.storage import Storage
from shoebox_lib.waiting import wait_event
from shoebox_replicator.models import BUS, KnownObject, ObjectCopy, PendingCopy, PendingDelete, Tombstone
from shoebox_replicator.throttle import Throttle
from shoebox_replicator.transfer import transfer

log = logging.getLogger(__name__)

COPIED_BYTES = Counter("shoebox_replicated_bytes_total", "Bytes copied to other tiers", ["tier"])
FAILED_TRIES = Counter("shoebox_replica_failed_tries_total", "Copies and deletes that failed (to be tried again)",
                       ["tier", "queue"])
PENDING_COPIES = Gauge("shoebox_replica_pending_copies", "Copies still owed to a tier", ["tier"])
REPLICATION_LAG = Gauge("shoebox_replication_lag_seconds", "Age of the oldest copy still owed to any tier")
DELETED_OBJECTS = Counter("shoebox_deleted_objects_total", "Objects removed from a tier after a hard delete",
                          ["tier"])

PARALLEL = 4  # copies one worker moves at once
# A failed try comes due again after 1 s, 2 s, 4 s… up to this; a tier down for a day is tried every 5 min.
MAX_BACKOFF_SECONDS = 300
IDLE_POLL_SECONDS = 5.0  # between looks at the queue when nothing wakes the worker
PROBE_MAX_SECONDS = 30.0  # a tier that is down is asked whether it is back at least this often
TIER_DOWN = Gauge("shoebox_replica_tier_down", "1 while the copy worker finds a tier unreachable", ["tier"])


@dataclass
class Outage:
    """A tier that does not answer: its copies are not tried one by one (each would fail), the tier is asked
    instead, with backoff, and once it answers every copy owed to it comes due at once."""

    since: float
    probes: int = 0
    next_probe: float = 0.0


async def lock_key(session: AsyncSession, key: str) -> None:
    """Recording a copy and erasing its object take turns, so an erase never races a copy's record."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"replica:{key}"})


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** min(attempts, 16), MAX_BACKOFF_SECONDS))


@dataclass(frozen=True)
class Owed:
    """One copy a worker has taken."""

    object_key: str
    tier: Tier
    item_id: int | None
    attempts: int
    backfill: bool = False
    sha256: str | None = None  # what the copy must hash to, when known


async def known(session: AsyncSession, event: ItemStored | VariantStored) -> None:
    """Keep the object, with the SHA-256 the event knows (a hash learnt later does not replace one known)."""
    values = dict(object_key=event.object_key, item_id=event.item_id, owner_id=event.owner_id, size=event.size,
                  sha256=event.sha256)
    await session.execute(insert(KnownObject).values(**values).on_conflict_do_update(
        index_elements=[KnownObject.object_key],
        set_={"sha256": func.coalesce(KnownObject.sha256, insert(KnownObject).excluded.sha256)}))


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
        await known(session, event)
        now = datetime.now(UTC)
        for tier in self.targets:
            if await session.get(ObjectCopy, (event.object_key, tier)) is not None:
                continue
            await session.execute(insert(PendingCopy).values(
                object_key=event.object_key, tier=tier, item_id=event.item_id, owner_id=event.owner_id, attempts=0,
                due_at=now).on_conflict_do_nothing())
        after_commit(session, self.nudge)

    async def nudge(self) -> None:
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
            await session.execute(delete(KnownObject).where(KnownObject.object_key == key))
            for tier in self.storage.tiers:
                await session.execute(insert(PendingDelete).values(object_key=key, tier=tier, attempts=0, due_at=now)
                                      .on_conflict_do_nothing())
        after_commit(session, self.nudge)


class CopyWorker:
    """Drains the copies and deletes owed, a few at a time, each made outside any transaction."""

    def __init__(self, db: Database, copier: Copier, backfill_throttle: Throttle, lease: timedelta) -> None:
        self.db = db
        self.lease = lease
        self.copier = copier
        self.storage = copier.storage
        self.backfill_throttle = backfill_throttle
        self.outages: dict[Tier, Outage] = {}
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def run(self) -> None:
        try:
            while True:
                self.copier.wake.clear()  # before looking: a wake while it looks is kept for the wait below
                await self.probe()
                owed, deletes = await self.take(PARALLEL), await self.take_deletes(PARALLEL)
                await self.measure()
                if not owed and not deletes:
                    await wait_event(self.copier.wake, IDLE_POLL_SECONDS)
                    continue
                await asyncio.gather(*(self.copy(one) for one in owed), *(self.delete(one) for one in deletes))
        except asyncio.CancelledError:
            # Stopped (a clean shutdown) with work taken, begun or not: due again at once, not after the lease.
            # Given back by holder, not from what this task has in hand: a cancel that lands after a take has
            # committed but before it returned would otherwise leave its copies leased for the whole lease.
            await asyncio.shield(self._release())
            raise

    async def take(self, limit: int) -> list[Owed]:
        """Due copies, new objects before backfills, each held for this worker for its lease (another worker skips
        them)."""
        if "primary" in self.outages:
            return []  # every copy is made from PRIMARY
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            rows = (await session.execute(
                select(PendingCopy).where(PendingCopy.due_at <= now, PendingCopy.tier.not_in(self.outages))
                .order_by(PendingCopy.backfill, PendingCopy.due_at)
                .limit(limit).with_for_update(skip_locked=True))).scalars().all()
            for row in rows:
                row.due_at, row.held_by = now + self.lease, self.name
            hashes = dict((await session.execute(select(KnownObject.object_key, KnownObject.sha256).where(
                KnownObject.object_key.in_([r.object_key for r in rows])))).all()) if rows else {}
            return [Owed(r.object_key, r.tier, r.item_id, r.attempts, r.backfill,  # type: ignore[arg-type]
                         hashes.get(r.object_key)) for r in rows]

    async def take_deletes(self, limit: int) -> list[Owed]:
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            rows = (await session.execute(
                select(PendingDelete).where(PendingDelete.due_at <= now, PendingDelete.tier.not_in(self.outages))
                .order_by(PendingDelete.due_at)
                .limit(limit).with_for_update(skip_locked=True))).scalars().all()
            for row in rows:
                row.due_at, row.held_by = now + self.lease, self.name
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
        throttle = self.backfill_throttle if owed.backfill else None
        holding = asyncio.create_task(self._hold(owed))
        try:
            # A tier down, a source not there yet, PRIMARY's bytes not what they should be (the scrubber
            # repairs PRIMARY from another copy), a copy that does not read back right: all tried again later.
            sha256, size = await transfer(self.storage.primary, self.storage.tier(owed.tier), owed.object_key,
                                          expected=owed.sha256, throttle=throttle)
        except Exception as exc:
            await self._failed(owed, exc, PendingCopy)
            return
        finally:
            holding.cancel()  # not awaited: awaiting a cancelled task here could swallow this task's own cancel
        COPIED_BYTES.labels(owed.tier).inc(size)
        await self._record(owed, sha256, size)

    async def _release(self) -> None:
        now = datetime.now(UTC)
        with contextlib.suppress(Exception):
            async with self.db.transaction() as session:
                for queue in (PendingCopy, PendingDelete):
                    await session.execute(update(queue).where(queue.held_by == self.name)
                                          .values(due_at=now, held_by=None))

    async def _hold(self, owed: Owed) -> None:
        """Renew the lease while the bytes move, however long that takes, so no other worker takes the copy."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            async with self.db.transaction() as session:
                await session.execute(update(PendingCopy).where(
                    PendingCopy.object_key == owed.object_key, PendingCopy.tier == owed.tier)
                    .values(due_at=datetime.now(UTC) + self.lease))

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
            await session.execute(update(KnownObject).where(KnownObject.object_key == owed.object_key)
                                  .values(sha256=func.coalesce(KnownObject.sha256, sha256), size=size))
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
                .values(attempts=attempts, due_at=datetime.now(UTC) + backoff(attempts), held_by=None,
                        last_error=str(exc)[:2000]))
        for tier in {owed.tier, "primary"}:  # the copy's source is PRIMARY: it may be the one down
            if tier not in self.outages and not await self._answers(tier):
                log.warning("tier %s does not answer: its copies wait until it does (%s)", tier, exc)
                self.outages[tier] = Outage(since=time.monotonic())
                TIER_DOWN.labels(tier).set(1)

    async def _answers(self, tier: Tier) -> bool:
        try:
            await self.storage.tier(tier).ping()
        except Exception:
            return False
        return True

    async def probe(self) -> None:
        """Ask each tier that was down whether it is back; once it is, everything owed to it comes due now."""
        for tier, outage in list(self.outages.items()):
            if time.monotonic() < outage.next_probe:
                continue
            if not await self._answers(tier):
                outage.probes += 1
                outage.next_probe = time.monotonic() + min(2.0 ** outage.probes, PROBE_MAX_SECONDS)
                continue
            del self.outages[tier]
            TIER_DOWN.labels(tier).set(0)
            now = datetime.now(UTC)
            async with self.db.transaction() as session:
                for queue in (PendingCopy, PendingDelete):
                    await session.execute(update(queue).where(queue.attempts > 0, queue.due_at > now)
                                          .where(queue.tier == tier if tier != "primary" else true())
                                          .values(due_at=now))
            log.warning("tier %s answers again after %.0f s: what it is owed comes due now", tier,
                        time.monotonic() - outage.since)

    async def measure(self) -> None:
        """The queue's gauges: copies owed per tier, and the age of the oldest."""
        async with self.db.transaction() as session:
            counts = {tier: count for tier, count in (await session.execute(
                select(PendingCopy.tier, func.count()).group_by(PendingCopy.tier))).all()}
            oldest = (await session.execute(select(func.min(PendingCopy.created_at)))).scalar_one()
        for tier in self.copier.targets:
            PENDING_COPIES.labels(tier).set(counts.get(tier, 0))
        REPLICATION_LAG.set((datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0)
