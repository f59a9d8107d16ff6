"""The v1 face's JSON (seed 003): request models, bounded at the edge, and answers in snake_case."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from shoebox_lib.ids import album_id, image_id, share_id
from shoebox_lib.web.inputs import Text
from shoebox_metadata.kinds import FileLinkRole, Visibility
from shoebox_metadata.library.albums import AlbumView
from shoebox_metadata.library.items import ItemView
from shoebox_metadata.models import Item


def ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


Title = Annotated[Text, Field(max_length=1000)]
Tag = Annotated[Text, Field(min_length=1, max_length=100)]
Tags = Annotated[list[Tag], Field(max_length=100)]
AlbumRef = Annotated[Text, Field(max_length=64)]  # `alb_<n>`, parsed by `shoebox_lib.ids.parse_album_id`


class CreateImage(BaseModel):
    filename: Annotated[Text, Field(min_length=1, max_length=1024)]
    content_type: str = Field(min_length=1, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$")
    size_bytes: int = Field(ge=0, le=5 * 1024**4)
    visibility: Visibility = Visibility.PRIVATE
    album_id: AlbumRef | None = None
    client_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    title: Title | None = None
    tags: Tags = []


class ChangeImage(BaseModel):
    """PATCH /v1/images/{id}: what is sent changes; `album_ids` is the whole set of albums it is to be in."""

    visibility: Visibility | None = None
    title: Title | None = None
    tags: Tags | None = None
    album_ids: Annotated[list[AlbumRef], Field(max_length=100)] | None = None


class UploadStart(BaseModel):
    mode: str
    session_id: str | None  # the session belongs to the upload signer
    start: str


class CreatedImage(BaseModel):
    image_id: str
    status: str
    upload: UploadStart


class Original(BaseModel):
    width: int | None
    height: int | None
    format: str | None
    size_bytes: int | None
    sha256: str | None


class ImageVariant(BaseModel):
    name: str
    width: int | None
    height: int | None
    status: str


class Replica(BaseModel):
    object: Literal["original", "variant"]
    tier: str
    size_bytes: int


class Image(BaseModel):
    image_id: str
    album_ids: list[str]  # the owner's albums it is in (empty for anyone else)
    owner_id: str
    filename: str
    content_type: str | None
    size_bytes: int
    visibility: str
    title: str | None
    tags: list[str]
    created_at_ms: int | None
    original: Original
    variants: list[ImageVariant]
    replicas: list[Replica]
    status: str


class ImageSummary(BaseModel):
    """An image in a list (the caller's images, an album's, a search's hits)."""

    image_id: str
    owner_id: str
    title: str | None
    filename: str
    content_type: str | None
    visibility: str
    tags: list[str]
    status: str
    size_bytes: int
    width: int | None
    height: int | None
    created_at_ms: int | None
    taken_at_ms: int | None


class ImagePage(BaseModel):
    images: list[ImageSummary]
    next_cursor: str | None


class CreateShare(BaseModel):
    type: Literal["link"] = "link"
    role: Literal["viewer"] = "viewer"
    expires_in_sec: int | None = Field(default=None, ge=1, le=10 * 365 * 24 * 3600)


class Deleted(BaseModel):
    deleted: bool


class ImageDeleted(Deleted):
    deletes_at_ms: int  # when the image, in the trash now, goes for good


class CreateAlbum(BaseModel):
    title: Annotated[Text, Field(min_length=1, max_length=1000)]
    description: Annotated[Text, Field(max_length=10000)] | None = None


class ChangeAlbum(BaseModel):
    """PATCH /v1/albums/{id}: what is sent changes; `cover_image_id` null takes the cover away."""

    title: Annotated[Text, Field(min_length=1, max_length=1000)] | None = None
    description: Annotated[Text, Field(max_length=10000)] | None = None
    cover_image_id: Annotated[Text, Field(max_length=64)] | None = None


class Album(BaseModel):
    album_id: str
    owner_id: str
    title: str | None
    description: str | None
    cover_image_id: str | None
    image_count: int
    role: str  # the caller's: owner, viewer, collaborator
    created_at_ms: int | None
    updated_at_ms: int | None


class AlbumList(BaseModel):
    albums: list[Album]
    next_cursor: str | None


class ImageShare(BaseModel):
    share_id: str
    token: str
    role: str
    url: str
    expires_at_ms: int | None


class SignedURL(BaseModel):
    url: str
    expires_in_sec: int
    variant: str
    filename: str
    content_type: str | None


def render(view: ItemView) -> Image:
    item = view.item
    return Image(
        image_id=image_id(item.id), album_ids=[album_id(a) for a in view.albums], owner_id=str(item.owner_id),
        filename=item.filename,
        content_type=item.content_type, size_bytes=item.declared_size, visibility=item.visibility,
        title=item.title, tags=item.tags, created_at_ms=ms(item.created_at),
        original=Original(width=item.width, height=item.height, format=item.format, size_bytes=item.size,
                          sha256=item.sha256),
        variants=[ImageVariant(name=v.name, width=v.width, height=v.height, status=v.status) for v in view.variants],
        replicas=[Replica(object="original" if c.object_key == item.object_key else "variant", tier=c.tier,
                          size_bytes=c.size) for c in view.copies],
        status=view.status,
    )


def summary(item: Item) -> ImageSummary:
    return ImageSummary(
        image_id=image_id(item.id), owner_id=str(item.owner_id), title=item.title, filename=item.filename,
        content_type=item.content_type, visibility=item.visibility, tags=item.tags, status=item.status,
        size_bytes=item.size if item.size is not None else item.declared_size, width=item.width,
        height=item.height, created_at_ms=ms(item.created_at), taken_at_ms=item.taken_at,
    )


def render_album(view: AlbumView) -> Album:
    album = view.album
    return Album(
        album_id=album_id(album.id), owner_id=str(album.owner_id), title=album.name, description=album.description,
        cover_image_id=image_id(album.cover_item_id) if album.cover_item_id else None, image_count=view.image_count,
        role=view.role.lower(), created_at_ms=ms(album.created_at), updated_at_ms=ms(album.updated_at),
    )


def render_share(link_id: int, token: str, public_url: str, expires_us: int) -> ImageShare:
    """A v1 link, opening at seed 003's `<public_url>/s/<token>` (`expires_us` 0: it never expires)."""
    return ImageShare(share_id=share_id(link_id), token=token, role=FileLinkRole.VIEWER,
                      url=f"{public_url.rstrip('/')}/s/{token}", expires_at_ms=expires_us // 1000 or None)
