"""Ente's V2 upload routes: the length and every Content-MD5 are signed into the URLs, the bytes held."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.storage.base import MAX_PART_NUMBER
from shoebox_lib.web.inputs import Text
from shoebox_uploads.api.deps import EnteDep
from shoebox_uploads.api.ente_answers import MultipartObject, ObjectURL
from shoebox_uploads.api.inputs import PositiveBytes

router = APIRouter(prefix="/files", tags=["ente"])

# Base64 (24 characters) or hex (32) of 16 bytes; `content_md5` reads either.
MD5 = Annotated[Text, Field(min_length=1, max_length=64)]


class UploadURLRequest(BaseModel):
    contentLength: PositiveBytes
    contentMD5: MD5


class MultipartUploadURLRequest(BaseModel):
    contentLength: PositiveBytes
    partLength: PositiveBytes
    partMd5s: list[MD5] = Field(min_length=1, max_length=MAX_PART_NUMBER)


@router.post("/upload-url")
async def upload_url(body: UploadURLRequest, user: CurrentUser, ente: EnteDep) -> ObjectURL:
    return ObjectURL.of(await ente.upload_url(user.user_id, body.contentLength, body.contentMD5))


@router.post("/multipart-upload-url")
async def multipart_upload_url(body: MultipartUploadURLRequest, user: CurrentUser, ente: EnteDep) -> MultipartObject:
    # The real server answers V2 with the object itself, not wrapped in {"urls": …}.
    return MultipartObject.of(await ente.multipart_url(user.user_id, body.contentLength, body.partLength,
                                                       body.partMd5s))
