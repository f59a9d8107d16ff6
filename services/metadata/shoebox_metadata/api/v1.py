"""The v1 face of the library (seed 003): `/v1/images`."""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import NotFound
from shoebox_lib.ids import image_id, parse_image_id
from shoebox_metadata.api.deps import ItemsDep, LinksDep
from shoebox_metadata.kinds import Visibility
from shoebox_metadata.library.items import ItemView, NewItem

router = APIRouter(prefix="/v1/images", tags=["v1"])

SHARE_PREFIX = "shr_"
_SHARE_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only, within bigint (as `shoebox_lib.ids` parses images)


def parse_share_id(value: str) -> int:
    digits = value.removeprefix(SHARE_PREFIX)
    if not _SHARE_DIGITS.fullmatch(digits):
        raise NotFound("Share not found")
    return int(digits)


def ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


class CreateImage(BaseModel):
    filename: str = Field(min_length=1, max_length=1024)
    content_type: str = Field(min_length=1, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$")
    size_bytes: int = Field(ge=0, le=5 * 1024**4)
    visibility: Visibility = Visibility.PRIVATE
    album_id: str | None = None
    client_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    title: str | None = Field(default=None, max_length=1000)


def render(view: ItemView) -> dict[str, Any]:
    item = view.item
    return {
        "image_id": image_id(item.id),
        "owner_id": str(item.owner_id),
        "filename": item.filename,
        "content_type": item.content_type,
        "size_bytes": item.declared_size,
        "visibility": item.visibility,
        "title": item.title,
        "tags": item.tags,
        "created_at_ms": ms(item.created_at),
        "original": {
            "width": item.width, "height": item.height, "format": item.format,
            "size_bytes": item.size, "sha256": item.sha256,
        },
        "variants": [
            {"name": v.name, "width": v.width, "height": v.height, "status": v.status} for v in view.variants
        ],
        "replicas": [{"object": "original" if c.object_key == item.object_key else "variant",
                      "tier": c.tier, "size_bytes": c.size} for c in view.copies],
        "status": view.status,
    }


@router.post("", status_code=201)
async def create_image(body: CreateImage, user: CurrentUser, items: ItemsDep) -> dict[str, Any]:
    item = await items.create(user.user_id, NewItem(
        filename=body.filename, content_type=body.content_type, size=body.size_bytes,
        visibility=body.visibility, client_sha256=body.client_sha256, title=body.title,
    ))
    # The session itself belongs to the upload signer: the client starts it with POST /v1/uploads:resumable.
    return {"image_id": image_id(item.id), "status": item.status,
            "upload": {"mode": "resumable", "session_id": None, "start": "/v1/uploads:resumable"}}


class CreateShare(BaseModel):
    type: Literal["link"] = "link"
    role: Literal["viewer"] = "viewer"
    expires_in_sec: int | None = Field(default=None, ge=1, le=10 * 365 * 24 * 3600)


@router.post("/{image_id}/shares", status_code=201)
async def share_image(image_id: str, body: CreateShare, user: CurrentUser, links: LinksDep) -> dict[str, Any]:
    link = await links.create_file_link(user, parse_image_id(image_id), body.expires_in_sec)
    return {"share_id": f"{SHARE_PREFIX}{link.id}", "token": link.token, "role": link.role,
            "url": f"{links.public_url.rstrip('/')}/public/files/{link.token}",
            "expires_at_ms": link.expires_at // 1000 if link.expires_at else None}


@router.delete("/{image_id}/shares/{share_id}", status_code=204)
async def revoke_share(image_id: str, share_id: str, user: CurrentUser, links: LinksDep) -> Response:
    link_id = parse_share_id(share_id)
    await links.revoke_file_link(user, parse_image_id(image_id), link_id)
    return Response(status_code=204)


# The `:view` and `:download` routes come before `/{image_id}`, which would otherwise swallow them.
@router.get("/{image_id}:view")
async def view_image(image_id: str, user: CurrentUser, items: ItemsDep,
                     variant: str = Query(default="original", max_length=32)) -> dict[str, Any]:
    signed = await items.signed_url(user.user_id, parse_image_id(image_id), variant)
    return {"url": signed.url, "expires_in_sec": signed.expires_in, "variant": variant}


@router.get("/{image_id}:download")
async def download_image(image_id: str, user: CurrentUser, items: ItemsDep,
                         variant: str = Query(default="original", max_length=32)) -> dict[str, Any]:
    signed = await items.signed_url(user.user_id, parse_image_id(image_id), variant, attachment=True)
    return {"url": signed.url, "expires_in_sec": signed.expires_in, "variant": variant}


@router.get("/{image_id}")
async def get_image(image_id: str, user: CurrentUser, items: ItemsDep) -> dict[str, Any]:
    return render(await items.view(user.user_id, parse_image_id(image_id)))
