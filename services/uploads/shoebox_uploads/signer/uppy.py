"""Uploads for Uppy's `@uppy/aws-s3` in Companion mode, ending as library items.

Uppy names no library item and, by default, no size (its `metadata` is the file's meta fields: name and
type; an app adds `size` with one `setFileMeta` call). So:

- multipart (`POST /s3/multipart`): with a size, the bytes are held at once and part numbers bounded by
  it; without one, the quota is only checked for room. On complete the object's real size is known: it
  is held (refused with 426 past the quota, object removed), then the library item is created at
  metadata, and `upload.completed` marks it stored, as for the v1 face.
- single form upload (`GET /s3/params`): the browser POSTs straight to storage and never calls back,
  so the item and the hold are made up front, which needs the size; the finalizer notices the object
  in storage and emits `upload.completed`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shoebox_lib import keys
from shoebox_lib.errors import InvalidInput, NotFound
from shoebox_lib.storage.base import MAX_OBJECT_SIZE, MAX_PART_SIZE, PartInfo, PresignedPost
from shoebox_uploads.models import SessionStatus, UploadKind, UploadSession
from shoebox_uploads.signer.completion import DEFAULT_TYPE
from shoebox_uploads.signer.limits import check_part_numbers
from shoebox_uploads.signer.rules import max_parts, new_session_id
from shoebox_uploads.signer.sessions import SignedPart, Uploads

MULTIPART = (UploadKind.UPPY,)
DIGITS = re.compile(r"[0-9]{1,19}")
# Where a multipart upload waits for the item it becomes, below the owner's prefix.
FOLDER = "uppy"


def declared_size(metadata: dict[str, Any]) -> int | None:
    value = metadata.get("size")
    if value is None or value == "":
        return None
    # A JSON number, or ASCII digits as the query string sends it (`int` alone also reads "٣").
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and DIGITS.fullmatch(value):
        size = int(value)
    else:
        raise InvalidInput("metadata.size must be a whole number of bytes")
    if not 0 <= size <= MAX_OBJECT_SIZE:
        raise InvalidInput("metadata.size is outside what storage accepts")
    return size


def filename_of(filename: str | None, metadata: dict[str, Any]) -> str:
    name = (filename or str(metadata.get("name") or "") or "upload").strip()
    return name[:1024] or "upload"


@dataclass(frozen=True)
class FormUpload:
    post: PresignedPost
    expires_at: datetime
    seconds: int  # the form's lifetime


class UppyUploads:
    def __init__(self, uploads: Uploads) -> None:
        self.uploads = uploads

    @property
    def bucket(self) -> str:
        return self.uploads.driver.bucket

    @property
    def presign_seconds(self) -> int:
        return self.uploads.presign_seconds

    async def create(self, owner_id: int, filename: str | None, content_type: str | None,
                     metadata: dict[str, Any]) -> UploadSession:
        uploads = self.uploads
        size = declared_size(metadata)
        await uploads.check_open(owner_id)
        session_id = new_session_id()
        if size is None:
            await uploads.check_room(owner_id)
        return await uploads.open(UploadSession(
            id=session_id, kind=UploadKind.UPPY, owner_id=owner_id,
            object_key=keys.upload_object(owner_id, FOLDER, session_id), total_bytes=size, part_count=max_parts(size),
            content_type=content_type or DEFAULT_TYPE, filename=filename_of(filename, metadata),
            status=SessionStatus.OPEN, expires_at=uploads.lifetime(),
        ), hold=size)

    async def session(self, owner_id: int, upload_id: str, key: str) -> UploadSession:
        """The caller's session, whose key must be the one given (Uppy sends both back)."""
        record = await self.uploads.get(owner_id, upload_id, MULTIPART)
        if record.object_key != key:
            raise NotFound("Upload session not found")
        return record

    async def sign_part(self, owner_id: int, upload_id: str, key: str, part_number: int) -> SignedPart:
        return await self.uploads.sign_part(owner_id, upload_id, part_number, MULTIPART, key=key)

    async def sign_parts(self, owner_id: int, upload_id: str, key: str, part_numbers: list[int]) -> list[SignedPart]:
        """Companion's batch: each distinct part number once, within what one answer may sign."""
        numbers = list(dict.fromkeys(part_numbers))
        check_part_numbers(numbers)
        return await self.uploads.sign_parts(await self.session(owner_id, upload_id, key), numbers)

    async def list_parts(self, owner_id: int, upload_id: str, key: str) -> list[PartInfo]:
        await self.session(owner_id, upload_id, key)
        record, parts = await self.uploads.list_parts(owner_id, upload_id, MULTIPART)
        if record.status != SessionStatus.OPEN:
            raise InvalidInput(f"The upload is {record.status}")
        return parts

    async def complete(self, owner_id: int, upload_id: str, key: str, parts: list[tuple[int, str]]
                       ) -> UploadSession:
        await self.session(owner_id, upload_id, key)
        return await self.uploads.complete(owner_id, upload_id, parts, MULTIPART)

    async def abort(self, owner_id: int, upload_id: str, key: str) -> None:
        await self.session(owner_id, upload_id, key)
        await self.uploads.abort(owner_id, upload_id, MULTIPART)

    async def form(self, owner_id: int, filename: str | None, content_type: str | None,
                   metadata: dict[str, Any]) -> FormUpload:
        """A browser form upload of the declared size to a key of ours, the library item made first."""
        size = declared_size(metadata)
        if size is None:
            raise InvalidInput("A single-request upload needs the file's size: set the file's meta `size` "
                               "(uppy.setFileMeta(id, {size: file.size})) or use multipart")
        if size > MAX_PART_SIZE:
            raise InvalidInput("One request carries at most 5 GiB; use multipart")
        uploads = self.uploads
        await uploads.check_open(owner_id)
        session_id = new_session_id()
        content_type = content_type or DEFAULT_TYPE
        name = filename_of(filename, metadata)
        item_id = await uploads.library.new_item(owner_id, name, content_type, size)
        record = UploadSession(
            id=session_id, kind=UploadKind.UPPY_FORM, owner_id=owner_id, item_id=item_id,
            object_key=keys.item_original(owner_id, item_id, session_id), total_bytes=size,
            content_type=content_type, filename=name, status=SessionStatus.OPEN,
            expires_at=uploads.single_put_expiry(),
        )
        await uploads.record_held(record, size)
        seconds = uploads.url_seconds(record, uploads.single_put_seconds)
        post = await uploads.driver.presign_post(record.object_key, expires=seconds, content_length=size,
                                                 content_type=content_type)
        return FormUpload(post, record.expires_at, seconds)
