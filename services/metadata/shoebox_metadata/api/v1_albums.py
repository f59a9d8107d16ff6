"""The v1 face's albums (seed 003): `/v1/albums`, each a library collection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from shoebox_lib.auth import CurrentUser
from shoebox_lib.ids import parse_album_id, parse_image_id, parse_share_id
from shoebox_lib.web.inputs import Text
from shoebox_metadata.api.deps import AlbumsDep, LinksDep
from shoebox_metadata.api.v1_shapes import (
    Album,
    AlbumList,
    ChangeAlbum,
    CreateAlbum,
    CreateShare,
    Deleted,
    ImagePage,
    ImageShare,
    render_album,
    render_share,
    summary,
)
from shoebox_metadata.library.albums import AlbumChange

router = APIRouter(prefix="/v1/albums", tags=["v1"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[Text, Query(max_length=200)]


@router.post("", status_code=201)
async def create_album(body: CreateAlbum, user: CurrentUser, albums: AlbumsDep) -> Album:
    return render_album(await albums.create(user, body.title, body.description))


@router.get("")
async def list_albums(user: CurrentUser, albums: AlbumsDep, limit: Limit = 50, cursor: Cursor | None = None
                      ) -> AlbumList:
    """The caller's own albums, newest first."""
    found = await albums.list_own(user, limit, cursor)
    return AlbumList(albums=[render_album(view) for view in found.albums], next_cursor=found.next_cursor)


@router.get("/{album_id}")
async def get_album(album_id: str, user: CurrentUser, albums: AlbumsDep) -> Album:
    return render_album(await albums.get(user, parse_album_id(album_id)))


@router.patch("/{album_id}")
async def change_album(album_id: str, body: ChangeAlbum, user: CurrentUser, albums: AlbumsDep) -> Album:
    cover: int | None = None
    if "cover_image_id" in body.model_fields_set:
        cover = parse_image_id(body.cover_image_id) if body.cover_image_id is not None else 0
    return render_album(await albums.update(user, parse_album_id(album_id), AlbumChange(
        title=body.title, description=body.description, cover_image_id=cover)))


@router.delete("/{album_id}")
async def delete_album(album_id: str, user: CurrentUser, albums: AlbumsDep) -> Deleted:
    """The album goes; its images stay in the library (and in any other album)."""
    await albums.delete(user, parse_album_id(album_id))
    return Deleted(deleted=True)


@router.get("/{album_id}/images")
async def album_images(album_id: str, user: CurrentUser, albums: AlbumsDep, limit: Limit = 50,
                       cursor: Cursor | None = None) -> ImagePage:
    """The album's images, the latest added first. The cursor is stable: paging while images come and go
    never repeats or skips one."""
    album = await albums.readable(user, parse_album_id(album_id))
    found = await albums.images(user, album, limit, cursor)
    return ImagePage(images=[summary(item) for item in found.items], next_cursor=found.next_cursor)


@router.post("/{album_id}/shares", status_code=201)
async def share_album(album_id: str, body: CreateShare, user: CurrentUser, links: LinksDep) -> ImageShare:
    link = await links.create_album_link(user, parse_album_id(album_id), body.expires_in_sec)
    return render_share(link.id, link.token, links.public_url, link.valid_till)


@router.delete("/{album_id}/shares/{share_id}", status_code=204, response_class=Response)
async def revoke_album_share(album_id: str, share_id: str, user: CurrentUser, links: LinksDep) -> Response:
    """Revoked at once: the link opens nothing from now on."""
    await links.revoke_album_link(user, parse_album_id(album_id), parse_share_id(share_id))
    return Response(status_code=204)



