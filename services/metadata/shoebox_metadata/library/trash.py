"""The trash: files leave every collection, stay restorable for the retention period (a setting, 30 days by
default), then are purged for good (their objects leave every tier, and their bytes stop counting).

Ente's clients trash a file from an album it is in; a v1 image is deleted on its own (`discard`) and
restored into the album it was deleted from while that album lasts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import InvalidInput, NotFound
from shoebox_lib.events import ItemDeleted
from shoebox_metadata.clock import Clock, now_us
from shoebox_metadata.filedata.service import erase_file_data
from shoebox_metadata.kinds import Change, ItemStatus
from shoebox_metadata.library import access, repo
from shoebox_metadata.library.membership import FileKey, join, leave_every_collection
from shoebox_metadata.library.objects import object_keys_of
from shoebox_metadata.models import BUS, Collection, Item, TrashEntry
from shoebox_metadata.quota import Quotas

DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600
PURGE_BATCH = 100


class Trash:
    def __init__(self, db: Database, quotas: Quotas, clock: Clock,
                 retention_seconds: int = DEFAULT_RETENTION_SECONDS) -> None:
        self.db = db
        self.quotas = quotas
        self.clock = clock
        self.retention_us = retention_seconds * 1_000_000

    async def trash(self, caller: Principal, entries: Sequence[tuple[int, int]]) -> None:
        """Move files (each named with a collection it is in) to the trash: out of every collection, each
        of which moves with it. A file named twice (once per album, as apps may list it) is trashed once."""
        async with self.db.transaction() as session:
            trashed: set[int] = set()
            for item_id, collection_id in entries:
                if item_id in trashed:
                    continue
                item = await access.own_item(session, caller.user_id, item_id)
                collection = await access.collection_for(session, caller.user_id, collection_id)
                member = await repo.membership(session, collection.id, item.id)
                if member is None or member.is_deleted:
                    raise NotFound(f"File {item_id} is not in collection {collection_id}")
                await self._put_in_trash(session, caller, item, collection.id)
                trashed.add(item_id)

    async def discard(self, caller: Principal, item_id: int) -> int:
        """Delete one of the caller's v1 images: to the trash when it was uploaded, remembering one album it
        was in, else (nothing was uploaded) for good at once. Answers when it goes for good (µs)."""
        async with self.db.transaction() as session:
            item = await access.own_item(session, caller.user_id, item_id,
                                         statuses=(ItemStatus.STORED, ItemStatus.UPLOAD_PENDING))
            if item.status == ItemStatus.UPLOAD_PENDING:
                await self.erase(session, item, caller.user_id)
                return now_us()
            return await self._put_in_trash(session, caller, item,
                                            await repo.a_collection_of(session, caller.user_id, item.id))

    async def _put_in_trash(self, session: AsyncSession, caller: Principal, item: Item,
                            collection_id: int | None) -> int:
        await leave_every_collection(session, self.clock, item)
        item.status = ItemStatus.TRASHED
        now = await self.clock.next(session, caller.user_id)
        item.updation_time = now
        entry = await repo.trash_entry(session, item.id, lock=True)
        if entry is None:
            entry = TrashEntry(item_id=item.id, owner_id=caller.user_id, created_at=now)
            session.add(entry)
        entry.collection_id, entry.is_deleted, entry.is_restored = collection_id, False, False
        entry.delete_by, entry.updated_at = now_us() + self.retention_us, now
        await repo.record_change(session, item, caller.user_id, Change.TRASHED, {"collectionID": collection_id})
        return entry.delete_by

    async def restore_image(self, caller: Principal, item_id: int) -> None:
        """A deleted v1 image back from the trash, into the album it was deleted from if that album is still
        the caller's; else into none."""
        async with self.db.transaction() as session:
            item, entry = await _trashed(session, caller, item_id)
            album = await repo.collection(session, entry.collection_id or 0)
            if album is not None and (album.is_deleted or album.owner_id != caller.user_id):
                album = None
            previous = await repo.membership(session, album.id, item.id) if album is not None else None
            key = FileKey(item.id, previous.encrypted_key or "", previous.key_decryption_nonce or "") \
                if previous is not None else FileKey(item.id, "", "")
            await self._bring_back(session, caller, item, entry, album, key)

    async def purge_due(self) -> int:
        """Purge for good what has been in the trash past its time; how many went. One item per transaction,
        each checked again under its lock (it may have been restored meanwhile), so that no purge holds many
        owners' clocks at once."""
        purged = 0
        while True:
            async with self.db.transaction() as session:
                due = await repo.trash_due(session, now_us(), PURGE_BATCH)
            for item_id in due:
                async with self.db.transaction() as session:
                    item = await repo.item(session, item_id, lock=True)
                    entry = await repo.trash_entry(session, item_id, lock=True)
                    if item is None or entry is None or item.status != ItemStatus.TRASHED or entry.is_restored \
                            or entry.is_deleted or entry.delete_by > now_us():
                        continue
                    await self.erase(session, item, item.owner_id)
                    purged += 1
            if len(due) < PURGE_BATCH:
                return purged

    async def memberships(self, caller: Principal, item_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(item, collection) for each of the caller's items, in one collection it is in."""
        found = []
        async with self.db.transaction() as session:
            for item_id in item_ids:
                collection_id = await repo.a_collection_of(session, caller.user_id, item_id)
                if collection_id is None:
                    raise NotFound(f"File {item_id} not found")
                found.append((item_id, collection_id))
        return found

    async def restore(self, caller: Principal, item_ids: Sequence[int], collection_id: int | None = None) -> None:
        """Back from the trash into the collection it was trashed from (or another of the caller's), with
        the key it had there (seed 000's `/files/restore`)."""
        async with self.db.transaction() as session:
            for item_id in item_ids:
                item, entry = await _trashed(session, caller, item_id)
                target = await access.collection_for(session, caller.user_id,
                                                     collection_id or entry.collection_id or 0)
                previous = await repo.membership(session, entry.collection_id or 0, item.id)
                if previous is None:
                    raise InvalidInput(f"File {item_id} has no key for collection {target.id}")
                await self._bring_back(session, caller, item, entry, target, FileKey(
                    item.id, previous.encrypted_key or "", previous.key_decryption_nonce or ""))

    async def restore_files(self, caller: Principal, collection_id: int, keys: Sequence[FileKey]) -> None:
        """Back from the trash into one of the caller's collections, each file with its key under that
        collection's key (Ente's `/collections/restore-files`)."""
        async with self.db.transaction() as session:
            target = await access.collection_for(session, caller.user_id, collection_id)
            for key in keys:
                item, entry = await _trashed(session, caller, key.item_id)
                await self._bring_back(session, caller, item, entry, target, key)

    async def _bring_back(self, session: AsyncSession, caller: Principal, item: Item, entry: TrashEntry,
                          target: Collection | None, key: FileKey) -> None:
        if target is not None:
            await join(session, self.clock, target, key, caller.user_id)
        item.status = ItemStatus.STORED
        item.updation_time = await self.clock.next(session, caller.user_id)
        entry.is_restored, entry.updated_at = True, await self.clock.next(session, caller.user_id)
        await repo.record_change(session, item, caller.user_id, Change.RESTORED,
                                 {"collectionID": target.id if target is not None else None})

    async def delete_forever(self, caller: Principal, item_ids: Sequence[int]) -> int:
        """Only trashed files. Their objects leave every tier once this transaction has committed."""
        async with self.db.transaction() as session:
            for item_id in item_ids:
                item = await access.own_item(session, caller.user_id, item_id, statuses=(ItemStatus.TRASHED,))
                await self.erase(session, item, caller.user_id)
        return len(item_ids)

    async def empty(self, caller: Principal, last_updated_at: int) -> int:
        """Delete for good what is in the trash since `last_updated_at` or before."""
        async with self.db.transaction() as session:
            items = await repo.trashed_up_to(session, caller.user_id, last_updated_at)
            for item in items:
                await self.erase(session, item, caller.user_id)
        return len(items)

    async def diff(self, caller: Principal, since: int, limit: int) -> tuple[list[tuple[TrashEntry, Item]], bool]:
        async with self.db.transaction() as session:
            return await repo.trash_since(session, caller.user_id, since, limit)

    async def erase(self, session: AsyncSession, item: Item, actor: int) -> None:
        """Delete an item for good, in the caller's transaction: uncounted, and its objects to be removed.

        Its collections do not move: it left them when it was trashed, which their diffs showed once."""
        await leave_every_collection(session, self.clock, item)  # none, unless something put it back
        entry = await repo.trash_entry(session, item.id, lock=True)
        if entry is not None:
            entry.is_deleted, entry.updated_at = True, await self.clock.next(session, item.owner_id)
        variants = await repo.variants_of(session, item.id)
        item.status = ItemStatus.DELETED
        item.updation_time = await self.clock.next(session, item.owner_id)
        await self.quotas.unstore(session, item.owner_id, int(item.size or 0))
        await repo.record_change(session, item, actor, Change.DELETED)
        derived = await erase_file_data(session, self.clock, item)  # its Ente file data goes with it
        await emit(session, BUS, ItemDeleted(item_id=item.id, owner_id=item.owner_id,
                                             object_keys=[*object_keys_of(item, variants), *derived]))


async def _trashed(session: AsyncSession, caller: Principal, item_id: int) -> tuple[Item, TrashEntry]:
    """The caller's trashed item, with its trash entry, both locked."""
    item = await access.own_item(session, caller.user_id, item_id, statuses=(ItemStatus.TRASHED,))
    entry = await repo.trash_entry(session, item.id, lock=True)
    assert entry is not None  # a trashed item always has its entry
    return item, entry
