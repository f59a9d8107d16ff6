"""Uploads for Ente clients: presigned PUTs and whole multipart uploads handed out in one answer.

An Ente client uploads, then commits the object key with `POST /files` (metadata), which checks that
the key is under the caller's prefix and that the object exists with the size claimed. So here every
key handed out is recorded; `item.stored` marks it committed, and the sweeper deletes what never was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.errors import Forbidden, InvalidInput, ShoeboxError
from shoebox_lib.events import ItemStored, VariantStored
from shoebox_lib.storage.base import MAX_PART_NUMBER, MAX_PART_SIZE, MIN_PART_SIZE, content_md5
from shoebox_uploads.metadata_client import PublicLink
from shoebox_uploads.models import UploadSession
from shoebox_uploads.sessions import Uploads, new_session_id, object_key

MAX_UPLOAD_URLS = 50
# The real Ente server's limit on one file.
MAX_FILE_SIZE = 10 * 1024**3
KINDS = ("ente", "ente-mp")


@dataclass(frozen=True)
class UploadURL:
    object_key: str
    url: str


@dataclass(frozen=True)
class MultipartURLs:
    object_key: str
    upload_id: str
    part_urls: list[str]
    complete_url: str


def guest_of(link: PublicLink) -> tuple[Principal, str]:
    """A guest uploads as the collection's owner (whose quota pays), into that collection's folder — the
    prefix metadata accepts for a guest's commit through this link."""
    owner = Principal(user_id=link.owner_id, session_id=None, permissions=frozenset(), is_admin=False, token="")
    return owner, f"p/{link.collection_id}"


