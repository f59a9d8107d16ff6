"""Reconciliation of what a lost event left undone: a stored original that some replica tier still has no
copy of, or whose thumbnails are still being made, long after it was stored. Its `item.stored` is sent again
under the id it was first sent with: a service that applied it (its inbox holds the id) does nothing, and one
that never did (the event dead-lettered, or lost with a bus's store) now does. Each item is announced again
at most once per grace period, a batch per pass, oldest first.

Originals announced before their event's id was kept (`Item.announcement_id` is None) are left alone: sent
again under a new id, they would be applied twice by the services that did apply them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_metadata.kinds import VariantStatus
from shoebox_metadata.library.announcements import original_stored
from shoebox_metadata.models import BUS, Copy, Item, Variant
from shoebox_metadata.quota import COUNTED

log = logging.getLogger(__name__)

BATCH = 200


class Reannouncer:
    def __init__(self, db: Database, replica_tiers: Sequence[str], grace_seconds: int) -> None:
        self.db = db
        self.replica_tiers = list(replica_tiers)
        self.grace = timedelta(seconds=grace_seconds)

    async def sweep(self) -> int:
        """One pass: the number of originals announced again."""
        now = datetime.now(UTC)
        before = now - self.grace
        async with self.db.transaction() as session:
            items = (await session.execute(
                select(Item).where(
                    Item.status.in_(COUNTED), Item.announcement_id.is_not(None), Item.stored_at < before,
                    or_(Item.reannounced_at.is_(None), Item.reannounced_at < before),
                    or_(self._copies_missing(), self._variants_waiting(before)))
                .order_by(Item.stored_at).limit(BATCH).with_for_update(skip_locked=True)
            )).scalars().all()
            for item in items:
                await emit(session, BUS, original_stored(item), event_id=item.announcement_id)
                item.reannounced_at = now
        if items:
            log.warning("announced %d stored originals again: a copy or a thumbnail was still missing after %s",
                        len(items), self.grace)
        return len(items)

    def _copies_missing(self) -> ColumnElement[bool]:
        copies = select(func.count()).where(Copy.object_key == Item.object_key, Copy.tier.in_(self.replica_tiers))
        return copies.scalar_subquery() < len(self.replica_tiers)

    @staticmethod
    def _variants_waiting(before: datetime) -> ColumnElement[bool]:
        return exists().where(and_(Variant.item_id == Item.id, Variant.status == VariantStatus.PROCESSING,
                                   Variant.updated_at < before))
