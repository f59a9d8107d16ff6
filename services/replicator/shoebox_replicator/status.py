"""What an operator asks of replication: per tier, the copies made and still owed, the oldest owed, the
tries failing; the damaged objects; where the scrub pass and each backfill are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from shoebox_lib.db import Database
from shoebox_lib.settings import Tier
from shoebox_replicator.models import BackfillProgress, KnownObject, ObjectCopy, PendingCopy, ScrubProgress
from shoebox_replicator.scrubber import PROGRESS_ROW


@dataclass(frozen=True)
class TierStatus:
    tier: Tier
    copies: int
    bytes: int
    owed: int
    failing: int  # owed copies whose last try failed
    oldest_owed_seconds: float | None
    last_error: str | None
    backfill_queued: int | None  # None: no backfill ever ran for this tier
    backfill_done: bool


@dataclass(frozen=True)
class DamagedObject:
    object_key: str
    item_id: int | None
    since: datetime


@dataclass(frozen=True)
class ReplicationStatus:
    objects: int
    tiers: list[TierStatus]
    damaged: list[DamagedObject]
    scrub_passes: int
    scrub_cursor: str | None  # the last key the running pass checked; None between passes
    scrub_pass_started_at: datetime | None
    scrub_last_finished_at: datetime | None


async def replication_status(db: Database, tiers: list[Tier]) -> ReplicationStatus:
    now = datetime.now(UTC)
    async with db.transaction() as session:
        objects = (await session.execute(select(func.count()).select_from(KnownObject))).scalar_one()
        made = {t: (n, b) for t, n, b in (await session.execute(
            select(ObjectCopy.tier, func.count(), func.coalesce(func.sum(ObjectCopy.size), 0))
            .group_by(ObjectCopy.tier))).all()}
        owed = {t: (n, f, oldest) for t, n, f, oldest in (await session.execute(
            select(PendingCopy.tier, func.count(), func.count().filter(PendingCopy.attempts > 0),
                   func.min(PendingCopy.created_at)).group_by(PendingCopy.tier))).all()}
        errors = {tier: (await session.execute(
            select(PendingCopy.last_error).where(PendingCopy.tier == tier, PendingCopy.last_error.is_not(None))
            .order_by(PendingCopy.due_at.desc()).limit(1))).scalar_one_or_none() for tier in tiers}
        backfills = {b.tier: b for b in (await session.execute(select(BackfillProgress))).scalars()}
        damaged = [DamagedObject(o.object_key, o.item_id, o.damaged_at) for o in (await session.execute(
            select(KnownObject).where(KnownObject.damaged_at.is_not(None)).order_by(KnownObject.damaged_at)
        )).scalars() if o.damaged_at is not None]
        scrub = await session.get(ScrubProgress, PROGRESS_ROW)
    rows = []
    for tier in tiers:
        if tier == "primary":
            continue
        count, size = made.get(tier, (0, 0))
        pending, failing, oldest = owed.get(tier, (0, 0, None))
        backfill = backfills.get(tier)
        rows.append(TierStatus(
            tier=tier, copies=count, bytes=int(size), owed=pending, failing=failing,
            oldest_owed_seconds=(now - oldest).total_seconds() if oldest is not None else None,
            last_error=errors.get(tier), backfill_queued=backfill.queued if backfill else None,
            backfill_done=bool(backfill and backfill.done_at)))
    return ReplicationStatus(
        objects=objects, tiers=rows, damaged=damaged, scrub_passes=scrub.passes if scrub else 0,
        scrub_cursor=scrub.cursor if scrub else None, scrub_pass_started_at=scrub.pass_started_at if scrub else None,
        scrub_last_finished_at=scrub.last_pass_finished_at if scrub else None)
