"""The v1 face of the library (seed 003): `/v1/images`."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Response

from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import NotFound
from shoebox_lib.ids import image_id, parse_image_id
from shoebox_lib.web.inputs import Text
from shoebox_metadata.api.deps import ItemsDep, LinksDep
from shoebox_metadata.api.v1_shapes import (
    CreatedImage,
    CreateImage,
    CreateShare,
    Image,
    ImageShare,
    SignedURL,
    UploadStart,
    render,
)
from shoebox_metadata.library.items import NewItem

router = APIRouter(prefix="/v1/images", tags=["v1"])

SHARE_PREFIX = "shr_"
_SHARE_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only, within bigint (as `shoebox_lib.ids` parses images)
VariantName = Annotated[Text, Query(max_length=32)]


def parse_share_id(value: str) -> int:
    digits = value.removeprefix(SHARE_PREFIX)
    if not _SHARE_DIGITS.fullmatch(digits):
        raise NotFound("Share not found")
    return int(digits)


@router.post("", status_code=201)
async def create_image(body: CreateImage, user: CurrentUser, items: ItemsDep) -> CreatedImage:
    item = await items.create(user.user_id, NewItem(
        filename=body.filename, content_type=body.content_type, size=body.size_bytes,
        visibility=body.visibility, client_sha256=body.client_sha256, title=body.title,
    ))
    # The session itself belongs to the upload signer: the client starts it with POST /v1/uploads:resumable.
    return CreatedImage(image_id=image_id(item.id), status=item.status,
                        upload=UploadStart(mode="resumable", session_id=None, start="/v1/uploads:resumable"))


# Ids arrive as text, parsed by `parse_image_id` and `parse_share_id`: any other shape is not found.
@router.post("/{image_id}/shares", status_code=201)
async def share_image(image_id: str, body: CreateShare, user: CurrentUser, links: LinksDep) -> ImageShare:
    link = await links.create_file_link(user, parse_image_id(image_id), body.expires_in_sec)
    return ImageShare(share_id=f"{SHARE_PREFIX}{link.id}", token=link.token, role=link.role,
                      url=f"{links.public_url.rstrip('/')}/public/files/{link.token}",
                      expires_at_ms=link.expires_at // 1000 if link.expires_at else None)


@router.delete("/{image_id}/shares/{share_id}", status_code=204, response_class=Response)
async def revoke_share(image_id: str, share_id: str, user: CurrentUser, links: LinksDep) -> Response:
    link_id = parse_share_id(share_id)
    await links.revoke_file_link(user, parse_image_id(image_id), link_id)
    return Response(status_code=204)


# The `:view` and `:download` routes come before `/{image_id}`, which would otherwise swallow them.
@router.get("/{image_id}:view")
async def view_image(image_id: str, user: CurrentUser, items: ItemsDep,
                     variant: VariantName = "original") -> SignedURL:
    signed = await items.signed_url(user.user_id, parse_image_id(image_id), variant)
    return SignedURL(url=signed.url, expires_in_sec=signed.expires_in, variant=variant)


@router.get("/{image_id}:download")
async def download_image(image_id: str, user: CurrentUser, items: ItemsDep,
                         variant: VariantName = "original") -> SignedURL:
    signed = await items.signed_url(user.user_id, parse_image_id(image_id), variant, attachment=True)
    return SignedURL(url=signed.url, expires_in_sec=signed.expires_in, variant=variant)


@router.get("/{image_id}")
async def get_image(image_id: str, user: CurrentUser, items: ItemsDep) -> Image:
    return render(await items.view(user.user_id, parse_image_id(image_id)))
