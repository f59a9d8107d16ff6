"""Public links: the owner's `/collections/share-url` and the viewer's `/public-collection/…` (Ente)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.web.inputs import Id64, NonNegative64, Text
from shoebox_metadata.api.deps import LinksDep
from shoebox_metadata.api.ente_answers import (
    Empty,
    FileDiff,
    PasswordToken,
    PublicCollectionInfo,
    PublicURLAnswer,
    render_collection,
    render_link,
    streamed_diff,
)
from shoebox_metadata.api.ente_shapes import Sealed, Strict
from shoebox_metadata.api.redirects import REDIRECT, redirect
from shoebox_metadata.kinds import Role
from shoebox_metadata.library.collections import CollectionView
from shoebox_metadata.library.links import LinkSettings

# The owner manages a link with their token; a viewer presents the link's own token, checked here.
router = APIRouter(tags=["ente-public"])
link_router = APIRouter(tags=["ente-public"])

DIFF_LIMIT = 2500
MAX_DEVICES = 50  # what Ente's server allows a link


class CreateLink(Strict):
    collectionID: Id64
    enableCollect: bool = False
    enableJoin: bool | None = None
    validTill: NonNegative64 = 0
    deviceLimit: int = Field(default=0, ge=0, le=MAX_DEVICES)


class UpdateLink(Strict):
    collectionID: Id64
    validTill: NonNegative64 | None = None
    deviceLimit: Annotated[int, Field(ge=0, le=MAX_DEVICES)] | None = None
    passHash: Sealed | None = None
    nonce: Sealed | None = None
    memLimit: NonNegative64 | None = None
    opsLimit: NonNegative64 | None = None
    enableDownload: bool | None = None
    enableCollect: bool | None = None
    enableJoin: bool | None = None
    disablePassword: bool | None = None


class PasswordBody(Strict):
    passHash: Annotated[Text, Field(min_length=1, max_length=1000)]


@router.post("/collections/share-url")
async def create_link(body: CreateLink, user: CurrentUser, links: LinksDep) -> PublicURLAnswer:
    link = await links.create(user, body.collectionID, LinkSettings(
        valid_till=body.validTill, device_limit=body.deviceLimit, enable_collect=body.enableCollect,
        enable_join=body.enableJoin))
    return PublicURLAnswer(result=render_link(link, links.public_url))


@router.put("/collections/share-url")
async def update_link(body: UpdateLink, user: CurrentUser, links: LinksDep) -> PublicURLAnswer:
    link = await links.update(user, body.collectionID, LinkSettings(
        valid_till=body.validTill, device_limit=body.deviceLimit, enable_download=body.enableDownload,
        enable_collect=body.enableCollect, enable_join=body.enableJoin, pass_hash=body.passHash, nonce=body.nonce,
        mem_limit=body.memLimit, ops_limit=body.opsLimit, disable_password=bool(body.disablePassword)))
    return PublicURLAnswer(result=render_link(link, links.public_url))


@router.delete("/collections/share-url/{collection_id}")
async def disable_link(collection_id: Annotated[Id64, Path()], user: CurrentUser, links: LinksDep) -> Empty:
    await links.disable(user, collection_id)
    return Empty()


# A viewer's credentials: the link's token and, for a password-protected link, the token that proved it.
AccessToken = Annotated[Text | None, Header(alias="X-Auth-Access-Token", max_length=200)]
AccessJWT = Annotated[Text | None, Header(alias="X-Auth-Access-Token-JWT", max_length=2000)]


@link_router.get("/public-collection/info")
async def info(links: LinksDep, token: AccessToken = None, access_jwt: AccessJWT = None) -> PublicCollectionInfo:
    grant = await links.open(token, access_jwt)
    view = CollectionView(grant.collection, [], Role.VIEWER)  # a viewer sees no sharees
    return PublicCollectionInfo(collection=render_collection(view, [grant.link], links.public_url), referralCode="")


@link_router.post("/public-collection/verify-password")
async def verify_password(body: PasswordBody, links: LinksDep, token: AccessToken = None) -> PasswordToken:
    return PasswordToken(jwtToken=await links.verify_password(token, body.passHash))


@link_router.get("/public-collection/diff", response_model=FileDiff)
async def diff(links: LinksDep, token: AccessToken = None, access_jwt: AccessJWT = None,
               sinceTime: Annotated[NonNegative64, Query()] = 0) -> StreamingResponse:
    grant = await links.open(token, access_jwt)
    return streamed_diff(*await links.diff(grant, sinceTime, DIFF_LIMIT))


@link_router.get("/public-collection/files/preview/{file_id}", **REDIRECT)
async def preview(file_id: Annotated[Id64, Path()], links: LinksDep, token: AccessToken = None,
                  access_jwt: AccessJWT = None) -> RedirectResponse:
    grant = await links.open(token, access_jwt)
    return redirect(await links.file_url(grant, file_id, thumbnail=True))


@link_router.get("/public-collection/files/download/{file_id}", **REDIRECT)
async def download(file_id: Annotated[Id64, Path()], links: LinksDep, token: AccessToken = None,
                   access_jwt: AccessJWT = None) -> RedirectResponse:
    grant = await links.open(token, access_jwt)
    return redirect(await links.file_url(grant, file_id, thumbnail=False))
