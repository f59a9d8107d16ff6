"""What a v1 link (`/s/<token>`) shows: the image it opens, or a page of the album it opens, each image with
short-lived URLs of its ready variants and a download URL of its original. The link is the whole grant:
whoever holds it sees this much and nothing else of the owner's library."""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_lib.db import Database
from shoebox_lib.errors import NotFound
from shoebox_metadata.kinds import ItemStatus, VariantStatus
from shoebox_metadata.library import reads, repo
from shoebox_metadata.library.albums import Albums
from shoebox_metadata.library.items import ORIGINAL, Items, ItemView, SignedUrl
from shoebox_metadata.library.links import Links
from shoebox_metadata.models import Collection, Item

ALBUM_PAGE = 24  # images per page of a shared album unless the client asks for fewer (each is signed 3 times)
MAX_ALBUM_PAGE = 50


@dataclass(frozen=True)
class SharedImage:
    item: Item
    views: dict[str, SignedUrl]  # the original and every ready variant, by name
    download: SignedUrl  # the original, as an attachment


@dataclass(frozen=True)
class SharedAlbum:
    album: Collection
    image_count: int
    images: list[SharedImage]
    next_cursor: str | None


class ShareViews:
    def __init__(self, db: Database, links: Links, items: Items, albums: Albums) -> None:
        self.db = db
        self.links = links
        self.items = items
        self.albums = albums

    async def open(self, token: str, cursor: str | None = None, limit: int = ALBUM_PAGE) -> SharedImage | SharedAlbum:
        opened = await self.links.open_share(token)
        if isinstance(opened, Item):
            return await self._image(opened)
        page = await self.albums.images(None, opened, min(limit, MAX_ALBUM_PAGE), cursor)
        async with self.db.transaction() as session:
            count = await repo.member_count(session, opened.id, (ItemStatus.STORED,))
        return SharedAlbum(opened, count, [await self._image(item) for item in page.items
                                           if item.status == ItemStatus.STORED], page.next_cursor)

    async def _image(self, item: Item) -> SharedImage:
        facts = await reads.image_facts(self.db, item.id, None)
        if facts is None:
            raise NotFound("Image not found")
        view = ItemView(facts.item, facts.variants, [], mine=False)
        views = {ORIGINAL: await self.items.url_of_view(view, ORIGINAL)}
        for variant in facts.variants:
            if variant.status == VariantStatus.READY and variant.object_key:
                views[variant.name] = await self.items.url_of_view(view, variant.name)
        return SharedImage(item, views, await self.items.url_of_view(view, ORIGINAL, attachment=True))
