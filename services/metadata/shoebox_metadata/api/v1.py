"""The v1 face of the library (seed 003): `/v1/images`.

Two routers: what needs a signed-in caller, and what anyone may read (a public image, without a token; a
token that is sent is verified). Ids arrive as text and are parsed by `shoebox_lib.ids`: any other shape is
not found.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from shoebox_lib.auth import CurrentUser, OptionalUser
from shoebox_lib.ids import image_id, parse_album_id, parse_image_id, parse_share_id
from shoebox_lib.web.inputs import Text
from shoebox_metadata.api.deps import ItemsDep, LinksDep, TrashDep
from shoebox_metadata.api.v1_shapes import (
    ChangeImage,
    CreatedImage,
    CreateImage,
    CreateShare,
    Image,
    ImageDeleted,
    ImagePage,
    ImageShare,
    SignedURL,
    UploadStart,
    render,
    render_share,
    summary,
)
from shoebox_metadata.library.items import ORIGINAL, ItemChange, NewItem, SignedUrl

router = APIRouter(prefix="/v1/images", tags=["v1"])
public_router = APIRouter(prefix="/v1/images", tags=["v1"])

VariantName = Annotated[Text, Query(max_length=32)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[Text, Query(max_length=200)]


@router.post("", status_code=201)
async def create_image(body: CreateImage, user: CurrentUser, items: ItemsDep) -> CreatedImage:
    item = await items.create(user.user_id, NewItem(
        filename=body.filename, content_type=body.content_type, size=body.size_bytes,
        visibility=body.visibility, client_sha256=body.client_sha256, title=body.title, tags=body.tags,
        album_id=parse_album_id(body.album_id) if body.album_id is not None else None,
    ))
    # The session itself belongs to the upload signer: the client starts it with POST /v1/uploads:resumable.
    return CreatedImage(image_id=image_id(item.id), status=item.status,
                        upload=UploadStart(mode="resumable", session_id=None, start="/v1/uploads:resumable"))


@router.get("")
async def list_images(user: CurrentUser, items: ItemsDep, limit: Limit = 50, cursor: Cursor | None = None
                      ) -> ImagePage:
    """The caller's own images, newest first."""
    found = await items.list_own(user.user_id, limit, cursor)
    return ImagePage(images=[summary(item) for item in found.items], next_cursor=found.next_cursor)


@router.patch("/{image_id}")
async def change_image(image_id: str, body: ChangeImage, user: CurrentUser, items: ItemsDep) -> Image:
    albums = [parse_album_id(a) for a in body.album_ids] if body.album_ids is not None else None
    return render(await items.update(user, parse_image_id(image_id), ItemChange(
        visibility=body.visibility, title=body.title, tags=body.tags, album_ids=albums)))


@router.delete("/{image_id}")
async def delete_image(image_id: str, user: CurrentUser, trash: TrashDep) -> ImageDeleted:
    """To the trash at once; purged with its objects on every tier after the retention period."""
    deletes_at = await trash.discard(user, parse_image_id(image_id))
    return ImageDeleted(deleted=True, deletes_at_ms=deletes_at // 1000)


@router.post("/{image_id}:restore")
async def restore_image(image_id: str, user: CurrentUser, trash: TrashDep, items: ItemsDep) -> Image:
    item_id = parse_image_id(image_id)
    await trash.restore_image(user, item_id)
    return render(await items.view(user, item_id))


@router.post("/{image_id}/shares", status_code=201)
async def share_image(image_id: str, body: CreateShare, user: CurrentUser, links: LinksDep) -> ImageShare:
    link = await links.create_file_link(user, parse_image_id(image_id), body.expires_in_sec)
    return render_share(link.id, link.token, links.public_url, link.expires_at)


@router.delete("/{image_id}/shares/{share_id}", status_code=204, response_class=Response)
async def revoke_share(image_id: str, share_id: str, user: CurrentUser, links: LinksDep) -> Response:
    """Revoked at once: the link opens nothing from now on."""
    await links.revoke_file_link(user, parse_image_id(image_id), parse_share_id(share_id))
    return Response(status_code=204)


def _signed(signed: SignedUrl, variant: str) -> SignedURL:
    return SignedURL(url=signed.url, expires_in_sec=signed.expires_in, variant=variant, filename=signed.filename,
                     content_type=signed.content_type)


# The `:view` and `:download` routes come before `/{image_id}`, which would otherwise swallow them.
@public_router.get("/{image_id}:view")
async def view_image(image_id: str, caller: OptionalUser, items: ItemsDep, variant: VariantName = ORIGINAL
                     ) -> SignedURL:
    """A short-lived URL of the original or of a variant (`thumb`, `medium`); 409 while it is being made."""
    return _signed(await items.signed_url(caller, parse_image_id(image_id), variant), variant)


@public_router.get("/{image_id}:download")
async def download_image(image_id: str, caller: OptionalUser, items: ItemsDep, variant: VariantName = ORIGINAL
                         ) -> SignedURL:
    """As `:view`, the URL asking the browser to save the file under its name."""
    return _signed(await items.signed_url(caller, parse_image_id(image_id), variant, attachment=True), variant)


@public_router.get("/{image_id}")
async def get_image(image_id: str, caller: OptionalUser, items: ItemsDep) -> Image:
    return render(await items.view(caller, parse_image_id(image_id)))
