"""What other services report through events: an upload completed (uploads), a job's result (compute), a
verified, damaged or repaired copy and an object with no good copy left (replicator), an account deleted or
its allowance set (auth). Each is applied once, in the
transaction of the event's inbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.bus import emit
from shoebox_lib.errors import NotFound
from shoebox_lib.events import (
    ItemDeleted,
    JobCompleted,
    ObjectDamaged,
    QuotaSet,
    ReplicaDamaged,
    ReplicaRepaired,
    ReplicaStored,
    UploadCompleted,
    UserDeleted,
    VariantStored,
)
from shoebox_metadata.clock import Clock
from shoebox_metadata.kinds import ItemStatus, VariantStatus
from shoebox_metadata.library import replicas, repo
from shoebox_metadata.library.announcements import (
    announce_stored,
)
from shoebox_metadata.library.erasure import erase_owner
from shoebox_metadata.library.membership import touch_item
from shoebox_metadata.models import BUS, Item, Variant
from shoebox_metadata.quota import Quotas

THUMBNAIL_TASK = "thumbnail"
METADATA_TASK = "metadata"
# What a metadata job's result holds besides what it extracted.
MEASURED = ("width", "height", "format")


def _dimension(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31 else None


JobReported = Callable[[AsyncSession, Item], Awaitable[None]]


class Reports:
    def __init__(self, quotas: Quotas, clock: Clock, after_job: JobReported | None = None) -> None:
        self.quotas = quotas
        self.clock = clock
        self.after_job = after_job  # told of every job result recorded (the store tells CL's clients)

    async def upload_completed(self, session: AsyncSession, event: UploadCompleted) -> None:
        item = await repo.item(session, event.item_id, lock=True)
        if item is None or item.owner_id != event.owner_id:
            raise NotFound(f"upload {event.upload_id} names unknown item {event.item_id}")
        if item.status == ItemStatus.STORED:
            return
        if item.status == ItemStatus.DELETED:
            # Deleted while its upload ran (its owner's account, say): the object goes too, nothing counts.
            await emit(session, BUS, ItemDeleted(item_id=item.id, owner_id=item.owner_id,
                                                 object_keys=[event.object_key]))
            return
        item.status = ItemStatus.STORED
        item.size = event.size
        item.sha256 = event.sha256
        item.object_key = event.object_key
        item.stored_at = datetime.now(UTC)
        # The upload signer held these bytes under the session's id; the object is in storage already, so
        # it is counted even if the hold has lapsed.
        await self.quotas.store(session, item.owner_id, event.size, reservation_ids=[event.upload_id],
                                enforce=False)
        # Declared in an album, it was there all along; the album's diff now shows it stored.
        await touch_item(session, self.clock, item)
        await announce_stored(session, item)

    async def job_completed(self, session: AsyncSession, event: JobCompleted) -> None:
        if event.item_id is None:
            return
        item = await repo.item(session, event.item_id, lock=True)
        if item is None:
            return  # deleted meanwhile; nothing to record
        if event.task_type == METADATA_TASK and event.status == "completed":
            result = event.result
            item.width, item.height = _dimension(result.get("width")), _dimension(result.get("height"))
            item.format = str(result["format"])[:32] if result.get("format") else None
            item.extracted = {k: v for k, v in result.items() if k not in MEASURED}
            # The capture time and a video's length, where the file says them (CL's create_date, v1 search).
            taken_at, duration = result.get("taken_at"), result.get("duration")
            if isinstance(taken_at, int) and not isinstance(taken_at, bool) and 0 < taken_at < 2**62:
                item.taken_at = taken_at
            if isinstance(duration, int | float) and not isinstance(duration, bool) and 0 <= duration < 1e9:
                item.duration = float(duration)
        elif event.task_type == THUMBNAIL_TASK:
            await self._record_variant(session, item, event)
        if self.after_job is not None:
            await session.flush()
            await self.after_job(session, item)

    async def _record_variant(self, session: AsyncSession, item: Item, event: JobCompleted) -> None:
        name = str(event.result.get("variant", "thumb"))
        variant = await repo.variant(session, item.id, name, lock=True)
        if variant is None:
            variant = Variant(item_id=item.id, name=name)
            session.add(variant)
        if event.status == "failed":
            variant.status, variant.error = VariantStatus.FAILED, event.error
            return
        result = event.result
        variant.status = VariantStatus.READY
        variant.object_key = result["object_key"]
        variant.content_type = result.get("content_type")
        variant.width, variant.height, variant.size = result.get("width"), result.get("height"), result.get("size")
        await emit(session, BUS, VariantStored(item_id=item.id, owner_id=item.owner_id, variant=name,
                                               object_key=variant.object_key, size=int(variant.size or 0)))

    async def replica_stored(self, session: AsyncSession, event: ReplicaStored) -> None:
        await repo.record_copy(session, event.object_key, event.tier, event.item_id, event.size)

    async def replica_damaged(self, session: AsyncSession, event: ReplicaDamaged) -> None:
        await replicas.mark_bad(session, event.object_key, event.tier, event.item_id, event.found_at)

    async def replica_repaired(self, session: AsyncSession, event: ReplicaRepaired) -> None:
        await replicas.mark_repaired(session, event.object_key, event.tier, event.item_id, event.size,
                                     event.repaired_at)

    async def object_damaged(self, session: AsyncSession, event: ObjectDamaged) -> None:
        await replicas.mark_damaged(session, event.object_key, event.item_id, event.owner_id, event.found_at)

    async def user_deleted(self, session: AsyncSession, event: UserDeleted) -> None:
        await erase_owner(session, self.clock, event.user_id)

    async def quota_set(self, session: AsyncSession, event: QuotaSet) -> None:
        await self.quotas.set_quota(session, event.user_id, event.quota_bytes)
