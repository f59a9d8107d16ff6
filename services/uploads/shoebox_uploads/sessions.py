"""The upload signer's core, shared by every face: sessions under server-chosen keys, quota held at
metadata for the bytes declared, URLs signed for one method on one key, and on completion a check of
what storage holds against what was declared. Bytes go straight to storage; nothing here reads them.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, Gone, InvalidInput, NotFound, QuotaExceeded, ShoeboxError
from shoebox_lib.events import UploadCompleted
from shoebox_lib.storage import ObjectInfo, Storage, StorageDriver
from shoebox_lib.storage.base import (
    MAX_OBJECT_SIZE,
    MAX_PART_NUMBER,
    MIN_PART_SIZE,
    check_completion,
    normalise_etag,
)
from shoebox_uploads.config import UploadsSettings
from shoebox_uploads.metadata_client import MetadataClient
from shoebox_uploads.models import BUS, UploadSession

log = logging.getLogger(__name__)

DEFAULT_PART_SIZE = 8 * 1024 * 1024
# Sessions whose reservation may be given back once they are over (committed Ente objects are counted
# by metadata's own commit, so their hold is released too).
_SETTLED = ("aborted", "failed", "expired", "swept", "committed")


def choose_part_size(total_bytes: int) -> int:
    """8 MiB parts, doubled until the object fits in S3's 10,000 parts."""
    size = max(DEFAULT_PART_SIZE, MIN_PART_SIZE)
    while math.ceil(total_bytes / size) > MAX_PART_NUMBER:
        size *= 2
    return size


def max_parts(total_bytes: int | None) -> int:
    """The highest part number a client choosing its own part size may use for a declared size."""
    if total_bytes is None:
        return MAX_PART_NUMBER
    return max(1, min(MAX_PART_NUMBER, math.ceil(total_bytes / MIN_PART_SIZE)))


def new_session_id() -> str:
    # Also the quota reservation's id at metadata: [A-Za-z0-9_-], at most 64 characters.
    return "up_" + secrets.token_urlsafe(16)


def object_key(owner_id: int, kind: str, session_id: str, item_id: int | None = None) -> str:
    """Chosen by the server, under the owner's prefix; fresh per session so a retry never collides."""
    if item_id is not None:
        return f"u/{owner_id}/i/{item_id}/{session_id}/original"
    return f"u/{owner_id}/{kind}/{session_id}"


@dataclass(frozen=True)
class SignedPart:
    part_number: int
    url: str
    expires_at: datetime


