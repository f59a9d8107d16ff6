"""How metadata tells the other services that an item's original is stored (`item.stored`): compute makes
what it can of it, the replicator copies it. The event's id is kept on the item, so that it can be sent again
under that id (`reannounce`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.bus import emit
from shoebox_lib.events import ItemStored
from shoebox_metadata.library import repo
from shoebox_metadata.models import BUS, Item

# Variants compute makes for media it can read; each starts as "processing" once the original is stored.
THUMBNAIL_VARIANT = "thumb"
DERIVED_VARIANTS = (THUMBNAIL_VARIANT, "medium")


def is_processable(content_type: str | None, encrypted: bool) -> bool:
    """Compute reads images and videos, and never sees inside end-to-end-encrypted files."""
    return not encrypted and str(content_type or "").split("/", 1)[0] in ("image", "video")


def original_stored(item: Item) -> ItemStored:
    """The announcement of an item's original, as first made and as the reconciler makes it again."""
    if item.object_key is None or item.size is None:
        raise ValueError(f"item {item.id} is not stored")
    # An Ente file's thumbnail is an object of its own, counted in the item's size; its SHA-256 is the
    # client's word, which no storage checked. Otherwise `sha256` is the stored bytes' own (storage checked an
    # upload's; the store hashed what it streamed), so the replicator can verify every copy against it.
    ente = item.thumbnail_object_key is not None
    return ItemStored(
        item_id=item.id, owner_id=item.owner_id, object_key=item.object_key,
        size=item.size - (item.thumbnail_size or 0) if ente else item.size,
        content_type=item.content_type, encrypted=item.encrypted, sha256=None if ente else item.sha256,
    )


async def announce_stored(session: AsyncSession, item: Item) -> None:
    """An original is stored and counted: compute makes what it can of it, the replicator copies it."""
    event = original_stored(item)
    if is_processable(item.content_type, item.encrypted):
        for name in DERIVED_VARIANTS:
            await repo.expect_variant(session, item.id, name)
    item.announcement_id, item.reannounced_at = (await emit(session, BUS, event)).id, None
