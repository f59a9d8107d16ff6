"""The library core for items: create, read, mark stored, record what compute and the replicator report.

Knows nothing of HTTP or of any face's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, NotFound
from shoebox_lib.events import ItemStored, JobCompleted, ReplicaStored, UploadCompleted, VariantStored
from shoebox_lib.settings import Tier
from shoebox_lib.storage import Storage
from shoebox_metadata.library import presign_from_any_tier
from shoebox_metadata.models import BUS, Copy, Item, Variant
from shoebox_metadata.quota import Quotas

# Variants compute makes for media it can read; each starts as "processing" once the original is stored.
DERIVED_VARIANTS = ("thumb",)


def is_processable(content_type: str | None, encrypted: bool) -> bool:
    """Compute never sees inside end-to-end-encrypted files."""
    return not encrypted and bool(content_type) and str(content_type).startswith("image/")


@dataclass(frozen=True)
class NewItem:
    filename: str
    content_type: str | None
    size: int
    visibility: str = "private"
    client_sha256: str | None = None
    title: str | None = None
    encrypted: bool = False


@dataclass(frozen=True)
class ItemView:
    item: Item
    variants: list[Variant]
    copies: list[Copy]

    @property
    def status(self) -> str:
        if self.item.status != "stored":
            return self.item.status
        if any(v.status == "processing" for v in self.variants):
            return "processing"
        return "ready"


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_in: int


class Items:
    def __init__(self, db: Database, storage: Storage, quotas: Quotas, presign_seconds: int) -> None:
        self.db = db
        self.storage = storage
        self.quotas = quotas
        self.presign_seconds = presign_seconds

    async def create(self, owner: Principal, new: NewItem) -> Item:
        async with self.db.transaction() as session:
            item = Item(owner_id=owner.user_id, filename=new.filename, content_type=new.content_type,
                        declared_size=new.size, visibility=new.visibility, client_sha256=new.client_sha256,
                        title=new.title, encrypted=new.encrypted, tags=[], extracted={})
            session.add(item)
            await session.flush()
            return item

    async def _owned(self, session: AsyncSession, owner: Principal, item_id: int) -> Item:
        item = await session.get(Item, item_id)
        # Someone else's item and a missing one answer alike, so ids reveal nothing.
        if item is None or item.owner_id != owner.user_id or item.status == "deleted":
            raise NotFound("Image not found")
        return item

    async def view(self, owner: Principal, item_id: int) -> ItemView:
        async with self.db.transaction() as session:
            item = await self._owned(session, owner, item_id)
            variants = (await session.execute(
                select(Variant).where(Variant.item_id == item_id).order_by(Variant.name)
            )).scalars().all()
            copies = (await session.execute(
                select(Copy).where(Copy.item_id == item_id).order_by(Copy.object_key, Copy.tier)
            )).scalars().all()
        return ItemView(item, list(variants), list(copies))

    async def signed_url(self, owner: Principal, item_id: int, variant: str, *, attachment: bool = False
                         ) -> SignedUrl:
        view = await self.view(owner, item_id)
        item = view.item
        if variant == "original":
            if item.status != "stored" or item.object_key is None:
                raise Conflict("The image has not been uploaded yet")
            key, filename = item.object_key, item.filename
        else:
            found = next((v for v in view.variants if v.name == variant), None)
            if found is None:
                raise NotFound(f"No variant named {variant!r}")
            if found.status != "ready" or found.object_key is None:
                raise Conflict(f"The {variant} variant is not ready (status: {found.status})")
            key, filename = found.object_key, f"{variant}-{item.filename}"
        url = await presign_from_any_tier(self.storage, key, self.presign_seconds, filename=filename,
                                          attachment=attachment)
        return SignedUrl(url=url, expires_in=self.presign_seconds)

    # --- what other services report, through events -------------------------------------------

    async def upload_completed(self, session: AsyncSession, event: UploadCompleted) -> None:
        item = await session.get(Item, event.item_id, with_for_update=True)
        if item is None or item.owner_id != event.owner_id:
            raise NotFound(f"upload {event.upload_id} names unknown item {event.item_id}")
        if item.status == "stored":
            return
        item.status = "stored"
        item.size = event.size
        item.sha256 = event.sha256
        item.object_key = event.object_key
        item.stored_at = datetime.now(UTC)
        # The upload signer reserved these bytes under the session's id; the object is in storage
        # already, so it is counted even if the reservation has lapsed.
        await self.quotas.store(session, item.owner_id, event.size, reservation_ids=[event.upload_id],
                                enforce=False)
        if is_processable(item.content_type, item.encrypted):
            for name in DERIVED_VARIANTS:
                await session.execute(insert(Variant).values(item_id=item.id, name=name, status="processing")
                                      .on_conflict_do_nothing())
        await emit(session, BUS, ItemStored(
            item_id=item.id, owner_id=item.owner_id, object_key=event.object_key, size=event.size,
            content_type=item.content_type, encrypted=item.encrypted,
        ))

    async def job_completed(self, session: AsyncSession, event: JobCompleted) -> None:
        if event.item_id is None:
            return
        item = await session.get(Item, event.item_id, with_for_update=True)
        if item is None:
            return  # deleted meanwhile; nothing to record
        if event.task_type == "metadata" and event.status == "completed":
            result = event.result
            item.width, item.height = result.get("width"), result.get("height")
            item.format = result.get("format")
            item.extracted = {k: v for k, v in result.items() if k not in ("width", "height", "format")}
        elif event.task_type == "thumbnail":
            await self._record_variant(session, item, event)

    async def _record_variant(self, session: AsyncSession, item: Item, event: JobCompleted) -> None:
        name = str(event.result.get("variant", "thumb"))
        variant = await session.get(Variant, (item.id, name), with_for_update=True)
        if variant is None:
            variant = Variant(item_id=item.id, name=name)
            session.add(variant)
        if event.status == "failed":
            variant.status, variant.error = "failed", event.error
            return
        result = event.result
        variant.status = "ready"
        variant.object_key = result["object_key"]
        variant.content_type = result.get("content_type")
        variant.width, variant.height, variant.size = result.get("width"), result.get("height"), result.get("size")
        await emit(session, BUS, VariantStored(item_id=item.id, owner_id=item.owner_id, variant=name,
                                               object_key=variant.object_key, size=int(variant.size or 0)))

    async def replica_stored(self, session: AsyncSession, event: ReplicaStored) -> None:
        tier: Tier = event.tier
        await session.execute(
            insert(Copy).values(object_key=event.object_key, tier=tier, item_id=event.item_id, size=event.size)
            .on_conflict_do_nothing()
        )
