"""What the v1 face of the upload signer answers (seed 003), in snake_case, times in epoch milliseconds."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from shoebox_lib.ids import image_id
from shoebox_lib.storage.base import PartInfo
from shoebox_uploads.models import SessionStatus, UploadSession
from shoebox_uploads.signer.sessions import SignedPart


class Stored(StrEnum):
    """What a complete answers: the image stored, or still being checked against its SHA-256."""

    STORED = "stored"
    VERIFYING = "verifying"


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def status_of(record: UploadSession) -> SessionStatus:
    # A session being completed still shows as open, as it did before completing became a status.
    return SessionStatus.OPEN if record.status == SessionStatus.COMPLETING else record.status


class Session(BaseModel):
    session_id: str
    image_id: str
    object_key: str
    upload_strategy: Literal["multipart"]
    multipart_upload_id: str | None
    part_size_bytes: int | None
    part_count: int | None
    total_bytes: int | None
    status: SessionStatus
    error: str | None
    expires_at_ms: int

    @classmethod
    def of(cls, record: UploadSession) -> Session:
        assert record.item_id is not None
        return cls(session_id=record.id, image_id=image_id(record.item_id), object_key=record.object_key,
                   upload_strategy="multipart", multipart_upload_id=record.multipart_upload_id,
                   part_size_bytes=record.part_size, part_count=record.part_count, total_bytes=record.total_bytes,
                   status=status_of(record), error=record.error, expires_at_ms=ms(record.expires_at))


class UploadedPart(BaseModel):
    part_number: int
    etag: str
    size_bytes: int


class SessionWithParts(Session):
    """A session and the parts storage already holds, so a client can resume."""

    parts: list[UploadedPart]

    @classmethod
    def listing(cls, record: UploadSession, parts: list[PartInfo]) -> SessionWithParts:
        listed = [UploadedPart(part_number=p.part_number, etag=p.etag, size_bytes=p.size) for p in parts]
        return cls(**Session.of(record).model_dump(), parts=listed)


class SignedPartURL(BaseModel):
    part_number: int
    url: str
    method: Literal["PUT"]
    expires_at_ms: int

    @classmethod
    def of(cls, signed: SignedPart) -> SignedPartURL:
        return cls(part_number=signed.part_number, url=signed.url, method="PUT", expires_at_ms=ms(signed.expires_at))


class CompletedUpload(BaseModel):
    """200 `stored`, or 202 `verifying` while a declared SHA-256 is checked off the request path."""

    image_id: str
    session_id: str
    status: Stored
    original_object_key: str
    size_bytes: int | None

    @classmethod
    def of(cls, record: UploadSession) -> CompletedUpload:
        assert record.item_id is not None
        status = Stored.VERIFYING if record.status == SessionStatus.VERIFYING else Stored.STORED
        return cls(image_id=image_id(record.item_id), session_id=record.id, status=status,
                   original_object_key=record.object_key, size_bytes=record.size_bytes)
