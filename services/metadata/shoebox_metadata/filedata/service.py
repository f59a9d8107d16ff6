"""File data's rules, as the real server has them.

- `PUT /files/data` stores an ML index for a file the caller may read (their own, or one shared with
  them), under the file owner; `lastUpdatedAt`, when given, must be the stored entry's `updatedAt`
  (0 for none yet), else 409 `INVALID_VERSION`.
- A preview video is uploaded by its owner to an object handed out for it (presigned, under the owner's
  prefix), then committed with its playlist; a replaced preview's object is deleted.
- Reads need read access to every file asked for; someone else's file is a 404, like a missing one.
- Every change takes the file owner's change clock first (`clock.py`), so `updatedAt` values are unique
  per owner and commit in order: the status diff, paged by the newest `updatedAt` seen, misses nothing.
  A file deleted for good leaves its entries as deleted ones (`erase`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, InvalidInput, NotFound
from shoebox_metadata.clock import Clock, now_us
from shoebox_metadata.filedata import keys, repo
from shoebox_metadata.filedata.kinds import FETCHABLE, LINK_FETCHABLE, PREVIEWS, STORED_INLINE, FileDataType
from shoebox_metadata.library import access
from shoebox_metadata.library.links import LinkAccess
from shoebox_metadata.library.objects import Objects
from shoebox_metadata.models import FileData, FileDataUpload, Item

log = logging.getLogger(__name__)

MAX_PARTS = 10_000  # the real server's bound on a multipart preview upload
UPLOAD_LIFETIME_US = 24 * 3600 * 1_000_000  # then an uncommitted preview object is swept (uploads' own
# sweeper aborts foreign multipart uploads only after 25 hours)
SWEEP_BATCH = 100


def bad_request(message: str) -> InvalidInput:
    return InvalidInput(message, code="BAD_REQUEST")


def invalid_version(message: str) -> Conflict:
    return Conflict(message, code="INVALID_VERSION")


@dataclass(frozen=True)
class Sealed:
    """Encrypted data and its header, as the client sent them."""

    encrypted_data: str
    decryption_header: str


@dataclass(frozen=True)
class Fetched:
    data: list[FileData]
    pending: list[int]  # asked for, no entry yet
    failed: list[int]  # the real server's objects that could not be read; entries here are rows, never


@dataclass(frozen=True)
class PreviewUpload:
    object_id: str
    url: str | None = None
    part_urls: list[str] | None = None
    complete_url: str | None = None


@dataclass(frozen=True)
class VideoPreview:
    item_id: int
    object_id: str
    object_size: int
    playlist: Sealed
    version: int


def _check_version(found: FileData | None, last_updated_at: int | None) -> None:
    """The client's view of the entry must be the stored one (the real server's messages)."""
    if last_updated_at is None:
        return
    if found is None:
        if last_updated_at != 0:
            raise invalid_version("non zero version empty data")
        return
    if found.is_deleted:
        raise invalid_version("data deleted")
    if found.updated_at != last_updated_at:
        raise invalid_version(f"version mismatch expected {found.updated_at}, found {last_updated_at}")


def _size(sealed: Sealed) -> int:
    return len(sealed.encrypted_data.encode()) + len(sealed.decryption_header.encode())


class FileDataStore:
    def __init__(self, db: Database, objects: Objects, clock: Clock) -> None:
        self.db = db
        self.objects = objects
        self.clock = clock

    # --- writing ---------------------------------------------------------------------------------------

    async def put(self, caller: Principal, item_id: int, kind: FileDataType, sealed: Sealed | None, *,
                  version: int = 1, last_updated_at: int | None = None) -> None:
        if kind not in STORED_INLINE:
            raise bad_request(f"invalid object type {kind}")
        if sealed is None or not sealed.encrypted_data or not sealed.decryption_header:
            raise bad_request("encryptedData and decryptionHeader (only) are required for derived meta")
        async with self.db.transaction() as session:
            item = await access.readable_item(session, caller.user_id, item_id)
            at = await self.clock.next(session, item.owner_id)
            found = await repo.entry(session, item_id, kind, lock=True)
            _check_version(found, last_updated_at)
            if found is None:
                session.add(FileData(item_id=item_id, type=kind.value, owner_id=item.owner_id,
                                     encrypted_data=sealed.encrypted_data, decryption_header=sealed.decryption_header,
                                     version=version, size=_size(sealed), is_deleted=False, created_at=at,
                                     updated_at=at))
            elif not found.is_deleted:  # the real server never brings a deleted entry back
                found.encrypted_data, found.decryption_header = sealed.encrypted_data, sealed.decryption_header
                found.version, found.size, found.updated_at = version, _size(sealed), at

    async def preview_upload(self, caller: Principal, item_id: int, kind: FileDataType, *, multipart: bool = False,
                             count: int | None = None) -> PreviewUpload:
        """A fresh object for a preview of the caller's own file, which must be in an album."""
        if kind not in PREVIEWS:
            raise bad_request(f"unsupported object type {kind}")
        if multipart and count is None:
            raise bad_request("count is required for multipart upload")
        if multipart and count is not None and not 1 <= count <= MAX_PARTS:
            raise bad_request(f"invalid count, should be between 1 and {MAX_PARTS}")
        async with self.db.transaction() as session:
            item = await self._previewable(session, caller, item_id)
        object_id = keys.new_object_id(kind)
        key = keys.preview_object(item.owner_id, item.id, kind, object_id)
        storage, expires = self.objects.storage.primary, self.objects.presign_seconds
        upload_id = await storage.create_multipart(key) if multipart else None
        async with self.db.transaction() as session:
            session.add(FileDataUpload(object_key=key, owner_id=item.owner_id, item_id=item.id, type=kind.value,
                                       object_id=object_id, multipart_upload_id=upload_id,
                                       expires_at=now_us() + UPLOAD_LIFETIME_US))
        if upload_id is None:
            return PreviewUpload(object_id, url=await storage.presign_put(key, expires=expires))
        parts = [await storage.presign_part(key, upload_id, n, expires=expires) for n in range(1, (count or 0) + 1)]
        return PreviewUpload(object_id, part_urls=parts,
                             complete_url=await storage.presign_complete(key, upload_id, expires=expires))

    async def put_video(self, caller: Principal, preview: VideoPreview) -> None:
        """Commit an uploaded preview video with its playlist. Committing the same object again is a no-op."""
        kind = FileDataType.VIDEO_PREVIEW
        if not preview.playlist.encrypted_data or not preview.playlist.decryption_header:
            raise bad_request("playlist and playListHeader are required for preview video")
        async with self.db.transaction() as session:
            item = await self._previewable(session, caller, preview.item_id)
            if await self._already(session, preview):
                return
            pending = await repo.pending_upload(session, item.owner_id, item.id, kind, preview.object_id)
            if pending is None or pending.expires_at < now_us():
                raise bad_request(f"{preview.object_id} was not handed out for this file, or has lapsed")
            key = pending.object_key
        # Storage is asked outside any transaction: no row stays locked across a remote call.
        found = await self.objects.storage.primary.head(key)
        if found is None:
            raise bad_request(f"Nothing was uploaded for {preview.object_id}")
        if found.size != preview.object_size:
            raise bad_request(f"{preview.object_id} has {found.size} bytes, not {preview.object_size}")
        replaced: str | None = None
        async with self.db.transaction() as session:
            item = await self._previewable(session, caller, preview.item_id)
            if await self._already(session, preview):
                return
            pending = await repo.pending_upload(session, item.owner_id, item.id, kind, preview.object_id, lock=True)
            if pending is None or pending.expires_at < now_us():
                raise bad_request(f"{preview.object_id} was not handed out for this file, or has lapsed")
            at = await self.clock.next(session, item.owner_id)
            existing = await repo.entry(session, item.id, kind, lock=True)
            size = preview.object_size + _size(preview.playlist)
            values: dict[str, Any] = dict(encrypted_data=preview.playlist.encrypted_data,
                          decryption_header=preview.playlist.decryption_header, version=preview.version,
                          object_id=preview.object_id, object_key=key, object_nonce=None,
                          object_size=preview.object_size, size=size, is_deleted=False, updated_at=at)
            if existing is None:
                session.add(FileData(item_id=item.id, type=kind.value, owner_id=item.owner_id, created_at=at,
                                     **values))
            else:
                replaced = existing.object_key if existing.object_key != key else None
                for name, value in values.items():
                    setattr(existing, name, value)
            await repo.forget_upload(session, key)
        if replaced:
            await self._delete_object(replaced)

    # --- reading ---------------------------------------------------------------------------------------

    async def fetch(self, caller: Principal, item_ids: Sequence[int], kind: FileDataType) -> Fetched:
        if kind not in FETCHABLE:
            raise bad_request(f"unsupported object type {kind}")
        wanted = list(dict.fromkeys(item_ids))
        async with self.db.transaction() as session:
            for item_id in wanted:
                await access.readable_item(session, caller.user_id, item_id)
            rows = {row.item_id: row for row in await repo.entries_of(session, wanted, kind)}
        return Fetched(data=[rows[i] for i in wanted if i in rows and not rows[i].is_deleted],
                       pending=[i for i in wanted if i not in rows], failed=[])

    async def fetch_one(self, caller: Principal, item_id: int, kind: FileDataType) -> FileData | None:
        """The entry, or None when there is none (yet) or it was deleted."""
        if kind not in FETCHABLE:
            raise bad_request(f"unsupported object type {kind}")
        async with self.db.transaction() as session:
            await access.readable_item(session, caller.user_id, item_id)
            return _live(await repo.entry(session, item_id, kind))

    async def status_diff(self, caller: Principal, last_updated_at: int | None) -> list[FileData]:
        """The caller's own entries changed after `last_updated_at`, oldest change first (5000 at most)."""
        if last_updated_at is None or last_updated_at < 0:
            raise bad_request("lastUpdated is required and should be greater than or equal to 0")
        async with self.db.transaction() as session:
            return await repo.changed_since(session, caller.user_id, last_updated_at)

    async def preview_url(self, caller: Principal, item_id: int, kind: FileDataType) -> str:
        if kind not in PREVIEWS:
            raise bad_request(f"unsupported object type {kind}")
        async with self.db.transaction() as session:
            await access.readable_item(session, caller.user_id, item_id)
            found = _live(await repo.entry(session, item_id, kind))
        return await self._url(found)

    # --- through a public link -------------------------------------------------------------------------

    async def link_fetch_one(self, grant: LinkAccess, item_id: int, kind: FileDataType) -> FileData | None:
        if kind not in LINK_FETCHABLE:
            raise bad_request(f"unsupported object type {kind}")
        async with self.db.transaction() as session:
            await self._in_link(session, grant, item_id)
            return _live(await repo.entry(session, item_id, kind))

    async def link_preview_url(self, grant: LinkAccess, item_id: int, kind: FileDataType) -> str:
        if kind not in PREVIEWS:
            raise bad_request(f"unsupported object type {kind}")
        async with self.db.transaction() as session:
            await self._in_link(session, grant, item_id)
            found = _live(await repo.entry(session, item_id, kind))
        return await self._url(found)

    # --- the library's side ----------------------------------------------------------------------------

    async def erase(self, session: AsyncSession, item: Item) -> list[str]:
        return await erase_file_data(session, self.clock, item)

    async def sweep_uploads(self) -> int:
        """Delete the objects of preview uploads never committed, once they lapse."""
        async with self.db.transaction() as session:
            lapsed = await repo.lapsed_uploads(session, now_us(), SWEEP_BATCH)
            for pending in lapsed:
                await repo.forget_upload(session, pending.object_key)
        for pending in lapsed:  # the rows are gone, so nothing commits these objects any more
            if pending.multipart_upload_id:
                try:
                    await self.objects.storage.primary.abort_multipart(pending.object_key, pending.multipart_upload_id)
                except Exception:  # already completed or aborted: the object (if any) is deleted below
                    log.info("multipart upload of %s was no longer open", pending.object_key)
            await self._delete_object(pending.object_key)
        return len(lapsed)

    # --- helpers ---------------------------------------------------------------------------------------

    @staticmethod
    async def _previewable(session: AsyncSession, caller: Principal, item_id: int) -> Item:
        """The caller's own stored file, in at least one album (the real server's rule for previews)."""
        item = await access.own_item(session, caller.user_id, item_id)
        if not await repo.in_a_collection(session, item.id):
            raise NotFound(f"File {item_id} not found")
        return item

    @staticmethod
    async def _already(session: AsyncSession, preview: VideoPreview) -> bool:
        found = await repo.entry(session, preview.item_id, FileDataType.VIDEO_PREVIEW)
        return found is not None and not found.is_deleted and found.object_id == preview.object_id \
            and found.object_size == preview.object_size

    @staticmethod
    async def _in_link(session: AsyncSession, grant: LinkAccess, item_id: int) -> None:
        if not await repo.stored_in_collection(session, grant.collection.id, item_id):
            raise NotFound(f"File {item_id} not found")

    async def _url(self, found: FileData | None) -> str:
        if found is None or not found.object_key:
            raise NotFound("No such file data")
        return await self.objects.url(found.object_key)

    async def _delete_object(self, key: str) -> None:
        try:
            await self.objects.storage.primary.delete(key)
        except Exception:  # best effort: an object left behind is only space
            log.warning("could not delete the preview object %s", key, exc_info=True)


def _live(found: FileData | None) -> FileData | None:
    return found if found is not None and not found.is_deleted else None


async def erase_file_data(session: AsyncSession, clock: Clock, item: Item) -> list[str]:
    """The file is deleted for good, in the caller's transaction: its entries become deleted ones (in the
    owner's status diff, by the owner's clock) and lose their data. Returns the objects to remove (for
    `item.deleted`): committed previews and preview uploads never committed."""
    objects: list[str] = []
    for found in await repo.entries_of_item(session, item.id, lock=True):
        if found.object_key:
            objects.append(found.object_key)
        if not found.is_deleted:
            found.is_deleted, found.encrypted_data, found.decryption_header = True, None, None
            found.object_key, found.updated_at = None, await clock.next(session, item.owner_id)
    for pending in await repo.pending_uploads_of_item(session, item.id):
        objects.append(pending.object_key)
        await repo.forget_upload(session, pending.object_key)
    return objects
