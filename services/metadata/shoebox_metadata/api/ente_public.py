"""Public links: the owner's `/collections/share-url` and the viewer's `/public-collection/…` (Ente)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import RedirectResponse
from pydantic import Field

from shoebox_lib.auth import CurrentUser
from shoebox_metadata.api.deps import LinksDep
from shoebox_metadata.api.ente_shapes import Strict, render_collection, render_link, render_membership
from shoebox_metadata.kinds import Role
from shoebox_metadata.library.collections import CollectionView
from shoebox_metadata.library.links import LinkSettings

# The owner manages a link with their token; a viewer presents the link's own token, checked here.
router = APIRouter(tags=["ente-public"])
link_router = APIRouter(tags=["ente-public"])

DIFF_LIMIT = 2500


class CreateLink(Strict):
    collectionID: int
    enableCollect: bool = False
    enableJoin: bool | None = None
    validTill: int = Field(default=0, ge=0)
    deviceLimit: int = Field(default=0, ge=0, le=50)


class UpdateLink(Strict):
    collectionID: int
    validTill: int | None = Field(default=None, ge=0)
    deviceLimit: int | None = None
    passHash: str | None = Field(default=None, max_length=1000)
    nonce: str | None = Field(default=None, max_length=1000)
    memLimit: int | None = None
    opsLimit: int | None = None
    enableDownload: bool | None = None
    enableCollect: bool | None = None
    enableJoin: bool | None = None
    disablePassword: bool | None = None


class PasswordBody(Strict):
    passHash: str = Field(min_length=1, max_length=1000)


@router.post("/collections/share-url")
async def create_link(body: CreateLink, user: CurrentUser, links: LinksDep) -> dict[str, Any]:
    link = await links.create(user, body.collectionID, LinkSettings(
        valid_till=body.validTill, device_limit=body.deviceLimit, enable_collect=body.enableCollect,
        enable_join=body.enableJoin))
    return {"result": render_link(link, links.public_url)}


@router.put("/collections/share-url")
async def update_link(body: UpdateLink, user: CurrentUser, links: LinksDep) -> dict[str, Any]:
    link = await links.update(user, body.collectionID, LinkSettings(
        valid_till=body.validTill, device_limit=body.deviceLimit, enable_download=body.enableDownload,
        enable_collect=body.enableCollect, enable_join=body.enableJoin, pass_hash=body.passHash, nonce=body.nonce,
        mem_limit=body.memLimit, ops_limit=body.opsLimit, disable_password=bool(body.disablePassword)))
    return {"result": render_link(link, links.public_url)}


@router.delete("/collections/share-url/{collection_id}")
async def disable_link(collection_id: int, user: CurrentUser, links: LinksDep) -> dict[str, Any]:
    await links.disable(user, collection_id)
    return {}


AccessToken = Header(default=None, alias="X-Auth-Access-Token", max_length=200)
AccessJWT = Header(default=None, alias="X-Auth-Access-Token-JWT", max_length=2000)


@link_router.get("/public-collection/info")
async def info(links: LinksDep, token: str | None = AccessToken, access_jwt: str | None = AccessJWT
               ) -> dict[str, Any]:
    grant = await links.open(token, access_jwt)
    view = CollectionView(grant.collection, [], Role.VIEWER)
    rendered = render_collection(view, [grant.link], links.public_url)
    rendered["sharees"] = []
    return {"collection": rendered, "referralCode": ""}


@link_router.post("/public-collection/verify-password")
async def verify_password(body: PasswordBody, links: LinksDep, token: str | None = AccessToken) -> dict[str, str]:
    return {"jwtToken": await links.verify_password(token, body.passHash)}


@link_router.get("/public-collection/diff")
async def diff(links: LinksDep, token: str | None = AccessToken, access_jwt: str | None = AccessJWT,
               sinceTime: int = Query(0, ge=0)) -> dict[str, Any]:
    grant = await links.open(token, access_jwt)
    entries, has_more = await links.diff(grant, sinceTime, DIFF_LIMIT)
    return {"diff": [render_membership(e) for e in entries], "hasMore": has_more}


@link_router.get("/public-collection/files/preview/{file_id}")
async def preview(file_id: int, links: LinksDep, token: str | None = AccessToken,
                  access_jwt: str | None = AccessJWT) -> RedirectResponse:
    grant = await links.open(token, access_jwt)
    return RedirectResponse(await links.file_url(grant, file_id, thumbnail=True), status_code=307)


@link_router.get("/public-collection/files/download/{file_id}")
async def download(file_id: int, links: LinksDep, token: str | None = AccessToken,
                   access_jwt: str | None = AccessJWT) -> RedirectResponse:
    grant = await links.open(token, access_jwt)
    return RedirectResponse(await links.file_url(grant, file_id, thumbnail=False), status_code=307)
