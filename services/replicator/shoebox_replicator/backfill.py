"""Backfill: when a tier is configured after objects were stored, every one of them is owed a copy there.

The objects are queued in key order, a batch per transaction, with the last key queued kept
(`BackfillProgress`), so a restart goes on from there; the copy worker moves them after new objects and at
the backfill's own byte rate (`SHOEBOX_REPLICATOR_BACKFILL_BYTES_PER_SECOND`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert

from shoebox_lib.db import Database
from shoebox_lib.settings import Tier
from shoebox_replicator.copier import Copier
from shoebox_replicator.models import BackfillProgress, KnownObject, ObjectCopy, PendingCopy, Tombstone

log = logging.getLogger(__name__)

BATCH = 500


class Backfill:
    def __init__(self, db: Database, copier: Copier) -> None:
        self.db = db
        self.copier = copier

    async def run(self) -> None:
        """Queue what every configured tier lacks, once per tier (a background task at start)."""
        for tier in self.copier.targets:
            await self.fill(tier)

    async def fill(self, tier: Tier) -> int:
        """Queue, batch by batch, a copy to `tier` of every object it has none of: the number queued."""
        async with self.db.transaction() as session:
            await session.execute(insert(BackfillProgress).values(tier=tier, queued=0).on_conflict_do_nothing())
            progress = await session.get(BackfillProgress, tier)
            assert progress is not None
            if progress.done_at is not None:
                return 0
            cursor = progress.cursor or ""
        log.info("backfill of %s: queuing the objects it lacks, from %r", tier, cursor)
        total = 0
        while True:
            async with self.db.transaction() as session:
                progress = await session.get(BackfillProgress, tier, with_for_update=True)
                assert progress is not None
                rows = (await session.execute(
                    select(KnownObject.object_key, KnownObject.item_id, KnownObject.owner_id)
                    .where(KnownObject.object_key > cursor, KnownObject.damaged_at.is_(None),
                           ~exists().where(ObjectCopy.object_key == KnownObject.object_key, ObjectCopy.tier == tier),
                           ~exists().where(Tombstone.object_key == KnownObject.object_key))
                    .order_by(KnownObject.object_key).limit(BATCH))).all()
                now = datetime.now(UTC)
                for key, item_id, owner_id in rows:
                    await session.execute(insert(PendingCopy).values(
                        object_key=key, tier=tier, item_id=item_id, owner_id=owner_id, attempts=0, backfill=True,
                        due_at=now).on_conflict_do_nothing())
                if rows:
                    cursor = rows[-1][0]
                    progress.cursor, progress.queued = cursor, progress.queued + len(rows)
                    total += len(rows)
                else:
                    progress.done_at = now
            if rows:
                await self.copier.nudge()
            else:
                log.info("backfill of %s: every object is queued (%d now)", tier, total)
                return total
