"""Items as the v1 face and the upload signer know them: declared first, filled by an upload, then read with
their variants and copies, listed, changed, and served as signed URLs of the original or of a variant.

Who may read an image: its owner always (also before its upload); anyone, signed in or not, when its owner
made it public; a signed-in user it reaches through an album shared with them. Everyone else gets what a
missing image gets (404, never 403), so ids reveal nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, NotFound
from shoebox_metadata.clock import Clock
from shoebox_metadata.kinds import Change, ItemStatus, VariantStatus, Visibility
from shoebox_metadata.library import access, reads, repo
from shoebox_metadata.library.cursors import decode_cursor, encode_cursor
from shoebox_metadata.library.membership import FileKey, join, leave, touch_item
from shoebox_metadata.library.objects import Objects
from shoebox_metadata.library.reads import CopyRecord, ItemRecord, VariantRecord
from shoebox_metadata.models import Item

ORIGINAL = "original"  # the name a v1 client gives the original among the variants
# How soon a client asking for a variant still being made may ask again (seconds): a thumbnail takes about one.
RETRY_AFTER_SECONDS = 2
# The extension a variant's file name gets from its content type (compute writes JPEG or WebP).
EXTENSIONS = {"image/jpeg": "jpg", "image/webp": "webp", "image/png": "png", "image/avif": "avif",
              "image/gif": "gif", "video/mp4": "mp4"}
LISTED = (ItemStatus.STORED, ItemStatus.UPLOAD_PENDING)  # what an owner's lists show


@dataclass(frozen=True)
class NewItem:
    filename: str
    content_type: str | None
    size: int
    visibility: Visibility = Visibility.PRIVATE
    client_sha256: str | None = None
    title: str | None = None
    encrypted: bool = False
    tags: Sequence[str] = ()
    album_id: int | None = None


@dataclass(frozen=True)
class ItemChange:
    """What a PATCH changes; None leaves a field as it is (`title` "" clears it). `album_ids` is the whole set
    of the caller's albums the image is to be in."""

    visibility: Visibility | None = None
    title: str | None = None
    tags: Sequence[str] | None = None
    album_ids: Sequence[int] | None = None


@dataclass(frozen=True)
class ItemView:
    item: ItemRecord
    variants: list[VariantRecord]
    copies: list[CopyRecord]
    mine: bool = True  # whether the caller owns it (others see no replicas)
    albums: list[int] = field(default_factory=list)  # the owner's albums it is in (the owner's view only)

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
    filename: str
    content_type: str | None


@dataclass(frozen=True)
class ItemPage:
    items: list[Item]
    next_cursor: str | None


def tidy_tags(tags: Sequence[str]) -> list[str]:
    """Tags as kept: trimmed, lower-cased (search matches them so), each once, in the order given."""
    seen: dict[str, None] = {}
    for tag in tags:
        if cleaned := tag.strip().lower():
            seen.setdefault(cleaned, None)
    return list(seen)


def variant_filename(original: str, variant: str, content_type: str | None) -> str:
    """`cat.png`'s JPEG thumbnail is `cat-thumb.jpg`: the variant's own extension, never the original's."""
    stem = PurePosixPath(original).stem or "image"
    extension = EXTENSIONS.get(content_type or "")
    return f"{stem}-{variant}.{extension}" if extension else f"{stem}-{variant}"


