"""The Uppy face: the S3 routes `@uppy/aws-s3` calls on a Companion endpoint, with Companion's shapes.

Uppy's `uploadId` is our session id (opaque to it); `key` comes back in the query string and must be
the session's. Errors are `{message}` (Uppy v4/v5 show it; v6 shows the status text).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import InvalidInput
from shoebox_lib.ids import image_id
from shoebox_lib.storage.base import MAX_PART_NUMBER, MIN_PART_NUMBER
from shoebox_uploads.api.deps import PublicUrlDep, UppyDep

router = APIRouter(prefix="/s3", tags=["uppy"])

UploadId = Path(min_length=1, max_length=64)
PartNumber = Path(ge=MIN_PART_NUMBER, le=MAX_PART_NUMBER)
Key = Query(min_length=1, max_length=1024)


class CreateMultipart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    filename: str | None = Field(default=None, max_length=1024)
    type: str | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] = Field(default_factory=dict)


class UppyPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    PartNumber: int
    ETag: str = Field(min_length=1, max_length=200)


class CompleteMultipart(BaseModel):
    parts: list[UppyPart] = Field(min_length=1, max_length=MAX_PART_NUMBER)


@router.post("/multipart")
async def create(body: CreateMultipart, user: CurrentUser, uppy: UppyDep) -> dict[str, Any]:
    record = await uppy.create(user.user_id, body.filename, body.type, body.metadata)
    return {"key": record.object_key, "uploadId": record.id, "bucket": uppy.bucket}


@router.get("/multipart/{upload_id}/batch")
async def sign_batch(user: CurrentUser, uppy: UppyDep, upload_id: str = UploadId, key: str = Key,
                     partNumbers: str = Query(min_length=1, max_length=60_000)) -> dict[str, Any]:
    try:
        numbers = [int(n) for n in partNumbers.split(",")]
    except ValueError:
        raise InvalidInput("partNumbers must be comma-separated numbers") from None
    urls = {str(n): (await uppy.sign_part(user.user_id, upload_id, key, n)).url for n in numbers}
    return {"presignedUrls": urls}


@router.get("/multipart/{upload_id}/{part_number}")
async def sign_part(user: CurrentUser, uppy: UppyDep, upload_id: str = UploadId, part_number: int = PartNumber,
                    key: str = Key) -> dict[str, Any]:
    signed = await uppy.sign_part(user.user_id, upload_id, key, part_number)
    return {"url": signed.url, "method": "PUT", "expires": uppy.presign_seconds}


@router.get("/multipart/{upload_id}")
async def list_parts(user: CurrentUser, uppy: UppyDep, upload_id: str = UploadId, key: str = Key
                     ) -> list[dict[str, Any]]:
    # A bare array, PartNumber a number (v4/v5 compare it with ===), ETag quoted as S3 lists it.
    return [{"PartNumber": p.part_number, "ETag": f'"{p.etag}"', "Size": p.size}
            for p in await uppy.list_parts(user.user_id, upload_id, key)]


@router.post("/multipart/{upload_id}/complete")
async def complete(body: CompleteMultipart, user: CurrentUser, uppy: UppyDep, public_url: PublicUrlDep,
                   upload_id: str = UploadId, key: str = Key) -> dict[str, Any]:
    record = await uppy.complete(user.user_id, upload_id, key, [(p.PartNumber, p.ETag) for p in body.parts])
    assert record.item_id is not None
    # The library item is what the upload became; its v1 address is where it can be found.
    image = image_id(record.item_id)
    return {"location": f"{public_url}/v1/images/{image}", "key": key, "bucket": uppy.bucket, "imageId": image}


@router.delete("/multipart/{upload_id}")
async def abort(user: CurrentUser, uppy: UppyDep, upload_id: str = UploadId, key: str = Key) -> dict[str, Any]:
    await uppy.abort(user.user_id, upload_id, key)
    return {}  # v4/v5 parse the body as JSON


@router.get("/params")
async def params(request: Request, user: CurrentUser, uppy: UppyDep,
                 filename: str | None = Query(default=None, max_length=1024),
                 type: str | None = Query(default=None, max_length=255)) -> dict[str, Any]:
    # metadata arrives as metadata[name]=value pairs.
    metadata = {k[len("metadata["):-1]: v for k, v in request.query_params.items()
                if k.startswith("metadata[") and k.endswith("]")}
    form = await uppy.form(user.user_id, filename, type, metadata)
    return {"method": "POST", "url": form.post.url, "fields": form.post.fields, "expires": uppy.presign_seconds}
