"""The scrubber: every copy on every tier read back and hashed against the SHA-256 the object must have, on
a schedule and at a rate limit, resumable across restarts (`ScrubProgress`).

A copy that is missing, truncated or rotten is rewritten from a tier whose copy still hashes right, and
counted. Before that, metadata is told (`replica.damaged`) so reads skip the bad tier meanwhile, PRIMARY
included. When no tier holds a good copy, the object is marked damaged (`object.damaged`): it is never
served wrong, and it is reported. No transaction is open while bytes move.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from prometheus_client import Counter
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import NotFound
from shoebox_lib.events import ObjectDamaged, ReplicaDamaged, ReplicaRepaired, ReplicaStored
from shoebox_lib.settings import Tier
from shoebox_lib.storage import Storage
from shoebox_replicator.copier import lock_key
from shoebox_replicator.models import BUS, KnownObject, ObjectCopy, PendingCopy, ScrubProgress, Tombstone
from shoebox_replicator.throttle import Throttle
from shoebox_replicator.transfer import content_hash, transfer

log = logging.getLogger(__name__)

SCRUBBED_BYTES = Counter("shoebox_scrubbed_bytes_total", "Bytes the scrubber read back and hashed", ["tier"])
SCRUBBED_COPIES = Counter("shoebox_scrubbed_copies_total", "Copies the scrubber checked, by what it found",
                          ["tier", "state"])
REPAIRS = Counter("shoebox_replica_repairs_total", "Bad copies rewritten from a good one", ["tier"])
FAILED_REPAIRS = Counter("shoebox_replica_failed_repairs_total", "Repairs that failed (tried again)", ["tier"])
DAMAGE_FOUND = Counter("shoebox_damaged_objects_found_total", "Objects found with no good copy on any tier")

BATCH = 100  # keys read per look at the objects; the cursor moves after every object
PROGRESS_ROW = 1


class CopyState(StrEnum):
    GOOD = "good"
    MISSING = "missing"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"  # the right size, the wrong bytes
    UNREACHABLE = "unreachable"  # the tier is down: nothing is known of the copy, nothing is done to it
    OWED = "owed"  # no copy was made there yet: the copy worker has it queued

    @property
    def bad(self) -> bool:
        return self in (CopyState.MISSING, CopyState.TRUNCATED, CopyState.CORRUPT)


@dataclass
class TierCheck:
    tier: Tier
    state: CopyState
    size: int | None = None
    sha256: str | None = None
    error: str | None = None


@dataclass
class ObjectReport:
    object_key: str
    item_id: int | None
    sha256: str | None
    checks: list[TierCheck]
    repaired: list[Tier] = field(default_factory=list)
    failed: dict[Tier, str] = field(default_factory=dict)
    damaged: bool = False


class Scrubber:
    def __init__(self, db: Database, storage: Storage, throttle: Throttle, interval: timedelta) -> None:
        self.db = db
        self.storage = storage
        self.throttle = throttle
        self.interval = interval

    # One object

    async def check(self, key: str, *, repair: bool = True) -> ObjectReport | None:
        """Read back and hash every copy of the object; with `repair`, rewrite the bad ones from a good one,
        or mark the object damaged when none is good. None when the object is not (or no longer) kept."""
        async with self.db.transaction() as session:
            found = await session.get(KnownObject, key)
            if found is None or await session.get(Tombstone, key) is not None:
                return None
            copies = {c.tier: c for c in (await session.execute(
                select(ObjectCopy).where(ObjectCopy.object_key == key))).scalars()}
            owed = set((await session.execute(
                select(PendingCopy.tier).where(PendingCopy.object_key == key))).scalars())
            item_id, owner_id, size, expected = found.item_id, found.owner_id, found.size, found.sha256
            was_damaged = found.damaged_at is not None
        hashes: dict[Tier, TierCheck] = {}
        checks: list[TierCheck] = []
        for tier in self.storage.tiers:
            if tier != "primary" and (tier not in copies or tier in owed):
                checks.append(TierCheck(tier, CopyState.OWED))
                continue
            hashed = await self._hash(tier, key)
            hashes[tier] = hashed
            checks.append(hashed)
        if expected is None:  # known before hashes were kept: the copies that agree most decide, PRIMARY's on a tie
            votes = Tally(c.sha256 for c in hashes.values() if c.sha256 is not None)
            primary = hashes.get("primary")
            expected = max(votes, key=lambda h: (votes[h], primary is not None and h == primary.sha256), default=None)
        for hashed in hashes.values():
            if hashed.sha256 is not None:
                hashed.state = (CopyState.GOOD if hashed.sha256 == expected else
                                CopyState.TRUNCATED if size and (hashed.size or 0) < size else CopyState.CORRUPT)
            SCRUBBED_COPIES.labels(hashed.tier, hashed.state).inc()
        report = ObjectReport(key, item_id, expected, checks)
        good = [c.tier for c in checks if c.state is CopyState.GOOD]
        bad = [c.tier for c in checks if c.state.bad]
        if not repair:
            report.damaged = was_damaged or (bool(bad) and not good)
            return report
        await self._verified(key, good, expected)
        if bad and not good:
            report.damaged = True
            if not was_damaged:
                await self._damaged(key, item_id, owner_id)
            return report
        if was_damaged:  # an operator put a good copy back: it may be served again
            async with self.db.transaction() as session:
                await session.execute(update(KnownObject).where(KnownObject.object_key == key)
                                      .values(damaged_at=None))
                for tier in good:
                    await emit(session, BUS, ReplicaRepaired(object_key=key, tier=tier, size=size, item_id=item_id))
        for tier in bad:
            error = await self._repair(key, item_id, good[0], tier, expected)
            if error is None:
                report.repaired.append(tier)
            else:
                report.failed[tier] = error
        never_copied = [t for t in self.storage.tiers if t != "primary" and t not in copies and t not in owed]
        if never_copied:
            await self._owe(key, item_id, owner_id, never_copied)
        return report

    async def _hash(self, tier: Tier, key: str) -> TierCheck:
        driver = self.storage.tier(tier)
        try:
            sha256, size = await content_hash(self.throttle.through(driver.get_stream(key)))
        except NotFound:
            return TierCheck(tier, CopyState.MISSING)
        except Exception as exc:  # the tier is down: a later pass looks again
            log.warning("scrub: %s on %s could not be read: %s", key, tier, exc)
            return TierCheck(tier, CopyState.UNREACHABLE, error=str(exc))
        SCRUBBED_BYTES.labels(tier).inc(size)
        return TierCheck(tier, CopyState.CORRUPT, size=size, sha256=sha256)

    async def _verified(self, key: str, tiers: list[Tier], sha256: str | None) -> None:
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            await session.execute(update(KnownObject).where(KnownObject.object_key == key).values(
                sha256=sha256, **({"primary_verified_at": now} if "primary" in tiers else {})))
            others = [t for t in tiers if t != "primary"]
            if others:
                await session.execute(update(ObjectCopy).where(ObjectCopy.object_key == key,
                                                               ObjectCopy.tier.in_(others))
                                      .values(verified_at=now, sha256=sha256))

    async def _damaged(self, key: str, item_id: int | None, owner_id: int | None) -> None:
        DAMAGE_FOUND.inc()
        log.error("scrub: no tier holds a good copy of %s (item %s); it is marked damaged", key, item_id)
        async with self.db.transaction() as session:
            await session.execute(update(KnownObject).where(KnownObject.object_key == key)
                                  .values(damaged_at=datetime.now(UTC)))
            await emit(session, BUS, ObjectDamaged(object_key=key, item_id=item_id, owner_id=owner_id))

    async def _repair(self, key: str, item_id: int | None, source: Tier, tier: Tier, expected: str | None
                      ) -> str | None:
        """Rewrite the tier's copy from the source tier's good one: None once it hashes right, else why not."""
        async with self.db.transaction() as session:
            # Reads skip this copy from now on, and the usage figures stop counting it, until it is repaired.
            await emit(session, BUS, ReplicaDamaged(object_key=key, tier=tier, item_id=item_id))
            if tier != "primary":
                await session.execute(delete(ObjectCopy).where(ObjectCopy.object_key == key, ObjectCopy.tier == tier))
        try:
            sha256, size = await transfer(self.storage.tier(source), self.storage.tier(tier), key, expected=expected,
                                          throttle=self.throttle)
        except Exception as exc:
            FAILED_REPAIRS.labels(tier).inc()
            log.warning("scrub: the repair of %s on %s from %s failed: %s", key, tier, source, exc)
            return str(exc)
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            await lock_key(session, key)
            if await session.get(Tombstone, key) is not None:
                await self.storage.tier(tier).delete(key)  # erased meanwhile: the repair must not bring it back
                return None
            if tier == "primary":
                await session.execute(update(KnownObject).where(KnownObject.object_key == key)
                                      .values(primary_verified_at=now))
            else:
                owner = (await session.execute(select(KnownObject.owner_id)
                                               .where(KnownObject.object_key == key))).scalar_one_or_none()
                values = dict(object_key=key, tier=tier, size=size, sha256=sha256, item_id=item_id, owner_id=owner,
                              copied_at=now, verified_at=now)
                await session.execute(insert(ObjectCopy).values(**values).on_conflict_do_update(
                    index_elements=[ObjectCopy.object_key, ObjectCopy.tier], set_=values))
                await emit(session, BUS, ReplicaStored(object_key=key, tier=tier, size=size, item_id=item_id))
            await emit(session, BUS, ReplicaRepaired(object_key=key, tier=tier, size=size, item_id=item_id))
        REPAIRS.labels(tier).inc()
        log.warning("scrub: repaired %s on %s from %s", key, tier, source)
        return None

    async def _owe(self, key: str, item_id: int | None, owner_id: int | None, tiers: Sequence[Tier]) -> None:
        """A tier with no copy and none queued (added after the object, or its record lost): queue one."""
        async with self.db.transaction() as session:
            for tier in tiers:
                await session.execute(insert(PendingCopy).values(
                    object_key=key, tier=tier, item_id=item_id, owner_id=owner_id, attempts=0, backfill=True,
                    due_at=datetime.now(UTC)).on_conflict_do_nothing())

    # Passes

    async def run(self) -> None:
        """Start a pass when one is due, forever; a pass a restart cut short goes on where it stopped."""
        while True:
            if await self._due():
                await self.scrub_pass()
            await asyncio.sleep(min(60.0, self.interval.total_seconds()))

    async def _due(self) -> bool:
        async with self.db.transaction() as session:
            progress = await session.get(ScrubProgress, PROGRESS_ROW)
        return (progress is None or progress.cursor is not None or progress.pass_started_at is None
                or progress.pass_started_at + self.interval <= datetime.now(UTC))

    async def scrub_pass(self) -> int:
        """One pass over every object, from where the last one stopped: the number of objects checked."""
        cursor = await self._start()
        checked = 0
        while True:
            async with self.db.transaction() as session:
                keys = list((await session.execute(
                    select(KnownObject.object_key).where(KnownObject.object_key > cursor)
                    .order_by(KnownObject.object_key).limit(BATCH))).scalars())
            if not keys:
                await self._finish()
                return checked
            for key in keys:
                await self.check(key)
                checked += 1
                cursor = key
                async with self.db.transaction() as session:
                    await session.execute(update(ScrubProgress).where(ScrubProgress.id == PROGRESS_ROW)
                                          .values(cursor=key))

    async def _start(self) -> str:
        async with self.db.transaction() as session:
            progress = await session.get(ScrubProgress, PROGRESS_ROW, with_for_update=True)
            if progress is None:
                progress = ScrubProgress(id=PROGRESS_ROW, passes=0)
                session.add(progress)
            if progress.cursor is None:  # a new pass ("" sorts before every key)
                progress.cursor, progress.pass_started_at = "", datetime.now(UTC)
            return progress.cursor

    async def _finish(self) -> None:
        async with self.db.transaction() as session:
            await session.execute(update(ScrubProgress).where(ScrubProgress.id == PROGRESS_ROW).values(
                cursor=None, last_pass_finished_at=datetime.now(UTC), passes=ScrubProgress.passes + 1))
