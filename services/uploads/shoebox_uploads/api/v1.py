"""The v1 face of the upload signer (seed 003): resumable uploads, one signed URL per part."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.ids import parse_image_id
from shoebox_lib.storage.base import MAX_PART_NUMBER
from shoebox_uploads.api.deps import UploadsDep
from shoebox_uploads.api.inputs import Bytes, ContentType, ETag, PartNumber, PartNumberInPath, SessionId
from shoebox_uploads.api.v1_answers import CompletedUpload, Session, SessionWithParts, SignedPartURL
from shoebox_uploads.models import SessionStatus

router = APIRouter(prefix="/v1/uploads", tags=["v1"])


class StartUpload(BaseModel):
    # Any text: what is not an image's id is nobody's image (404, `parse_image_id`), control characters too.
    image_id: str = Field(min_length=1, max_length=64)
    total_bytes: Bytes
    content_type: ContentType | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class CompletedPart(BaseModel):
    part_number: PartNumber
    etag: ETag


class CompleteUpload(BaseModel):
    parts: list[CompletedPart] = Field(min_length=1, max_length=MAX_PART_NUMBER)


VERIFYING: dict[int | str, dict[str, Any]] = {202: {"model": CompletedUpload,
                   "description": "Assembled; the declared SHA-256 is being checked (status `verifying`)"}}


@router.post(":resumable", status_code=201)
async def start(body: StartUpload, user: CurrentUser, uploads: UploadsDep) -> Session:
    # Parsed before anything is asked of metadata: an id that is not an image's is nobody's image.
    item_id = parse_image_id(body.image_id)
    record = await uploads.start(user.user_id, item_id, body.total_bytes, body.content_type, body.sha256)
    return Session.of(record)


@router.post("/{session_id}/parts/{part_number}")
async def sign_part(user: CurrentUser, uploads: UploadsDep, session_id: SessionId,
                    part_number: PartNumberInPath) -> SignedPartURL:
    return SignedPartURL.of(await uploads.sign_part(user.user_id, session_id, part_number))


@router.post("/{session_id}:complete", responses=VERIFYING)
async def complete(body: CompleteUpload, user: CurrentUser, uploads: UploadsDep, response: Response,
                   session_id: SessionId) -> CompletedUpload:
    """200 when stored; 202 with status `verifying` while a declared SHA-256 that storage could not vouch
    for is checked (poll GET /v1/uploads/{id} until `completed`, or `failed` with the object removed)."""
    record = await uploads.complete(user.user_id, session_id, [(p.part_number, p.etag) for p in body.parts])
    if record.status == SessionStatus.VERIFYING:
        response.status_code = 202
    return CompletedUpload.of(record)


@router.post("/{session_id}:abort")
async def abort(user: CurrentUser, uploads: UploadsDep, session_id: SessionId) -> Session:
    return Session.of(await uploads.abort(user.user_id, session_id))


@router.get("/{session_id}")
async def describe(user: CurrentUser, uploads: UploadsDep, session_id: SessionId) -> SessionWithParts:
    record, parts = await uploads.list_parts(user.user_id, session_id)
    return SessionWithParts.listing(record, parts)
