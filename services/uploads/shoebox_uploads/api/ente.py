"""The Ente face of the upload signer: what the real Ente clients call, plus seed 000's completion route.

`GET /files/multipart-upload-urls?count=N` is one object in N parts, as the real clients expect; seed
000's reading (N objects of `parts` parts each) answers when `parts` is given. Field names of both are
in every answer (`partURLs`/`completeURL` and the seed's `partUrls`/`completeUrl`/`uploadId`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.storage.base import MAX_PART_NUMBER
from shoebox_uploads.api.deps import EnteDep
from shoebox_uploads.models import UploadSession
from shoebox_uploads.signer.ente import MAX_UPLOAD_URLS, MultipartURLs, UploadURL

router = APIRouter(prefix="/files", tags=["ente"])


def render_url(url: UploadURL) -> dict[str, Any]:
    return {"objectKey": url.object_key, "url": url.url}


def render_multipart(urls: MultipartURLs) -> dict[str, Any]:
    return {"objectKey": urls.object_key, "partURLs": urls.part_urls, "completeURL": urls.complete_url,
            "uploadId": urls.upload_id, "partUrls": urls.part_urls, "completeUrl": urls.complete_url}


def render_completed(record: UploadSession) -> dict[str, Any]:
    return {"objectKey": record.object_key, "uploadId": record.id, "size": record.size_bytes, "etag": record.etag}


@router.get("/upload-urls")
async def upload_urls(user: CurrentUser, ente: EnteDep,
                      count: int = Query(ge=1, le=MAX_UPLOAD_URLS)) -> dict[str, Any]:
    return {"urls": [render_url(u) for u in await ente.upload_urls(user.user_id, count)]}


@router.get("/multipart-upload-urls")
async def multipart_upload_urls(user: CurrentUser, ente: EnteDep,
                                count: int = Query(ge=1, le=MAX_PART_NUMBER),
                                parts: int | None = Query(default=None, ge=1, le=MAX_PART_NUMBER)
                                ) -> dict[str, Any]:
    if parts is None:
        return {"urls": render_multipart(await ente.multipart_urls(user.user_id, count))}
    objects = min(count, MAX_UPLOAD_URLS)
    return {"urls": [render_multipart(await ente.multipart_urls(user.user_id, parts)) for _ in range(objects)]}


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    part_number: int = Field(validation_alias=AliasChoices("partNumber", "PartNumber", "part_number"))
    etag: str = Field(min_length=1, max_length=200, validation_alias=AliasChoices("eTag", "etag", "ETag"))


class MultipartComplete(BaseModel):
    model_config = ConfigDict(extra="ignore")
    object_key: str = Field(min_length=1, max_length=1024,
                            validation_alias=AliasChoices("objectKey", "object_key", "key"))
    parts: list[CompletedPart] = Field(min_length=1, max_length=MAX_PART_NUMBER)


@router.post("/multipart-complete")
async def multipart_complete(body: MultipartComplete, user: CurrentUser, ente: EnteDep) -> dict[str, Any]:
    record = await ente.complete(user.user_id, body.object_key, [(p.part_number, p.etag) for p in body.parts])
    return render_completed(record)
