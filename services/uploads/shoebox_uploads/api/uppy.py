"""The Uppy face: the S3 routes `@uppy/aws-s3` calls on a Companion endpoint, with Companion's shapes.

Uppy's `uploadId` is our session id (opaque to it); `key` comes back in the query string and must be
the session's. Errors are `{message}` (Uppy v4/v5 show it; v6 shows the status text).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import InvalidInput
from shoebox_lib.ids import image_id
from shoebox_lib.storage.base import MAX_PART_NUMBER
from shoebox_lib.web.inputs import bounded_json, no_control_characters
from shoebox_uploads.api.deps import PublicUrlDep, UppyDep
from shoebox_uploads.api.inputs import ContentType, ETag, Filename, KeyInQuery, PartNumber, PartNumberInPath, SessionId
from shoebox_uploads.api.uppy_answers import (
    CreatedUpload,
    Empty,
    FormParams,
    ListedPart,
    SignedBatch,
    UppyCompleted,
    UppyPartURL,
)

router = APIRouter(prefix="/s3", tags=["uppy"])

# Uppy sends the file's meta fields: `{name, type}` (and `relativePath`), plus what the app adds (`size`, a
# caption…): a few hundred bytes. 8 KiB leaves a long name in any script room, and nothing more.
MAX_METADATA = 8 * 1024
MAX_META_KEY = 200
# Comma-separated part numbers, ASCII digits only (`int` also reads "٣").
PART_NUMBERS = re.compile(r"[0-9]{1,5}(?:,[0-9]{1,5})*")


def _texts_clean(value: Any) -> Any:
    """Every string in the metadata, keys included, is text a person could have typed."""
    if isinstance(value, str):
        no_control_characters(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _texts_clean(key)
            _texts_clean(item)
    elif isinstance(value, list):
        for item in value:
            _texts_clean(item)
    return value


MetaKey = Annotated[str, Field(min_length=1, max_length=MAX_META_KEY)]
Metadata = Annotated[dict[MetaKey, Any], bounded_json(MAX_METADATA), AfterValidator(_texts_clean)]
METADATA = TypeAdapter(Metadata)


class CreateMultipart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    filename: Filename | None = None
    type: ContentType | None = None
    metadata: Metadata = Field(default_factory=dict)


class UppyPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    PartNumber: PartNumber
    ETag: ETag


class CompleteMultipart(BaseModel):
    parts: list[UppyPart] = Field(min_length=1, max_length=MAX_PART_NUMBER)


def query_metadata(request: Request) -> dict[str, Any]:
    """`/s3/params` sends the metadata as `metadata[name]=value` pairs, bounded like the JSON one."""
    pairs = {k[len("metadata["):-1]: v for k, v in request.query_params.multi_items()
             if k.startswith("metadata[") and k.endswith("]")}
    try:
        return METADATA.validate_python(pairs)
    except ValidationError as invalid:
        raise InvalidInput(f"metadata: {invalid.errors()[0]['msg']}") from None


@router.post("/multipart")
async def create(body: CreateMultipart, user: CurrentUser, uppy: UppyDep) -> CreatedUpload:
    record = await uppy.create(user.user_id, body.filename, body.type, body.metadata)
    return CreatedUpload(key=record.object_key, uploadId=record.id, bucket=uppy.bucket)


@router.get("/multipart/{upload_id}/batch")
async def sign_batch(user: CurrentUser, uppy: UppyDep, upload_id: SessionId, key: KeyInQuery,
                     partNumbers: Annotated[str, Query(min_length=1, max_length=60_000)]) -> SignedBatch:
    if not PART_NUMBERS.fullmatch(partNumbers):
        raise InvalidInput("partNumbers must be comma-separated numbers")
    signed = await uppy.sign_parts(user.user_id, upload_id, key, [int(n) for n in partNumbers.split(",")])
    return SignedBatch(presignedUrls={str(s.part_number): s.url for s in signed})


@router.get("/multipart/{upload_id}/{part_number}")
async def sign_part(user: CurrentUser, uppy: UppyDep, upload_id: SessionId, part_number: PartNumberInPath,
                    key: KeyInQuery) -> UppyPartURL:
    signed = await uppy.sign_part(user.user_id, upload_id, key, part_number)
    return UppyPartURL(url=signed.url, method="PUT", expires=signed.seconds)


@router.get("/multipart/{upload_id}")
async def list_parts(user: CurrentUser, uppy: UppyDep, upload_id: SessionId, key: KeyInQuery) -> list[ListedPart]:
    # A bare array, as Companion answers.
    return [ListedPart.of(p) for p in await uppy.list_parts(user.user_id, upload_id, key)]


@router.post("/multipart/{upload_id}/complete")
async def complete(body: CompleteMultipart, user: CurrentUser, uppy: UppyDep, public_url: PublicUrlDep,
                   upload_id: SessionId, key: KeyInQuery) -> UppyCompleted:
    record = await uppy.complete(user.user_id, upload_id, key, [(p.PartNumber, p.ETag) for p in body.parts])
    assert record.item_id is not None
    # The library item is what the upload became; its v1 address is where it can be found.
    image = image_id(record.item_id)
    return UppyCompleted(location=f"{public_url}/v1/images/{image}", key=key, bucket=uppy.bucket, imageId=image)


@router.delete("/multipart/{upload_id}")
async def abort(user: CurrentUser, uppy: UppyDep, upload_id: SessionId, key: KeyInQuery) -> Empty:
    await uppy.abort(user.user_id, upload_id, key)
    return Empty()


@router.get("/params")
async def params(request: Request, user: CurrentUser, uppy: UppyDep,
                 filename: Annotated[Filename | None, Query()] = None,
                 type: Annotated[ContentType | None, Query()] = None) -> FormParams:
    form = await uppy.form(user.user_id, filename, type, query_metadata(request))
    return FormParams(method="POST", url=form.post.url, fields=form.post.fields, expires=form.seconds)
