"""Items as the v1 face and the upload signer know them: declared first, filled by an upload, then read
with their variants and copies."""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, NotFound
from shoebox_metadata.kinds import ItemStatus, VariantStatus, Visibility
from shoebox_metadata.library import access, repo
from shoebox_metadata.library.objects import Objects
from shoebox_metadata.models import Copy, Item, Variant

ORIGINAL = "original"  # the name a v1 client gives the original among the variants


@dataclass(frozen=True)
class NewItem:
    filename: str
    content_type: str | None
    size: int
    visibility: Visibility = Visibility.PRIVATE
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
        """The item's status; a stored one is `processing` while a variant is, then `ready`."""
        if self.item.status != ItemStatus.STORED:
            return self.item.status
        if any(v.status == VariantStatus.PROCESSING for v in self.variants):
            return VariantStatus.PROCESSING
        return VariantStatus.READY


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_in: int


class Items:
    def __init__(self, db: Database, objects: Objects) -> None:
        self.db = db
        self.objects = objects

    async def create(self, owner_id: int, new: NewItem) -> Item:
        """Declare an item; an upload fills it later."""
        async with self.db.transaction() as session:
            item = Item(owner_id=owner_id, filename=new.filename, content_type=new.content_type,
                        declared_size=new.size, visibility=new.visibility, client_sha256=new.client_sha256,
                        title=new.title, encrypted=new.encrypted, tags=[], extracted={},
                        status=ItemStatus.UPLOAD_PENDING)
            session.add(item)
            await session.flush()
            return item

    async def get(self, owner_id: int, item_id: int) -> Item:
        """The owner's item (any state but deleted); someone else's is not found, like a missing one."""
        async with self.db.transaction() as session:
            return await access.own_image(session, owner_id, item_id)

    async def view(self, owner_id: int, item_id: int) -> ItemView:
        async with self.db.transaction() as session:
            item = await access.own_image(session, owner_id, item_id)
            variants = await repo.variants_of(session, item_id)
            copies = await repo.copies_of(session, item_id)
        return ItemView(item, variants, copies)

    async def signed_url(self, owner_id: int, item_id: int, variant: str, *, attachment: bool = False
                         ) -> SignedUrl:
        view = await self.view(owner_id, item_id)
        item = view.item
        if variant == ORIGINAL:
            if item.status != ItemStatus.STORED or item.object_key is None:
                raise Conflict("The image has not been uploaded yet")
            key, filename = item.object_key, item.filename
        else:
            found = next((v for v in view.variants if v.name == variant), None)
            if found is None:
                raise NotFound(f"No variant named {variant!r}")
            if found.status != VariantStatus.READY or found.object_key is None:
                raise Conflict(f"The {variant} variant is not ready (status: {found.status})")
            key, filename = found.object_key, f"{variant}-{item.filename}"
        url = await self.objects.url(key, filename=filename, attachment=attachment)
        return SignedUrl(url=url, expires_in=self.objects.presign_seconds)