class EnteUploads:
    def __init__(self, uploads: Uploads) -> None:
        self.uploads = uploads

    def _session(self, caller: Principal, kind: str, session_id: str, *, total: int | None = None,
                 parts: int | None = None, part_size: int | None = None, folder: str = "e") -> UploadSession:
        # An Ente client commits within minutes of uploading; what waits longer than the URL's life plus
        # the grace period is abandoned.
        return UploadSession(
            id=session_id, kind=kind, owner_id=caller.user_id,
            object_key=object_key(caller.user_id, folder, session_id),
            total_bytes=total, part_count=parts, part_size=part_size, status="open",
            reserved_bytes=total or 0, reservation_open=total is not None,
            expires_at=self.uploads.presign_expiry(),
        )

    async def upload_urls(self, caller: Principal, count: int) -> list[UploadURL]:
        """`count` presigned PUTs of unknown size: the quota is checked now and counted at commit."""
        if not 1 <= count <= MAX_UPLOAD_URLS:
            raise InvalidInput(f"count must be between 1 and {MAX_UPLOAD_URLS}")
        uploads = self.uploads
        await uploads.settle(caller)
        await uploads.check_room(caller)
        records = [self._session(caller, "ente", new_session_id()) for _ in range(count)]
        async with uploads.db.transaction() as session:
            session.add_all(records)
        return [UploadURL(r.object_key, await uploads.driver.presign_put(r.object_key, expires=uploads.presign_seconds))
                for r in records]

    async def guest_upload_urls(self, link: PublicLink, count: int) -> list[UploadURL]:
        """For a guest of an upload-enabled public link: PUTs under the owner's folder of that collection.
        The owner's quota is enforced when the guest commits (metadata); the sweeper removes what never is."""
        if not link.enable_collect:
            raise Forbidden("Uploads are not enabled for this link")
        if not 1 <= count <= MAX_UPLOAD_URLS:
            raise InvalidInput(f"count must be between 1 and {MAX_UPLOAD_URLS}")
        owner, folder = guest_of(link)
        records = [self._session(owner, "ente", new_session_id(), folder=folder) for _ in range(count)]
        async with self.uploads.db.transaction() as session:
            session.add_all(records)
        driver, expires = self.uploads.driver, self.uploads.presign_seconds
        return [UploadURL(r.object_key, await driver.presign_put(r.object_key, expires=expires)) for r in records]

    async def guest_multipart_urls(self, link: PublicLink, count: int) -> MultipartURLs:
        if not link.enable_collect:
            raise Forbidden("Uploads are not enabled for this link")
        if not 1 <= count <= MAX_PART_NUMBER:
            raise InvalidInput(f"count (the number of parts) must be between 1 and {MAX_PART_NUMBER}")
        owner, folder = guest_of(link)
        record = await self.uploads.open_session(
            self._session(owner, "ente-mp", new_session_id(), parts=count, folder=folder), multipart=True)
        return await self._sign_all(record, [None] * count, [None] * count)

    async def upload_url(self, caller: Principal, content_length: int, md5: str) -> UploadURL:
        """Ente's V2: one PUT whose length and Content-MD5 are signed in, so storage refuses other bytes."""
        if not 1 <= content_length <= min(MAX_FILE_SIZE, MAX_PART_SIZE):
            raise InvalidInput("contentLength must be between 1 byte and 5 GiB for one PUT")
        checksum = content_md5(md5)
        uploads = self.uploads
        await uploads.settle(caller)
        session_id = new_session_id()
        record = self._session(caller, "ente", session_id, total=content_length)
        await uploads.reserve(caller, session_id, content_length)
        await uploads.open_session(record, multipart=False)
        url = await uploads.driver.presign_put(record.object_key, expires=uploads.presign_seconds,
                                               content_md5=checksum, content_length=content_length)
        return UploadURL(record.object_key, url)

    async def multipart_urls(self, caller: Principal, count: int) -> MultipartURLs:
        """One object in `count` parts (sizes unknown), with a completeURL the client POSTs S3's XML to."""
        if not 1 <= count <= MAX_PART_NUMBER:
            raise InvalidInput(f"count (the number of parts) must be between 1 and {MAX_PART_NUMBER}")
        uploads = self.uploads
        await uploads.settle(caller)
        await uploads.check_room(caller)
        record = await uploads.open_session(self._session(caller, "ente-mp", new_session_id(), parts=count),
                                            multipart=True)
        return await self._sign_all(record, [None] * count, [None] * count)

    async def multipart_url(self, caller: Principal, content_length: int, part_length: int,
                            part_md5s: list[str]) -> MultipartURLs:
        """Ente's V2 multipart: every part's length and Content-MD5 are signed in; the bytes are held."""
        if not 1 <= content_length <= MAX_FILE_SIZE:
            raise InvalidInput(f"contentLength must be between 1 and {MAX_FILE_SIZE}")
        if not 1 <= part_length <= MAX_PART_SIZE:
            raise InvalidInput("partLength must be between 1 byte and 5 GiB")
        if content_length > part_length and part_length < MIN_PART_SIZE:
            raise InvalidInput("partLength must be at least 5 MiB when more than one part is needed")
        count = max(1, math.ceil(content_length / part_length))
        if count > MAX_PART_NUMBER:
            raise InvalidInput(f"a multipart upload has at most {MAX_PART_NUMBER} parts")
        if len(part_md5s) != count:
            raise InvalidInput(f"partMd5s has {len(part_md5s)} entries, but the sizes make {count} parts")
        checksums: list[str | None] = [content_md5(m) for m in part_md5s]
        lengths: list[int | None] = [min(part_length, content_length - i * part_length) for i in range(count)]
        uploads = self.uploads
        await uploads.settle(caller)
        session_id = new_session_id()
        await uploads.reserve(caller, session_id, content_length)
        record = await uploads.open_session(
            self._session(caller, "ente-mp", session_id, total=content_length, parts=count, part_size=part_length),
            multipart=True)
        return await self._sign_all(record, checksums, lengths)

    async def _sign_all(self, record: UploadSession, checksums: list[str | None], lengths: list[int | None]
                        ) -> MultipartURLs:
        driver, expires = self.uploads.driver, self.uploads.presign_seconds
        assert record.multipart_upload_id is not None
        upload_id = record.multipart_upload_id
        urls = [await driver.presign_part(record.object_key, upload_id, n, expires=expires,
                                          content_md5=checksums[n - 1], content_length=lengths[n - 1])
                for n in range(1, len(checksums) + 1)]
        complete = await driver.presign_complete(record.object_key, upload_id, expires=expires)
        return MultipartURLs(record.object_key, record.id, urls, complete)

    async def complete(self, caller: Principal, key: str, parts: list[tuple[int, str]]) -> dict[str, object]:
        """Seed 000's `POST /files/multipart-complete`: what the completeURL does, through the API, with
        the declared size (V2) checked. Idempotent: a completed upload answers the same again."""
        uploads = self.uploads
        record = await uploads.by_key(caller, key, ("ente-mp",))
        failure: ShoeboxError | None = None
        async with uploads.db.transaction() as session:
            record = await uploads.owned(session, caller, record.id, lock=True, kinds=("ente-mp",))
            if record.result is not None and record.status in ("completed", "committed"):
                return record.result
            uploads.check_open(record)
            info = await uploads._assemble(record, uploads._completion(record, parts))
            if record.total_bytes is not None and info.size != record.total_bytes:
                await uploads.driver.delete(record.object_key)
                record.status = "failed"
                record.error = f"{info.size} bytes were uploaded, but {record.total_bytes} were declared"
                failure = InvalidInput(record.error + "; the object was removed")
            else:
                record.status, record.completed_at = "completed", datetime.now(UTC)
                record.result = {"objectKey": record.object_key, "uploadId": record.id, "size": info.size,
                                 "etag": info.etag}
        if failure is not None:
            await uploads.settle(caller)
            raise failure
        assert record.result is not None
        return record.result


async def item_stored(session: AsyncSession, event: ItemStored | VariantStored) -> None:
    """An object handed out to an Ente client was committed by `POST /files` (the file as an item, its
    thumbnail as a variant): the sweeper must keep it."""
    record = (await session.execute(
        select(UploadSession).where(UploadSession.object_key == event.object_key,
                                    UploadSession.owner_id == event.owner_id, UploadSession.kind.in_(KINDS))
        .with_for_update()
    )).scalars().first()
    if record is None or record.status == "committed":
        return
    record.status, record.committed_at, record.item_id = "committed", datetime.now(UTC), event.item_id
