"""Uploads for Ente clients: presigned PUTs and whole multipart uploads handed out in one answer.

An Ente client uploads, then commits the object key with `POST /files` (metadata), which checks that
the key is under the caller's prefix and that the object exists with the size claimed. So here every
key handed out is recorded; `item.stored` marks it committed, and the sweeper deletes what never was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shoebox_lib import keys
from shoebox_lib.contracts import LinkGrant
from shoebox_lib.errors import Forbidden, InvalidInput
from shoebox_lib.storage.base import MAX_PART_NUMBER, MAX_PART_SIZE, MIN_PART_SIZE, content_md5
from shoebox_uploads.models import SessionStatus, UploadKind, UploadSession
from shoebox_uploads.signer.limits import check_count, check_parts, check_signed
from shoebox_uploads.signer.rules import new_session_id
from shoebox_uploads.signer.sessions import Uploads

# The real Ente server's limit on one file.
MAX_FILE_SIZE = 10 * 1024**3
KINDS = (UploadKind.ENTE, UploadKind.ENTE_MULTIPART)
MULTIPART = (UploadKind.ENTE_MULTIPART,)
# Where an Ente client's objects wait for their commit, below the owner's prefix.
FOLDER = "e"


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


@dataclass(frozen=True)
class Uploader:
    """Whose quota an upload is for and where its objects go: the caller under its own folder, or the
    owner of a public link's collection under that collection's folder (the prefix metadata accepts for
    a guest's commit through the link)."""

    owner_id: int
    collection_id: int | None = None

    @classmethod
    def guest(cls, link: LinkGrant) -> Uploader:
        if not link.enable_collect:
            raise Forbidden("Uploads are not enabled for this link")
        return cls(link.owner_id, link.collection_id)

    def key(self, session_id: str) -> str:
        if self.collection_id is None:
            return keys.upload_object(self.owner_id, FOLDER, session_id)
        return keys.link_prefix(self.owner_id, self.collection_id) + session_id


class EnteUploads:
    def __init__(self, uploads: Uploads) -> None:
        self.uploads = uploads

    def _new(self, uploader: Uploader, kind: UploadKind, *, total: int | None = None, parts: int | None = None,
             part_size: int | None = None) -> UploadSession:
        # An Ente client commits within minutes of uploading; what waits longer than the URL's life plus
        # the grace period is abandoned. One PUT's URL is short-lived: it cannot be revoked.
        session_id = new_session_id()
        single = kind == UploadKind.ENTE
        return UploadSession(
            id=session_id, kind=kind, owner_id=uploader.owner_id, object_key=uploader.key(session_id),
            total_bytes=total, part_count=parts, part_size=part_size, status=SessionStatus.OPEN,
            expires_at=self.uploads.single_put_expiry() if single else self.uploads.presign_expiry(),
        )

    async def guest(self, access_token: str | None, access_jwt: str | None) -> Uploader:
        """The uploader a public link's guest is, once the library has checked the link."""
        return Uploader.guest(await self.uploads.library.link(access_token, access_jwt))

    async def upload_urls(self, owner_id: int, count: int) -> list[UploadURL]:
        """`count` presigned PUTs of unknown size: the quota is checked now and counted at commit."""
        check_count(count)
        await self.uploads.check_room(owner_id)
        return await self._puts(Uploader(owner_id), count)

    async def guest_upload_urls(self, uploader: Uploader, count: int) -> list[UploadURL]:
        """For a guest of an upload-enabled public link: PUTs under the owner's folder of that collection.
        The owner's quota is enforced when the guest commits (metadata); the sweeper removes what never is."""
        check_count(count)
        return await self._puts(uploader, count)

    async def _puts(self, uploader: Uploader, count: int) -> list[UploadURL]:
        """One transaction however many: `record` counts the owner's open uploads under a lock and inserts
        them all, and the URLs are signed here, with no round trip."""
        records = [self._new(uploader, UploadKind.ENTE) for _ in range(count)]
        await self.uploads.record(records)
        driver = self.uploads.driver
        return [UploadURL(r.object_key, await driver.presign_put(
            r.object_key, expires=self.uploads.url_seconds(r, self.uploads.single_put_seconds))) for r in records]

    async def multipart_urls(self, owner_id: int, count: int) -> MultipartURLs:
        """One object in `count` parts (sizes unknown), with a completeURL the client POSTs S3's XML to."""
        check_parts(count)
        await self.uploads.check_open(owner_id)
        await self.uploads.check_room(owner_id)
        return await self._unsized(Uploader(owner_id), count)

    async def seed_multipart_urls(self, owner_id: int, objects: int, parts: int) -> list[MultipartURLs]:
        """Seed 000's reading of the route: `objects` objects of `parts` parts each, within the URLs one
        answer may sign."""
        check_signed(objects, parts)
        await self.uploads.check_open(owner_id, objects)
        await self.uploads.check_room(owner_id)
        return [await self._unsized(Uploader(owner_id), parts) for _ in range(objects)]

    async def guest_multipart_urls(self, uploader: Uploader, count: int) -> MultipartURLs:
        check_parts(count)
        await self.uploads.check_open(uploader.owner_id)
        return await self._unsized(uploader, count)

    async def _unsized(self, uploader: Uploader, count: int) -> MultipartURLs:
        record = await self.uploads.open(self._new(uploader, UploadKind.ENTE_MULTIPART, parts=count))
        return await self._sign_all(record, [None] * count, [None] * count)

    async def upload_url(self, owner_id: int, content_length: int, md5: str) -> UploadURL:
        """Ente's V2: one PUT whose length and Content-MD5 are signed in, so storage refuses other bytes."""
        if not 1 <= content_length <= min(MAX_FILE_SIZE, MAX_PART_SIZE):
            raise InvalidInput("contentLength must be between 1 byte and 5 GiB for one PUT")
        checksum = content_md5(md5)
        await self.uploads.check_open(owner_id)
        record = self._new(Uploader(owner_id), UploadKind.ENTE, total=content_length)
        await self.uploads.record_held(record, content_length)
        url = await self.uploads.driver.presign_put(
            record.object_key, expires=self.uploads.url_seconds(record, self.uploads.single_put_seconds),
            content_md5=checksum, content_length=content_length)
        return UploadURL(record.object_key, url)

    async def multipart_url(self, owner_id: int, content_length: int, part_length: int,
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
        await self.uploads.check_open(owner_id)
        record = self._new(Uploader(owner_id), UploadKind.ENTE_MULTIPART, total=content_length, parts=count,
                           part_size=part_length)
        record = await self.uploads.open(record, hold=content_length)
        return await self._sign_all(record, checksums, lengths)

    async def _sign_all(self, record: UploadSession, checksums: list[str | None], lengths: list[int | None]
                        ) -> MultipartURLs:
        driver, expires = self.uploads.driver, self.uploads.url_seconds(record, self.uploads.presign_seconds)
        assert record.multipart_upload_id is not None
        upload_id = record.multipart_upload_id
        urls = [await driver.presign_part(record.object_key, upload_id, n, expires=expires,
                                          content_md5=checksums[n - 1], content_length=lengths[n - 1])
                for n in range(1, len(checksums) + 1)]
        complete = await driver.presign_complete(record.object_key, upload_id, expires=expires)
        return MultipartURLs(record.object_key, record.id, urls, complete)

    async def complete(self, owner_id: int, key: str, parts: list[tuple[int, str]]) -> UploadSession:
        """Seed 000's `POST /files/multipart-complete`: what the completeURL does, through the API, with
        the declared size (V2) checked. Idempotent: a completed upload answers the same again."""
        record = await self.uploads.by_key(owner_id, key, MULTIPART)
        return await self.uploads.complete(owner_id, record.id, parts, MULTIPART)
