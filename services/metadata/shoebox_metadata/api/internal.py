"""metadata's internal routes (`shoebox_lib.contracts`): what the upload signer and auth ask while a person
waits. Mounted INTERNAL: only a signed Shoebox service reaches them, and the caller names the owner it acts
for, already authenticated on its side."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from shoebox_lib.contracts import (
    AWAITING_PATH,
    BIGINT_MAX,
    HOLDS_PATH,
    ITEM_PATH,
    ITEM_SOURCE_PATH,
    ITEMS_PATH,
    LINK_PATH,
    STORE_MODE_PATH,
    USAGE_PATH,
    AwaitingItems,
    Hold,
    HoldRequest,
    ItemRefs,
    ItemSource,
    LinkCredentials,
    LinkGrant,
    NewUploadItem,
    StoreMode,
    UploadTarget,
    Usage,
)
from shoebox_lib.errors import InvalidInput, NotFound
from shoebox_metadata.api.deps import ItemsDep, LinksDep, ModesDep, QuotasDep
from shoebox_metadata.kinds import ItemStatus
from shoebox_metadata.library.items import NewItem
from shoebox_metadata.models import Item
from shoebox_metadata.store.space import STORE_SPACE

router = APIRouter(tags=["internal"])


def upload_target(item: Item) -> UploadTarget:
    return UploadTarget(item_id=item.id, owner_id=item.owner_id, status=item.status, size=item.declared_size,
                        content_type=item.content_type)


@router.get(ITEM_PATH)
async def item(items: ItemsDep, item_id: int = Path(ge=0, le=BIGINT_MAX),
               owner_id: int = Query(ge=1, le=BIGINT_MAX)) -> UploadTarget:
    """An item of `owner_id` as declared; someone else's item is not found, like a missing one."""
    return upload_target(await items.get(owner_id, item_id))


@router.post(AWAITING_PATH)
async def awaiting(body: ItemRefs, items: ItemsDep) -> AwaitingItems:
    """Which of these items still wait for their upload: the upload sweeper's question about many
    completions at once."""
    return AwaitingItems(item_ids=await items.awaiting_upload([(r.owner_id, r.item_id) for r in body.items]))


@router.post(ITEMS_PATH, status_code=201)
async def new_item(body: NewUploadItem, items: ItemsDep) -> UploadTarget:
    """The item for an upload that came without one (Uppy)."""
    created = await items.create(body.owner_id, NewItem(filename=body.filename, content_type=body.content_type,
                                                        size=body.size))
    return upload_target(created)


@router.post(HOLDS_PATH, status_code=201)
async def hold(body: HoldRequest, quotas: QuotasDep) -> Hold:
    """Hold quota for an upload session (426 past the quota). Asking again with the same id answers the same
    hold; an id another owner holds is refused (400) and tells nothing about it."""
    held = await quotas.hold(body.owner_id, body.hold_id, body.bytes)
    return Hold(hold_id=held.id, expires_at=held.expires_at)


@router.get(USAGE_PATH)
async def usage(quotas: QuotasDep, owner_id: int = Path(ge=1, le=BIGINT_MAX)) -> Usage:
    found = await quotas.usage(owner_id)
    return Usage(owner_id=owner_id, used=found.used, reserved=found.reserved, quota=found.total,
                 available=found.available, file_count=found.file_count)


@router.post(LINK_PATH)
async def link(body: LinkCredentials, links: LinksDep) -> LinkGrant:
    """What a public link opens: an expired link is 410, a revoked or password-locked one 401."""
    grant = await links.open(body.access_token, body.access_jwt)
    return LinkGrant(collection_id=grant.collection.id, owner_id=grant.collection.owner_id,
                     enable_collect=grant.link.enable_collect)


# --- asked by compute: CL's job API ----------------------------------------------------------------------

@router.get(STORE_MODE_PATH)
async def store_mode(modes: ModesDep) -> StoreMode:
    """CL's auth mode (the store's), which CL's job API follows; cached by the caller for a moment."""
    mode = await modes.current()
    return StoreMode(auth_disabled=mode.auth_disabled, read_auth_enabled=mode.read_auth_enabled)


@router.get(ITEM_SOURCE_PATH)
async def item_source(items: ItemsDep, item_id: int = Path(ge=0, le=BIGINT_MAX),
                      reader_id: int | None = Query(default=None, ge=1, le=BIGINT_MAX),
                      store: bool = False) -> ItemSource:
    """The original of an item a job may read: one of the reader's own, or an entity of CL's store when
    the reader may read the store. Anything else is not found, like a missing item."""
    async with items.db.transaction() as session:
        item = await session.get(Item, item_id)
    readable = item is not None and (store if item.owner_id == STORE_SPACE else reader_id == item.owner_id)
    if item is None or not readable or item.status != ItemStatus.STORED or item.object_key is None:
        raise NotFound("Item not found")
    if item.encrypted:
        raise InvalidInput("The item is end-to-end encrypted: its bytes cannot be processed")
    return ItemSource(item_id=item.id, owner_id=item.owner_id, object_key=item.object_key,
                      content_type=item.content_type, size=item.size or 0)
