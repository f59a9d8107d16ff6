"""Uploads for guests of a public link (Ente's `/public-collection/…` upload routes): within the link's
limits, which the library checks when asked about the link (expired, revoked, locked, uploads allowed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from shoebox_lib.web.inputs import Text
from shoebox_uploads.api.deps import EnteDep
from shoebox_uploads.api.ente import PartCount, UrlCount
from shoebox_uploads.api.ente_answers import MultipartAnswer, MultipartObject, ObjectURLs

router = APIRouter(prefix="/public-collection", tags=["ente-public"])

AccessToken = Annotated[Text | None, Header(alias="X-Auth-Access-Token", max_length=200)]
AccessJWT = Annotated[Text | None, Header(alias="X-Auth-Access-Token-JWT", max_length=2000)]


@router.get("/upload-urls")
async def upload_urls(ente: EnteDep, count: UrlCount, token: AccessToken = None, access_jwt: AccessJWT = None
                      ) -> ObjectURLs:
    guest = await ente.guest(token, access_jwt)
    return ObjectURLs.of(await ente.guest_upload_urls(guest, count))


@router.get("/multipart-upload-urls")
async def multipart_upload_urls(ente: EnteDep, count: PartCount, token: AccessToken = None,
                                access_jwt: AccessJWT = None) -> MultipartAnswer:
    guest = await ente.guest(token, access_jwt)
    return MultipartAnswer(urls=MultipartObject.of(await ente.guest_multipart_urls(guest, count)))