class Items:
    def __init__(self, db: Database, objects: Objects, clock: Clock) -> None:
        self.db = db
        self.objects = objects
        self.clock = clock

    async def create(self, owner_id: int, new: NewItem) -> Item:
        """Declare an item, in the caller's album if one is named; an upload fills it later."""
        async with self.db.transaction() as session:
            album = await access.collection_for(session, owner_id, new.album_id, roles=access.WRITERS) \
                if new.album_id is not None else None
            item = Item(owner_id=owner_id, filename=new.filename, content_type=new.content_type,
                        declared_size=new.size, visibility=new.visibility, client_sha256=new.client_sha256,
                        title=new.title, encrypted=new.encrypted, tags=tidy_tags(new.tags), extracted={},
                        status=ItemStatus.UPLOAD_PENDING, updation_time=await self.clock.next(session, owner_id))
            session.add(item)
            await session.flush()
            if album is not None:
                await join(session, self.clock, album, FileKey(item.id, "", ""), owner_id)
            await repo.record_change(session, item, owner_id, Change.CREATED)
            return item

    async def get(self, owner_id: int, item_id: int) -> Item:
        """The owner's item (any state but deleted); someone else's is not found, like a missing one."""
        async with self.db.transaction() as session:
            return await access.own_image(session, owner_id, item_id)

    async def awaiting_upload(self, refs: Sequence[tuple[int, int]]) -> list[int]:
        """Of these (owner, item) pairs, the items still waiting for their upload."""
        async with self.db.transaction() as session:
            return await repo.awaiting_upload(session, refs)

    async def view(self, caller: Principal | None, item_id: int) -> ItemView:
        """The image as the caller may see it (see the module's docstring), read in one round trip."""
        facts = await reads.image_facts(self.db, item_id, caller.user_id if caller is not None else None)
        if facts is None or not _may_read(facts, caller):
            raise NotFound("Image not found")
        mine = caller is not None and caller.user_id == facts.item.owner_id
        return ItemView(facts.item, facts.variants, facts.copies, mine=mine, albums=facts.albums)

    async def list_own(self, owner_id: int, limit: int, cursor: str | None) -> ItemPage:
        """The owner's images (uploaded or still pending), newest first, paged by a stable cursor."""
        before = decode_cursor(cursor, 1)[0] if cursor else None
        async with self.db.read() as session:
            items, more = await repo.own_items_page(session, owner_id, LISTED, before, limit)
        return ItemPage(items, encode_cursor(items[-1].id) if more and items else None)

    async def update(self, caller: Principal, item_id: int, change: ItemChange) -> ItemView:
        async with self.db.transaction() as session:
            item = await access.own_item(session, caller.user_id, item_id, statuses=LISTED)
            changed: dict[str, object] = {}
            if change.visibility is not None:
                item.visibility = changed["visibility"] = change.visibility
            if change.title is not None:
                item.title = change.title or None
                changed["title"] = item.title
            if change.tags is not None:
                item.tags = tidy_tags(change.tags)
                changed["tags"] = item.tags
            if change.album_ids is not None:
                current = set(await repo.albums_holding(session, caller.user_id, item.id))
                wanted = set(change.album_ids)
                for album_id in sorted(wanted - current):
                    album = await access.collection_for(session, caller.user_id, album_id, roles=access.WRITERS)
                    await join(session, self.clock, album, FileKey(item.id, "", ""), caller.user_id)
                for album_id in sorted(current - wanted):
                    album = await access.collection_for(session, caller.user_id, album_id, roles=access.WRITERS)
                    await leave(session, self.clock, album, item.id)
                changed["albums"] = sorted(wanted)
            # Every diff that shows the item (Ente's, the albums') sees the change.
            await touch_item(session, self.clock, item)
            await repo.record_change(session, item, caller.user_id, Change.UPDATED, changed)
        return await self.view(caller, item_id)

    async def signed_url(self, caller: Principal | None, item_id: int, variant: str, *, attachment: bool = False
                         ) -> SignedUrl:
        """A short-lived URL of the original or of a ready variant, named and typed as what it serves."""
        view = await self.view(caller, item_id)
        return await self.url_of_view(view, variant, attachment=attachment)

    async def url_of_view(self, view: ItemView, variant: str, *, attachment: bool = False) -> SignedUrl:
        item = view.item
        if item.status == ItemStatus.TRASHED:
            raise Conflict("The image is in the trash: restore it first")
        if variant == ORIGINAL:
            if item.status != ItemStatus.STORED or item.object_key is None:
                raise Conflict("The image has not been uploaded yet")
            key, filename, content_type = item.object_key, item.filename, item.content_type
        else:
            found = next((v for v in view.variants if v.name == variant), None)
            if found is None:
                raise NotFound(f"No variant named {variant!r}")
            if found.status == VariantStatus.FAILED:
                raise Conflict(f"The {variant} variant could not be made: {found.error or 'unknown error'}")
            if found.status != VariantStatus.READY or found.object_key is None:
                raise Conflict(f"The {variant} variant is still processing; ask again shortly",
                               retry_after=RETRY_AFTER_SECONDS,
                               details=[{"variant": variant, "status": found.status,
                                         "retry_after_sec": RETRY_AFTER_SECONDS}])
            key, content_type = found.object_key, found.content_type
            filename = variant_filename(item.filename, variant, content_type)
        url = await self.objects.url(key, filename=filename, attachment=attachment)
        return SignedUrl(url=url, expires_in=self.objects.presign_seconds, filename=filename,
                         content_type=content_type)


def _may_read(facts: reads.ImageFacts, caller: Principal | None) -> bool:
    item = facts.item
    if item.owner_id < 0:  # never a shared space's file (CL's store)
        return False
    if caller is not None and item.owner_id == caller.user_id:
        return item.status != ItemStatus.DELETED
    return item.status == ItemStatus.STORED and (item.visibility == Visibility.PUBLIC or facts.in_readers_album)