class Uploads:
    def __init__(self, db: Database, storage: Storage, metadata: MetadataClient, presign_seconds: int,
                 config: UploadsSettings | None = None, public_url: str = "") -> None:
        self.public_url = public_url.rstrip("/")
        self.db = db
        self.storage = storage
        self.metadata = metadata
        self.presign_seconds = presign_seconds
        self.config = config or UploadsSettings()

    @property
    def driver(self) -> StorageDriver:
        return self.storage.primary

    def lifetime(self) -> datetime:
        """When a session that holds no bytes ends."""
        return datetime.now(UTC) + timedelta(seconds=self.config.session_seconds)

    def presign_expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.presign_seconds)

    # --- quota ------------------------------------------------------------------------------------

    async def reserve(self, caller: Principal, session_id: str, size: int) -> datetime:
        """Hold the bytes at metadata under the session's id; the session ends when the hold would lapse."""
        held_until = await self.metadata.reserve(caller, session_id, size)
        return min(held_until, datetime.now(UTC) + timedelta(seconds=self.config.session_seconds))

    async def check_room(self, caller: Principal) -> None:
        """Where the size is not known yet, refuse only when nothing at all is left (Ente does the same);
        the commit then counts the real size atomically."""
        if await self.metadata.available(caller) <= 0:
            raise QuotaExceeded("Storage limit exceeded")

    async def settle(self, caller: Principal) -> None:
        """Give back the holds of the caller's sessions that are over. Runs with the caller's token (the
        reservation routes answer only their owner), so at the start of each of their calls; metadata lets
        any hold that is never given back lapse by itself."""
        async with self.db.transaction() as session:
            ids = (await session.execute(
                select(UploadSession.id).where(UploadSession.owner_id == caller.user_id,
                                               UploadSession.reservation_open.is_(True),
                                               UploadSession.status.in_(_SETTLED)).limit(100)
            )).scalars().all()
        for session_id in ids:
            try:
                await self.metadata.release(caller, session_id)
            except ShoeboxError:
                log.warning("could not release reservation %s; it will lapse at metadata", session_id)
                return
            async with self.db.transaction() as session:
                await session.execute(update(UploadSession).where(UploadSession.id == session_id)
                                      .values(reservation_open=False))

    # --- sessions ---------------------------------------------------------------------------------

    async def open_session(self, record: UploadSession, *, multipart: bool) -> UploadSession:
        """Record the session before storage hears of it, so the sweeper never mistakes a new multipart
        upload for an orphan; then start the multipart upload."""
        async with self.db.transaction() as session:
            session.add(record)
        if not multipart:
            return record
        try:
            upload_id = await self.driver.create_multipart(record.object_key, content_type=record.content_type)
        except BaseException:
            async with self.db.transaction() as session:
                await session.execute(update(UploadSession).where(UploadSession.id == record.id)
                                      .values(status="failed", error="storage refused to start the upload"))
            raise
        async with self.db.transaction() as session:
            await session.execute(update(UploadSession).where(UploadSession.id == record.id)
                                  .values(multipart_upload_id=upload_id))
        record.multipart_upload_id = upload_id
        return record

    async def owned(self, session: AsyncSession, caller: Principal, session_id: str, *, lock: bool = False,
                    kinds: tuple[str, ...] | None = None) -> UploadSession:
        record = await session.get(UploadSession, session_id, with_for_update=lock)
        # Someone else's session and a missing one answer alike, so ids reveal nothing.
        if record is None or record.owner_id != caller.user_id or (kinds and record.kind not in kinds):
            raise NotFound("Upload session not found")
        return record

    async def get(self, caller: Principal, session_id: str, kinds: tuple[str, ...] | None = None) -> UploadSession:
        async with self.db.transaction() as session:
            return await self.owned(session, caller, session_id, kinds=kinds)

    async def by_key(self, caller: Principal, key: str, kinds: tuple[str, ...]) -> UploadSession:
        async with self.db.transaction() as session:
            record = (await session.execute(
                select(UploadSession).where(UploadSession.object_key == key, UploadSession.owner_id == caller.user_id,
                                            UploadSession.kind.in_(kinds))
            )).scalars().first()
        if record is None:
            raise NotFound("Upload not found")
        return record

    @staticmethod
    def check_open(record: UploadSession) -> None:
        if record.status != "open":
            raise Conflict(f"The upload session is {record.status}")
        if record.expires_at <= datetime.now(UTC):
            raise Gone("The upload session has expired")

    async def sign_part(self, caller: Principal, session_id: str, part_number: int,
                        kinds: tuple[str, ...] = ("v1",), key: str | None = None) -> SignedPart:
        record = await self.get(caller, session_id, kinds)
        if key is not None and record.object_key != key:
            raise NotFound("Upload session not found")
        self.check_open(record)
        limit = record.part_count or MAX_PART_NUMBER
        if not 1 <= part_number <= limit:
            raise InvalidInput(f"part_number must be between 1 and {limit}")
        assert record.multipart_upload_id is not None
        url = await self.driver.presign_part(record.object_key, record.multipart_upload_id, part_number,
                                             expires=self.presign_seconds)
        return SignedPart(part_number, url, self.presign_expiry())

    async def list_parts(self, caller: Principal, session_id: str, kinds: tuple[str, ...] = ("v1",)
                         ) -> tuple[UploadSession, list[Any]]:
        """The session and the parts storage already holds, so a client can resume after a crash."""
        record = await self.get(caller, session_id, kinds)
        parts: list[Any] = []
        if record.status == "open" and record.multipart_upload_id:
            parts = await self.driver.list_parts(record.object_key, record.multipart_upload_id)
        return record, parts

    async def abort(self, caller: Principal, session_id: str, kinds: tuple[str, ...] = ("v1",)) -> UploadSession:
        async with self.db.transaction() as session:
            record = await self.owned(session, caller, session_id, lock=True, kinds=kinds)
            if record.status in ("completed", "verifying", "committed"):
                raise Conflict(f"The upload session is already {record.status}")
            if record.status == "open":
                if record.multipart_upload_id:
                    await self.driver.abort_multipart(record.object_key, record.multipart_upload_id)
                record.status = "aborted"
        await self.settle(caller)
        return record

    # --- v1 -----------------------------------------------------------------------------------------

    async def start(self, caller: Principal, image_id: str, total_bytes: int, content_type: str | None,
                    sha256: str | None = None) -> UploadSession:
        if not 0 <= total_bytes <= MAX_OBJECT_SIZE:
            raise InvalidInput("total_bytes is outside what storage accepts")
        item = await self.metadata.item(caller, image_id)
        if item.status != "upload_pending":
            raise Conflict("This image has already been uploaded")
        if item.size != total_bytes:
            raise InvalidInput(f"total_bytes ({total_bytes}) differs from the image's size_bytes ({item.size})")
        await self.settle(caller)
        session_id = new_session_id()
        expires_at = await self.reserve(caller, session_id, total_bytes)
        part_size = choose_part_size(total_bytes)
        record = UploadSession(
            id=session_id, kind="v1", owner_id=caller.user_id, item_id=item.item_id,
            object_key=object_key(caller.user_id, "v1", session_id, item.item_id),
            total_bytes=total_bytes, part_size=part_size, part_count=max(1, math.ceil(total_bytes / part_size)),
            content_type=content_type or item.content_type, sha256=sha256, status="open",
            reserved_bytes=total_bytes, reservation_open=True, expires_at=expires_at,
        )
        return await self.open_session(record, multipart=True)

    # --- completion ---------------------------------------------------------------------------------

    async def complete(self, caller: Principal, session_id: str, parts: list[tuple[int, str]],
                       kinds: tuple[str, ...] = ("v1",)) -> dict[str, Any]:
        """Assemble the parts, check the object against the declaration, and hand it to the library.

        Idempotent: the row lock makes a retried or concurrent complete wait, then answer the same.
        """
        failure: ShoeboxError | None = None
        async with self.db.transaction() as session:
            record = await self.owned(session, caller, session_id, lock=True, kinds=kinds)
            if record.status in ("completed", "verifying") and record.result is not None:
                return record.result
            self.check_open(record)
            wanted = self._completion(record, parts)
            info = await self._assemble(record, wanted)
            try:
                await self._accept(session, caller, record, info)
            except ShoeboxError as exc:
                await self.driver.delete(record.object_key)
                record.status, record.error = "failed", exc.message
                failure = exc
        if failure is not None:
            await self.settle(caller)
            raise failure
        assert record.result is not None
        return record.result

    @staticmethod
    def _completion(record: UploadSession, parts: list[tuple[int, str]]) -> list[tuple[int, str]]:
        if record.kind == "v1":
            assert record.part_count is not None
            numbers = [n for n, _ in parts]
            if sorted(numbers) != list(range(1, record.part_count + 1)):
                raise InvalidInput(f"parts must list part numbers 1 to {record.part_count}, each once")
            return sorted((n, normalise_etag(etag)) for n, etag in parts)
        wanted = check_completion(parts)
        limit = record.part_count or MAX_PART_NUMBER
        if wanted[-1][0] > limit:
            raise InvalidInput(f"part numbers go up to {limit} for the size declared")
        return wanted

    async def _assemble(self, record: UploadSession, parts: list[tuple[int, str]]) -> ObjectInfo:
        """Complete the multipart upload in storage. A complete whose answer was lost after storage had
        assembled the object finds no upload but the object: that is the same completion, retried."""
        assert record.multipart_upload_id is not None
        try:
            return await self.driver.complete_multipart(record.object_key, record.multipart_upload_id, parts)
        except InvalidInput as exc:
            if exc.code != "NoSuchUpload":
                raise
            info = await self.driver.head(record.object_key)
            if info is None:
                raise
            return info

    async def _accept(self, session: AsyncSession, caller: Principal, record: UploadSession,
                      info: ObjectInfo) -> None:
        """Check size (and SHA-256), make sure a library item exists, and emit upload.completed; raises
        (and the caller removes the object) when the object is not what was declared."""
        if record.total_bytes is not None and info.size != record.total_bytes:
            raise InvalidInput(f"The uploaded object has {info.size} bytes, but {record.total_bytes} were "
                               "declared; it was removed")
        if record.sha256 is not None:
            stored = await self.driver.stored_sha256(record.object_key)
            if stored is None:
                # Storage cannot vouch for the checksum (S3 keeps none for a multipart object): the
                # verifier reads it off the request path and finishes the session either way.
                record.status = "verifying"
                record.result = {**self.result(record, info.size), "status": "verifying"}
                return
            if stored != record.sha256:
                raise InvalidInput("The uploaded object's SHA-256 differs from the one declared; it was removed",
                                   code="CHECKSUM_MISMATCH")
        if record.item_id is None:
            await self._create_item(caller, record, info)
        await self.mark_completed(session, record, info.size)

    async def _create_item(self, caller: Principal, record: UploadSession, info: ObjectInfo) -> None:
        """An upload that came without a library item (the Uppy face) gets one now that its size is
        known; its bytes are held first, so a full quota refuses it before the item exists."""
        if not record.reservation_open:
            await self.metadata.reserve(caller, record.id, info.size)
            record.reserved_bytes, record.reservation_open = info.size, True
        record.item_id = await self.metadata.create_image(
            caller, record.filename or "upload", record.content_type or "application/octet-stream", info.size)

    def result(self, record: UploadSession, size: int) -> dict[str, Any]:
        return {"image_id": f"img_{record.item_id}", "session_id": record.id, "status": "stored",
                "original_object_key": record.object_key, "size_bytes": size}

    async def mark_completed(self, session: AsyncSession, record: UploadSession, size: int) -> None:
        assert record.item_id is not None
        record.status = "completed"
        record.completed_at = datetime.now(UTC)
        record.result = self.result(record, size)
        # metadata consumes the reservation named by upload_id when it applies this event.
        record.reservation_open = False
        await emit(session, BUS, UploadCompleted(
            upload_id=record.id, item_id=record.item_id, owner_id=record.owner_id, object_key=record.object_key,
            size=size, content_type=record.content_type, sha256=record.sha256,
        ))
