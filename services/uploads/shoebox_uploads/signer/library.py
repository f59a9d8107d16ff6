"""What the upload signer asks metadata while a person waits, through the internal contract
(`shoebox_lib.contracts`): never a client face, never with the person's token. Paths are built from
typed ids only."""

from __future__ import annotations

from datetime import datetime

from shoebox_lib.contracts import (
    AWAITING_PATH,
    HOLDS_PATH,
    ITEM_PATH,
    ITEMS_PATH,
    LINK_PATH,
    USAGE_PATH,
    AwaitingItems,
    Hold,
    HoldRequest,
    ItemRef,
    ItemRefs,
    LinkCredentials,
    LinkGrant,
    NewUploadItem,
    UploadTarget,
    Usage,
)
from shoebox_lib.errors import Unauthenticated
from shoebox_lib.internal import InternalClient


class Library:
    def __init__(self, metadata: InternalClient) -> None:
        self.metadata = metadata

    async def upload_target(self, owner_id: int, item_id: int) -> UploadTarget:
        """The owner's item as declared before its upload; someone else's is a 404 like a missing one."""
        return await self.metadata.call("GET", ITEM_PATH.format(item_id=item_id), UploadTarget,
                                         params={"owner_id": owner_id})

    async def awaiting_upload(self, refs: list[tuple[int, int]]) -> set[int]:
        """Of these (owner, item) pairs, the items still waiting for their upload; another owner's item, a
        missing one and a filled one are all left out."""
        awaiting = await self.metadata.call("POST", AWAITING_PATH, AwaitingItems, body=ItemRefs(
            items=[ItemRef(owner_id=owner, item_id=item) for owner, item in refs]))
        return set(awaiting.item_ids)

    async def new_item(self, owner_id: int, filename: str, content_type: str, size: int) -> int:
        """A library item for an upload that arrived without one (the Uppy face)."""
        created = await self.metadata.call("POST", ITEMS_PATH, UploadTarget, body=NewUploadItem(
            owner_id=owner_id, filename=filename, content_type=content_type, size=size))
        return created.item_id

    async def hold(self, owner_id: int, hold_id: str, size: int) -> datetime:
        """Hold `size` bytes of the owner's quota under the session's id (426 past it); returns when the hold
        lapses. Idempotent per id. It ends with the upload: `upload.completed` or `upload.ended`."""
        held = await self.metadata.call("POST", HOLDS_PATH, Hold,
                                        body=HoldRequest(owner_id=owner_id, hold_id=hold_id, bytes=size))
        return held.expires_at

    async def available(self, owner_id: int) -> int:
        """Bytes the owner may still store (quota less used and held)."""
        usage = await self.metadata.call("GET", USAGE_PATH.format(owner_id=owner_id), Usage)
        return usage.available

    async def link(self, access_token: str | None, access_jwt: str | None) -> LinkGrant:
        """What a public link opens: expired (410), revoked or password-locked (401) links are refused."""
        if not access_token:
            raise Unauthenticated("X-Auth-Access-Token is required")
        return await self.metadata.call("POST", LINK_PATH, LinkGrant,
                                        body=LinkCredentials(access_token=access_token, access_jwt=access_jwt))
