"""The upload signer's core: resumable multipart sessions. Bytes go straight to storage; we only sign
URLs, and on completion check what storage holds against what the client declared."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, Gone, InvalidInput, NotFound
from shoebox_lib.events import UploadCompleted
from shoebox_lib.storage import PartInfo, Storage
from shoebox_lib.storage.base import MAX_OBJECT_SIZE, MAX_PART_NUMBER, MIN_PART_SIZE, normalise_etag
from shoebox_uploads.metadata_client import MetadataClient
from shoebox_uploads.models import BUS, UploadSession

DEFAULT_PART_SIZE = 8 * 1024 * 1024
SESSION_LIFETIME = timedelta(hours=24)


def choose_part_size(total_bytes: int) -> int:
    """8 MiB parts, doubled until the object fits in S3's 10,000 parts."""
    size = max(DEFAULT_PART_SIZE, MIN_PART_SIZE)
    while math.ceil(total_bytes / size) > MAX_PART_NUMBER:
        size *= 2
    return size


def object_key(owner_id: int, item_id: int) -> str:
    """Chosen by the server, under the owner's prefix; fresh per session so a retry never collides."""
    return f"u/{owner_id}/i/{item_id}/{secrets.token_hex(8)}/original"


@dataclass(frozen=True)
class SignedPart:
    part_number: int
    url: str
    expires_at: datetime


class Uploads:
    def __init__(self, db: Database, storage: Storage, metadata: MetadataClient, presign_seconds: int) -> None:
        self.db = db
        self.storage = storage
        self.metadata = metadata
        self.presign_seconds = presign_seconds

    async def start(self, caller: Principal, image_id: str, total_bytes: int, content_type: str | None,
                    sha256: str | None = None) -> UploadSession:
        if not 0 <= total_bytes <= MAX_OBJECT_SIZE:
            raise InvalidInput("total_bytes is outside what storage accepts")
        item = await self.metadata.item(caller, image_id)
        if item.status != "upload_pending":
            raise Conflict("This image has already been uploaded")
        if item.size != total_bytes:
            raise InvalidInput(f"total_bytes ({total_bytes}) differs from the image's size_bytes ({item.size})")
        key = object_key(caller.user_id, item.item_id)
        content_type = content_type or item.content_type
        upload_id = await self.storage.primary.create_multipart(key, content_type=content_type)
        part_size = choose_part_size(total_bytes)
        async with self.db.transaction() as session:
            record = UploadSession(
                id="up_" + secrets.token_urlsafe(16), owner_id=caller.user_id, item_id=item.item_id,
                object_key=key, multipart_upload_id=upload_id, total_bytes=total_bytes, part_size=part_size,
                part_count=max(1, math.ceil(total_bytes / part_size)), content_type=content_type, sha256=sha256,
                status="open", expires_at=datetime.now(UTC) + SESSION_LIFETIME,
            )
            session.add(record)
        return record

    async def _owned(self, session: AsyncSession, caller: Principal, session_id: str, *, lock: bool = False
                     ) -> UploadSession:
        record = await session.get(UploadSession, session_id, with_for_update=lock)
        if record is None or record.owner_id != caller.user_id:
            raise NotFound("Upload session not found")
        return record

    @staticmethod
    def _check_open(record: UploadSession) -> None:
        if record.status != "open":
            raise Conflict(f"The upload session is {record.status}")
        if record.expires_at <= datetime.now(UTC):
            raise Gone("The upload session has expired")

    async def sign_part(self, caller: Principal, session_id: str, part_number: int) -> SignedPart:
        async with self.db.transaction() as session:
            record = await self._owned(session, caller, session_id)
        self._check_open(record)
        if not 1 <= part_number <= record.part_count:
            raise InvalidInput(f"part_number must be between 1 and {record.part_count}")
        url = await self.storage.primary.presign_part(record.object_key, record.multipart_upload_id, part_number,
                                                      expires=self.presign_seconds)
        return SignedPart(part_number, url, datetime.now(UTC) + timedelta(seconds=self.presign_seconds))

    async def describe(self, caller: Principal, session_id: str) -> tuple[UploadSession, list[PartInfo]]:
        """The session and the parts storage already holds, so a client can resume after a crash."""
        async with self.db.transaction() as session:
            record = await self._owned(session, caller, session_id)
        parts: list[PartInfo] = []
        if record.status == "open":
            parts = await self.storage.primary.list_parts(record.object_key, record.multipart_upload_id)
        return record, parts

    async def abort(self, caller: Principal, session_id: str) -> UploadSession:
        async with self.db.transaction() as session:
            record = await self._owned(session, caller, session_id, lock=True)
            if record.status == "completed":
                raise Conflict("The upload session is already completed")
            if record.status == "open":
                await self.storage.primary.abort_multipart(record.object_key, record.multipart_upload_id)
                record.status = "aborted"
        return record

    async def complete(self, caller: Principal, session_id: str, parts: list[tuple[int, str]]) -> dict[str, Any]:
        failure: InvalidInput | None = None
        async with self.db.transaction() as session:
            # The row lock makes a retried or concurrent complete wait, then answer the same.
            record = await self._owned(session, caller, session_id, lock=True)
            if record.status == "completed" and record.result is not None:
                return record.result
            self._check_open(record)
            numbers = [n for n, _ in parts]
            if sorted(numbers) != list(range(1, record.part_count + 1)):
                raise InvalidInput(f"parts must list part numbers 1 to {record.part_count}, each once")
            ordered = sorted((n, normalise_etag(etag)) for n, etag in parts)
            driver = self.storage.primary
            info = await driver.complete_multipart(record.object_key, record.multipart_upload_id, ordered)
            if info.size != record.total_bytes:
                await driver.delete(record.object_key)
                record.status = "failed"
                failure = InvalidInput(
                    f"The uploaded object has {info.size} bytes, but {record.total_bytes} were declared; "
                    "it was removed"
                )
            else:
                record.status = "completed"
                record.completed_at = datetime.now(UTC)
                record.result = {
                    "image_id": f"img_{record.item_id}", "session_id": record.id, "status": "stored",
                    "original_object_key": record.object_key, "size_bytes": info.size,
                }
                await emit(session, BUS, UploadCompleted(
                    upload_id=record.id, item_id=record.item_id, owner_id=record.owner_id,
                    object_key=record.object_key, size=info.size, content_type=record.content_type,
                    sha256=record.sha256,
                ))
        if failure is not None:
            raise failure
        assert record.result is not None
        return record.result
