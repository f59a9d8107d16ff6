"""Albums as the v1 face shows them: library collections with a title (the collection's plaintext name), a
description and a cover image, so a v1 album is the very album the Ente and CL faces show.

The owner changes an album; whoever it is shared with reads it. Deleting an album leaves its images where
they are (in the owner's library and any other album).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import InvalidInput
from shoebox_metadata.clock import Clock
from shoebox_metadata.kinds import CollectionType, ItemStatus, Role
from shoebox_metadata.library import access, repo
from shoebox_metadata.library.cursors import decode_cursor, encode_cursor
from shoebox_metadata.library.erasure import delete_collection
from shoebox_metadata.library.membership import touch_collection
from shoebox_metadata.models import Collection, Item

MEMBERS = (ItemStatus.STORED, ItemStatus.UPLOAD_PENDING)  # what an album's pages show


@dataclass(frozen=True)
class AlbumView:
    album: Collection
    role: Role
    image_count: int


@dataclass(frozen=True)
class AlbumPage:
    albums: list[AlbumView]
    next_cursor: str | None


@dataclass(frozen=True)
class MemberPage:
    items: list[Item]
    next_cursor: str | None


@dataclass(frozen=True)
class AlbumChange:
    """What a PATCH changes; None leaves a field as it is. `cover_image_id` 0 takes the cover away."""

    title: str | None = None
    description: str | None = None
    cover_image_id: int | None = None


class Albums:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create(self, caller: Principal, title: str, description: str | None) -> AlbumView:
        async with self.db.transaction() as session:
            album = Collection(owner_id=caller.user_id, type=CollectionType.ALBUM, name=title,
                               description=description or None, attributes={}, app="photos", is_deleted=False,
                               updation_time=await self.clock.next(session, caller.user_id))
            session.add(album)
            await session.flush()
            return AlbumView(album, Role.OWNER, 0)

    async def get(self, caller: Principal, album_id: int) -> AlbumView:
        async with self.db.transaction() as session:
            album = await access.collection_for(session, caller.user_id, album_id, roles=access.READERS)
            return await _view(session, caller, album)

    async def list_own(self, caller: Principal, limit: int, cursor: str | None) -> AlbumPage:
        before = decode_cursor(cursor, 1)[0] if cursor else None
        async with self.db.transaction() as session:
            albums, more = await repo.own_albums_page(session, caller.user_id, before, limit)
            views = [await _view(session, caller, album) for album in albums]
        return AlbumPage(views, encode_cursor(albums[-1].id) if more and albums else None)

    async def update(self, caller: Principal, album_id: int, change: AlbumChange) -> AlbumView:
        async with self.db.transaction() as session:
            album = await access.collection_to_change(session, self.clock, caller.user_id, album_id)
            if change.title is not None:
                album.name = change.title
            if change.description is not None:
                album.description = change.description or None
            if change.cover_image_id == 0:
                album.cover_item_id = None
            elif change.cover_image_id is not None:
                member = await repo.membership(session, album.id, change.cover_image_id)
                item = await repo.item(session, change.cover_image_id)
                # Whether the image does not exist, is someone else's or is elsewhere: one answer.
                if member is None or member.is_deleted or item is None or item.status not in MEMBERS:
                    raise InvalidInput("cover_image_id must be an image in this album")
                album.cover_item_id = item.id
            album.updated_by = caller.user_id
            await touch_collection(session, self.clock, album)
            await session.flush()
            await session.refresh(album)  # its updated_at, which the database sets
            return await _view(session, caller, album)

    async def delete(self, caller: Principal, album_id: int) -> None:
        """The album goes (its sharees' clients see it deleted, its links stop); its images stay."""
        async with self.db.transaction() as session:
            album = await access.collection_to_change(session, self.clock, caller.user_id, album_id)
            await delete_collection(session, self.clock, album)

    async def images(self, caller: Principal | None, album: Collection, limit: int, cursor: str | None
                     ) -> MemberPage:
        """A page of the album's images, the latest added first. The caller (or the link) has been let in."""
        after = decode_cursor(cursor, 2) if cursor else None
        async with self.db.transaction() as session:
            rows, more = await repo.album_page(session, album.id, MEMBERS, (after[0], after[1]) if after else None,
                                               limit)
        last = rows[-1][0] if rows else None
        return MemberPage([item for _, item in rows],
                          encode_cursor(last.added_at, last.item_id) if more and last is not None else None)

    async def readable(self, caller: Principal, album_id: int) -> Collection:
        async with self.db.transaction() as session:
            return await access.collection_for(session, caller.user_id, album_id, roles=access.READERS)


async def _view(session: AsyncSession, caller: Principal, album: Collection) -> AlbumView:
    role = await access.role_in(session, caller.user_id, album)
    assert role is not None  # the caller was let in by their role
    return AlbumView(album, role, await repo.member_count(session, album.id, MEMBERS))
