"""The v1 face of the upload signer (seed 003): resumable uploads, one signed URL per part."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.ids import image_id, parse_image_id
from shoebox_lib.storage.base import MAX_PART_NUMBER, MIN_PART_NUMBER
from shoebox_uploads.api.deps import UploadsDep
from shoebox_uploads.models import SessionStatus, UploadSession

router = APIRouter(prefix="/v1/uploads", tags=["v1"])


def ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


class StartUpload(BaseModel):
    image_id: str = Field(min_length=1, max_length=64)
    total_bytes: int = Field(ge=0)
    content_type: str | None = Field(default=None, max_length=255)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class CompletedPart(BaseModel):
    part_number: int = Field(ge=MIN_PART_NUMBER, le=MAX_PART_NUMBER)
    etag: str = Field(min_length=1, max_length=200)


class CompleteUpload(BaseModel):
    parts: list[CompletedPart] = Field(min_length=1, max_length=MAX_PART_NUMBER)


def status_of(record: UploadSession) -> str:
    # A session being completed still shows as open, as it did before completing became a status.
    return SessionStatus.OPEN.value if record.status == SessionStatus.COMPLETING else record.status.value


def render(record: UploadSession) -> dict[str, Any]:
    assert record.item_id is not None
    return {
        "session_id": record.id,
        "image_id": image_id(record.item_id),
        "object_key": record.object_key,
        "upload_strategy": "multipart",
        "multipart_upload_id": record.multipart_upload_id,
        "part_size_bytes": record.part_size,
        "part_count": record.part_count,
        "total_bytes": record.total_bytes,
        "status": status_of(record),
        "error": record.error,
        "expires_at_ms": ms(record.expires_at),
    }


def render_completed(record: UploadSession) -> dict[str, Any]:
    """What a complete answers: the image stored, or still `verifying` its SHA-256."""
    assert record.item_id is not None
    verifying = record.status == SessionStatus.VERIFYING
    return {"image_id": image_id(record.item_id), "session_id": record.id,
            "status": "verifying" if verifying else "stored", "original_object_key": record.object_key,
            "size_bytes": record.size_bytes}


SessionId = Path(min_length=1, max_length=64)
PartNumber = Path(ge=MIN_PART_NUMBER, le=MAX_PART_NUMBER)


@router.post(":resumable", status_code=201)
async def start(body: StartUpload, user: CurrentUser, uploads: UploadsDep) -> dict[str, Any]:
    # Parsed before anything is asked of metadata: an id that is not an image's is nobody's image.
    item_id = parse_image_id(body.image_id)
    record = await uploads.start(user.user_id, item_id, body.total_bytes, body.content_type, body.sha256)
    return render(record)


@router.post("/{session_id}/parts/{part_number}")
async def sign_part(user: CurrentUser, uploads: UploadsDep, session_id: str = SessionId,
                    part_number: int = PartNumber) -> dict[str, Any]:
    signed = await uploads.sign_part(user.user_id, session_id, part_number)
    return {"part_number": signed.part_number, "url": signed.url, "method": "PUT",
            "expires_at_ms": ms(signed.expires_at)}


@router.post("/{session_id}:complete")
async def complete(body: CompleteUpload, user: CurrentUser, uploads: UploadsDep, response: Response,
                   session_id: str = SessionId) -> dict[str, Any]:
    """200 when stored; 202 with status `verifying` while a declared SHA-256 that storage could not vouch
    for is checked (poll GET /v1/uploads/{id} until `completed`, or `failed` with the object removed)."""
    record = await uploads.complete(user.user_id, session_id, [(p.part_number, p.etag) for p in body.parts])
    if record.status == SessionStatus.VERIFYING:
        response.status_code = 202
    return render_completed(record)


@router.post("/{session_id}:abort")
async def abort(user: CurrentUser, uploads: UploadsDep, session_id: str = SessionId) -> dict[str, Any]:
    return render(await uploads.abort(user.user_id, session_id))


@router.get("/{session_id}")
async def describe(user: CurrentUser, uploads: UploadsDep, session_id: str = SessionId) -> dict[str, Any]:
    record, parts = await uploads.list_parts(user.user_id, session_id)
    return {**render(record), "parts": [
        {"part_number": p.part_number, "etag": p.etag, "size_bytes": p.size} for p in parts
    ]}
