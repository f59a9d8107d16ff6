"""Files (the Ente face's end-to-end-encrypted items): commit what was uploaded, change its encrypted
attributes, read it. Encrypted attributes are stored exactly as sent and returned exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, InvalidInput
from shoebox_lib.events import ItemDeleted, VariantStored
from shoebox_lib.keys import ente_hold_of
from shoebox_metadata.clock import Clock
from shoebox_metadata.kinds import Change, ItemStatus, Visibility
from shoebox_metadata.library import access, repo
from shoebox_metadata.library.announcements import announce_stored
from shoebox_metadata.library.membership import FileKey, join, touch_item
from shoebox_metadata.library.objects import Blob, Objects
from shoebox_metadata.models import BUS, Collection, Item
from shoebox_metadata.quota import Quotas

THUMBNAIL = "thumbnail"  # the variant name the Ente face's client-made thumbnail is reported under


@dataclass(frozen=True)
class NewFile:
    collection_id: int
    encrypted_key: str
    key_decryption_nonce: str
    file: Blob
    thumbnail: Blob
    metadata_encrypted_data: str
    metadata_decryption_header: str
    magic_metadata: dict[str, Any] | None = None
    pub_magic_metadata: dict[str, Any] | None = None
    sha256: str | None = None


class Files:
    def __init__(self, db: Database, objects: Objects, quotas: Quotas, clock: Clock) -> None:
        self.db = db
        self.objects = objects
        self.quotas = quotas
        self.clock = clock

    async def commit(self, caller: Principal, new: NewFile, *, guest_prefix: str | None = None) -> Item:
        """Record an uploaded (encrypted) file: both objects must exist with their sizes; quota enforced.

        A guest (a public link with uploads enabled) commits as the collection's owner, with objects
        under the prefix the upload signer gave that link. A retried commit answers the file it made,
        only after the same checks as the first: a guest sees nothing the link does not show.
        """
        if not new.file.object_key or not new.thumbnail.object_key:
            raise InvalidInput("file.objectKey and thumbnail.objectKey are required")
        if new.file.object_key == new.thumbnail.object_key:
            raise InvalidInput("The file and its thumbnail must be different objects")
        for blob in (new.file, new.thumbnail):
            self.objects.handed_out(caller.user_id, blob, guest_prefix)
        async with self.db.transaction() as session:
            collection = await access.collection_for(session, caller.user_id, new.collection_id,
                                                     roles=access.WRITERS)
            retried = await self._retried(session, caller, collection, new, guest=guest_prefix is not None)
            if retried is not None:
                return retried
        # Storage is asked outside any transaction: no row stays locked across a remote call.
        await asyncio.gather(self.objects.check(caller.user_id, new.file, guest_prefix),
                             self.objects.check(caller.user_id, new.thumbnail, guest_prefix))
        async with self.db.transaction() as session:
            collection = await access.collection_for(session, caller.user_id, new.collection_id,
                                                     roles=access.WRITERS)
            # The clocks are the committer's lock: a concurrent retry of this commit waits here, then finds it.
            await self.clock.hold(session, [caller.user_id, collection.owner_id])
            retried = await self._retried(session, caller, collection, new, guest=guest_prefix is not None)
            if retried is not None:
                return retried
            total = new.file.size + new.thumbnail.size
            held = [ente_hold_of(caller.user_id, b.object_key) for b in (new.file, new.thumbnail)]
            await self.quotas.store(session, caller.user_id, total, reservation_ids=[h for h in held if h])
            item = Item(
                owner_id=caller.user_id, filename="", content_type=None, declared_size=total, size=total,
                sha256=new.sha256, status=ItemStatus.STORED, object_key=new.file.object_key, encrypted=True,
                tags=[], extracted={}, visibility=Visibility.PRIVATE, file_decryption_header=new.file.decryption_header,
                thumbnail_object_key=new.thumbnail.object_key, thumbnail_size=new.thumbnail.size,
                thumbnail_decryption_header=new.thumbnail.decryption_header,
                metadata_encrypted_data=new.metadata_encrypted_data,
                metadata_decryption_header=new.metadata_decryption_header, magic_metadata=new.magic_metadata,
                pub_magic_metadata=new.pub_magic_metadata,
                updation_time=await self.clock.next(session, caller.user_id),
            )
            session.add(item)
            await session.flush()
            await join(session, self.clock, collection,
                       FileKey(item.id, new.encrypted_key, new.key_decryption_nonce), caller.user_id)
            await repo.record_change(session, item, caller.user_id, Change.CREATED, {"collectionID": collection.id})
            await announce_stored(session, item)
            await emit(session, BUS, VariantStored(item_id=item.id, owner_id=item.owner_id, variant=THUMBNAIL,
                                                   object_key=new.thumbnail.object_key, size=new.thumbnail.size))
            return item

    @staticmethod
    async def _retried(session: AsyncSession, caller: Principal, collection: Collection, new: NewFile, *,
                       guest: bool) -> Item | None:
        """The file an earlier commit of these objects made in this collection (None if there was none).

        Its objects were committed before, so the answer is that file or a conflict, never a second file.
        A guest gets it back only while it is in the link's collection, as the link shows it.
        """
        existing = await repo.item_with_object(session, caller.user_id, new.file.object_key)
        if existing is None:
            return None
        membership = await repo.membership(session, collection.id, existing.id)
        shown = membership is not None and (
            not guest or (not membership.is_deleted and existing.status == ItemStatus.STORED))
        if not shown:
            raise Conflict(f"{new.file.object_key} is committed already")
        return existing

    async def update(self, caller: Principal, item_id: int, *, metadata: tuple[str, str] | None,
                     file_header: str | None, thumbnail_header: str | None) -> Item:
        """Replace an item's encrypted metadata and headers (its objects stay)."""
        async with self.db.transaction() as session:
            item = await access.own_item(session, caller.user_id, item_id)
            if metadata is not None:
                item.metadata_encrypted_data, item.metadata_decryption_header = metadata
            if file_header is not None:
                item.file_decryption_header = file_header
            if thumbnail_header is not None:
                item.thumbnail_decryption_header = thumbnail_header
            await touch_item(session, self.clock, item)
            await repo.record_change(session, item, caller.user_id, Change.UPDATED)
            return item

    async def set_magic_metadata(self, caller: Principal, updates: Sequence[tuple[int, dict[str, Any]]], *,
                                 public: bool) -> None:
        """Versioned: the client sends the version it read; a stale one is a conflict, never an overwrite."""
        async with self.db.transaction() as session:
            for item_id, magic in updates:
                item = await access.own_item(session, caller.user_id, item_id)
                current = item.pub_magic_metadata if public else item.magic_metadata
                current_version = int((current or {}).get("version", 0))
                if int(magic.get("version", 0)) != current_version:
                    raise Conflict(f"File {item_id}: magic metadata version {magic.get('version')} is stale "
                                   f"(current is {current_version})")
                stored = {**magic, "version": current_version + 1}
                if public:
                    item.pub_magic_metadata = stored
                else:
                    item.magic_metadata = stored
                await touch_item(session, self.clock, item)
                await repo.record_change(session, item, caller.user_id,
                                         Change.PUBLIC_MAGIC if public else Change.MAGIC,
                                         {"version": stored["version"]})

    async def replace_thumbnail(self, caller: Principal, item_id: int, thumbnail: Blob) -> Item:
        """A new thumbnail object: checked like a commit, counted, and the old object removed."""
        await self.objects.check(caller.user_id, thumbnail)
        async with self.db.transaction() as session:
            item = await access.own_item(session, caller.user_id, item_id)
            if thumbnail.object_key in (item.object_key, item.thumbnail_object_key):
                raise InvalidInput("The new thumbnail must be a new object")
            old_key, old_size = item.thumbnail_object_key, int(item.thumbnail_size or 0)
            await self.quotas.unstore(session, item.owner_id, old_size)
            await self.quotas.store(session, item.owner_id, thumbnail.size)
            item.thumbnail_object_key, item.thumbnail_size = thumbnail.object_key, thumbnail.size
            item.thumbnail_decryption_header = thumbnail.decryption_header
            item.size = int(item.size or 0) - old_size + thumbnail.size
            await touch_item(session, self.clock, item)
            await repo.record_change(session, item, caller.user_id, Change.THUMBNAIL,
                                     {"objectKey": thumbnail.object_key})
            await emit(session, BUS, VariantStored(item_id=item.id, owner_id=item.owner_id, variant=THUMBNAIL,
                                                   object_key=thumbnail.object_key, size=thumbnail.size))
            if old_key:
                await emit(session, BUS, ItemDeleted(item_id=item.id, owner_id=item.owner_id, object_keys=[old_key]))
            return item

    async def readable(self, caller: Principal, item_ids: Sequence[int]) -> list[Item]:
        """The files, each the caller's own or shared with them; any other is not found."""
        async with self.db.transaction() as session:
            return [await access.readable_item(session, caller.user_id, i) for i in item_ids]

    async def duplicates(self, caller: Principal) -> list[list[Item]]:
        """The caller's stored files grouped by SHA-256, groups of two or more."""
        async with self.db.transaction() as session:
            rows = await repo.stored_with_sha256(session, caller.user_id)
        groups: dict[str, list[Item]] = {}
        for item in rows:
            groups.setdefault(str(item.sha256), []).append(item)
        return [group for group in groups.values() if len(group) > 1]

    async def download_url(self, caller: Principal, item_id: int, *, thumbnail: bool) -> str:
        async with self.db.transaction() as session:
            item = await access.readable_item(session, caller.user_id, item_id)
        return await self.objects.url_of(item, thumbnail=thumbnail)

