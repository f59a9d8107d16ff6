"""`/s/<token>`: what a v1 share link opens, for a client (JSON: the public metadata and signed URLs) and for a
browser (a small page that shows the image, medium variant first, with a download link; for an album, a
page of its images). An expired link is 410, a revoked or unknown one 404, each in the v1 envelope."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from shoebox_lib.errors import Gone, NotFound
from shoebox_lib.ids import album_id
from shoebox_lib.web.inputs import Text
from shoebox_metadata.api.deps import ShareViewsDep
from shoebox_metadata.api.v1_shapes import ImageSummary, summary
from shoebox_metadata.library.share_views import ALBUM_PAGE, MAX_ALBUM_PAGE, SharedAlbum, SharedImage

router = APIRouter(prefix="/s", tags=["v1"])

# The page shows images from storage (another origin with S3) and nothing else runs; the token is in the
# page's URL, so it is sent to nobody as a referrer, and no search engine keeps it.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
}
PREFERRED_VIEW = ("medium", "thumb", "original")  # what the page shows of an image, the first it has


class SharedImageBody(BaseModel):
    image: ImageSummary
    urls: dict[str, str]  # signed view URLs: the original and every ready variant, by name
    download_url: str
    expires_in_sec: int


class SharedAlbumInfo(BaseModel):
    album_id: str
    title: str | None
    description: str | None
    image_count: int


class SharedBody(BaseModel):
    type: str  # "image" or "album"
    image: SharedImageBody | None = None
    album: SharedAlbumInfo | None = None
    images: list[SharedImageBody] | None = None
    next_cursor: str | None = None


def wants_html(request: Request) -> bool:
    """A browser asks for HTML first; a client asking for JSON, or for anything, gets JSON."""
    accept = request.headers.get("accept", "")
    html, json = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


def _image_body(shared: SharedImage) -> SharedImageBody:
    original = next(iter(shared.views.values()))
    return SharedImageBody(image=summary(shared.item), urls={name: s.url for name, s in shared.views.items()},
                           download_url=shared.download.url, expires_in_sec=original.expires_in)


def _body(shared: SharedImage | SharedAlbum) -> SharedBody:
    if isinstance(shared, SharedImage):
        return SharedBody(type="image", image=_image_body(shared))
    album = shared.album
    return SharedBody(type="album", album=SharedAlbumInfo(album_id=album_id(album.id), title=album.name,
                                                          description=album.description,
                                                          image_count=shared.image_count),
                      images=[_image_body(image) for image in shared.images], next_cursor=shared.next_cursor)


def _figure(shared: SharedImage) -> str:
    shown = next(shared.views[name] for name in PREFERRED_VIEW if name in shared.views)
    name = escape(shared.item.title or shared.item.filename)
    return (f'<figure><img src="{escape(shown.url)}" alt="{name}">'
            f'<figcaption>{name} · <a href="{escape(shared.download.url)}" download>Download</a>'
            f"</figcaption></figure>")


def _page(shared: SharedImage | SharedAlbum, token: str) -> str:
    if isinstance(shared, SharedImage):
        title, body = shared.item.title or shared.item.filename, _figure(shared)
    else:
        title = shared.album.name or "Shared album"
        body = "".join(_figure(image) for image in shared.images) or "<p>This album is empty.</p>"
        if shared.album.description:
            body = f"<p>{escape(shared.album.description)}</p>{body}"
        if shared.next_cursor:
            body += f'<p><a href="/s/{escape(token)}?cursor={escape(shared.next_cursor)}">More</a></p>'
    return _document(title, body)


def _document(title: str, body: str) -> str:
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#222}"
            "figure{display:inline-block;margin:0 1rem 1rem 0;vertical-align:top}"
            "img{max-width:100%;max-height:80vh;display:block}"
            f"</style></head><body><h1>{escape(title)}</h1>{body}</body></html>")


@router.get("/{token}", response_model=SharedBody,
            responses={200: {"content": {"text/html": {}}, "description": "The shared image or album"}})
async def open_share(token: Annotated[Text, "the link's token"], request: Request, views: ShareViewsDep,
                     cursor: Annotated[Text | None, Query(max_length=200)] = None,
                     limit: Annotated[int, Query(ge=1, le=MAX_ALBUM_PAGE)] = ALBUM_PAGE) -> Response:
    """An album's images come a page at a time: `limit` of them, and `next_cursor` to pass back as `cursor`."""
    try:
        shared = await views.open(token, cursor, limit)
    except (NotFound, Gone) as refused:
        if not wants_html(request):
            raise
        # A person who followed a dead link reads why on a page, not in JSON.
        return HTMLResponse(_document("Link unavailable", f"<p>{escape(refused.message)}</p>"),
                            status_code=refused.status_code, headers=PAGE_HEADERS)
    if wants_html(request):
        return HTMLResponse(_page(shared, token), headers=PAGE_HEADERS)
    # Unset, not None: the branch of the other kind is left out, while a title or a taken-at that is not
    # known stays in the answer as null, as its schema says.
    return JSONResponse(_body(shared).model_dump(mode="json", exclude_unset=True),
                        headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"})
