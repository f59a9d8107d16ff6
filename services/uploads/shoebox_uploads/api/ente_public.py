"""Uploads for guests of a public link (Ente's `/public-collection/…` upload routes): within the link's
limits, which the library checks when asked about the link (expired, revoked, locked, uploads allowed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query, Request

from shoebox_lib.storage.base import MAX_PART_NUMBER
from shoebox_uploads.api.deps import EnteDep
from shoebox_uploads.api.ente import render_multipart
from shoebox_uploads.ente import MAX_UPLOAD_URLS
from shoebox_uploads.metadata_client import MetadataClient, PublicLink

router = APIRouter(prefix="/public-collection", tags=["ente-public"])

AccessToken = Header(default=None, alias="X-Auth-Access-Token", max_length=200)
AccessJWT = Header(default=None, alias="X-Auth-Access-Token-JWT", max_length=2000)


async def _link(request: Request, token: str | None, access_jwt: str | None) -> PublicLink:
    metadata: MetadataClient = request.app.state.uploads.metadata
    return await metadata.link(token, access_jwt)


@router.get("/upload-urls")
async def upload_urls(request: Request, ente: EnteDep, count: int = Query(ge=1, le=MAX_UPLOAD_URLS),
                      token: str | None = AccessToken, access_jwt: str | None = AccessJWT) -> dict[str, Any]:
    urls = await ente.guest_upload_urls(await _link(request, token, access_jwt), count)
    return {"urls": [{"objectKey": u.object_key, "url": u.url} for u in urls]}


@router.get("/multipart-upload-urls")
async def multipart_upload_urls(request: Request, ente: EnteDep, count: int = Query(ge=1, le=MAX_PART_NUMBER),
                                token: str | None = AccessToken, access_jwt: str | None = AccessJWT
                                ) -> dict[str, Any]:
    urls = await ente.guest_multipart_urls(await _link(request, token, access_jwt), count)
    return {"urls": render_multipart(urls)}
