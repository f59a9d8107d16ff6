"""Uploads for guests of a public link (Ente's `/public-collection/…` upload routes): within the link's
limits, which the library checks when asked about the link (expired, revoked, locked, uploads allowed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query

from shoebox_lib.storage.base import MAX_PART_NUMBER
from shoebox_uploads.api.deps import EnteDep
from shoebox_uploads.api.ente import render_multipart, render_url
from shoebox_uploads.signer.ente import MAX_UPLOAD_URLS

router = APIRouter(prefix="/public-collection", tags=["ente-public"])

AccessToken = Header(default=None, alias="X-Auth-Access-Token", max_length=200)
AccessJWT = Header(default=None, alias="X-Auth-Access-Token-JWT", max_length=2000)


@router.get("/upload-urls")
async def upload_urls(ente: EnteDep, count: int = Query(ge=1, le=MAX_UPLOAD_URLS),
                      token: str | None = AccessToken, access_jwt: str | None = AccessJWT) -> dict[str, Any]:
    guest = await ente.guest(token, access_jwt)
    return {"urls": [render_url(u) for u in await ente.guest_upload_urls(guest, count)]}


@router.get("/multipart-upload-urls")
async def multipart_upload_urls(ente: EnteDep, count: int = Query(ge=1, le=MAX_PART_NUMBER),
                                token: str | None = AccessToken, access_jwt: str | None = AccessJWT
                                ) -> dict[str, Any]:
    guest = await ente.guest(token, access_jwt)
    return {"urls": render_multipart(await ente.guest_multipart_urls(guest, count))}
