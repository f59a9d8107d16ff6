"""The Ente face of the upload signer: what the real Ente clients call, plus seed 000's completion route.

`GET /files/multipart-upload-urls?count=N` is one object in N parts, as the real clients expect; seed
000's reading (N objects of `parts` parts each) answers when `parts` is given, within the part URLs one
answer may sign (`signer.limits`). Field names of both are in every answer (`partURLs`/`completeURL` and
the seed's `partUrls`/`completeUrl`/`uploadId`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.storage.base import MAX_PART_NUMBER
from shoebox_uploads.api.deps import EnteDep
from shoebox_uploads.api.ente_answers import (
    CompletedObject,
    MultipartAnswer,
    MultipartObject,
    ObjectURLs,
    SeedMultipartAnswer,
)
from shoebox_uploads.api.inputs import ETag, ObjectKey, PartNumber
from shoebox_uploads.signer.limits import MAX_UPLOAD_URLS

router = APIRouter(prefix="/files", tags=["ente"])

UrlCount = Annotated[int, Query(ge=1, le=MAX_UPLOAD_URLS)]
PartCount = Annotated[int, Query(ge=1, le=MAX_PART_NUMBER)]
SeedPartCount = Annotated[int | None, Query(ge=1, le=MAX_PART_NUMBER)]


@router.get("/upload-urls")
async def upload_urls(user: CurrentUser, ente: EnteDep, count: UrlCount) -> ObjectURLs:
    return ObjectURLs.of(await ente.upload_urls(user.user_id, count))


@router.get("/multipart-upload-urls")
async def multipart_upload_urls(user: CurrentUser, ente: EnteDep, count: PartCount, parts: SeedPartCount = None
                                ) -> MultipartAnswer | SeedMultipartAnswer:
    if parts is None:
        return MultipartAnswer(urls=MultipartObject.of(await ente.multipart_urls(user.user_id, count)))
    signed = await ente.seed_multipart_urls(user.user_id, count, parts)
    return SeedMultipartAnswer(urls=[MultipartObject.of(u) for u in signed])


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    part_number: PartNumber = Field(validation_alias=AliasChoices("partNumber", "PartNumber", "part_number"))
    etag: ETag = Field(validation_alias=AliasChoices("eTag", "etag", "ETag"))


class MultipartComplete(BaseModel):
    model_config = ConfigDict(extra="ignore")
    object_key: ObjectKey = Field(validation_alias=AliasChoices("objectKey", "object_key", "key"))
    parts: list[CompletedPart] = Field(min_length=1, max_length=MAX_PART_NUMBER)


@router.post("/multipart-complete")
async def multipart_complete(body: MultipartComplete, user: CurrentUser, ente: EnteDep) -> CompletedObject:
    record = await ente.complete(user.user_id, body.object_key, [(p.part_number, p.etag) for p in body.parts])
    return CompletedObject.of(record)
