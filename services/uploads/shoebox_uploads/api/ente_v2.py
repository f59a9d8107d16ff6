"""Ente's V2 upload routes: the length and every Content-MD5 are signed into the URLs, the bytes held."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.storage.base import MAX_PART_NUMBER
from shoebox_uploads.api.deps import EnteDep
from shoebox_uploads.api.ente import render_multipart, render_url

router = APIRouter(prefix="/files", tags=["ente"])


class UploadURLRequest(BaseModel):
    contentLength: int = Field(ge=1)
    contentMD5: str = Field(min_length=1, max_length=64)


class MultipartUploadURLRequest(BaseModel):
    contentLength: int = Field(ge=1)
    partLength: int = Field(ge=1)
    partMd5s: list[str] = Field(min_length=1, max_length=MAX_PART_NUMBER)


@router.post("/upload-url")
async def upload_url(body: UploadURLRequest, user: CurrentUser, ente: EnteDep) -> dict[str, Any]:
    return render_url(await ente.upload_url(user.user_id, body.contentLength, body.contentMD5))


@router.post("/multipart-upload-url")
async def multipart_upload_url(body: MultipartUploadURLRequest, user: CurrentUser, ente: EnteDep) -> dict[str, Any]:
    # The real server answers V2 with the object itself, not wrapped in {"urls": …}.
    return render_multipart(await ente.multipart_url(user.user_id, body.contentLength, body.partLength,
                                                     body.partMd5s))
