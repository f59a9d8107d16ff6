"""v1 share links (seed 003): `<public_url>/s/<token>` for an image and for an album, as JSON for a client
and as a page for a browser; revoking, expiry, and links that open nothing else."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import new_album
from shoebox.testing.flow import bearer, make_png, upload, wait_processed
from shoebox_metadata.api.v1_share_page import SharedBody

JSON = {"Accept": "application/json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def ok(api: RunningSystem, method: str, path: str, token: str, **kwargs: Any) -> Any:
    response = await api.client.request(method, path, headers=bearer(token), **kwargs)
    assert response.status_code in (200, 201), f"{method} {path}: {response.text}"
    return response.json()


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


async def shared_image(api: RunningSystem, token: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    uploaded = await upload(api.client, token, make_png(1400, 900), title="Harbour", **fields)
    await wait_processed(api.client, token, uploaded.image_id)
    share = await ok(api, "POST", f"/v1/images/{uploaded.image_id}/shares", token,
                     json={"type": "link", "role": "viewer", "expires_in_sec": 3600})
    return uploaded.image_id, share


async def test_an_image_link_gives_a_client_its_metadata_and_signed_urls(api: RunningSystem) -> None:
    token = await api.user_token("abe")
    image, share = await shared_image(api, token)
    assert share["share_id"].startswith("shr_")
    assert share["url"] == f"{api.settings.public_url}/s/{share['token']}"
    assert share["role"] == "viewer"
    opened = await api.client.get(path_of(share["url"]), headers=JSON)
    assert opened.status_code == 200, opened.text
    assert opened.headers["cache-control"] == "private, no-store"
    body = opened.json()
    assert body["type"] == "image"
    assert (body["image"]["image"]["image_id"], body["image"]["image"]["title"]) == (image, "Harbour")
    assert set(body["image"]["urls"]) == {"original", "thumb", "medium"}
    async with httpx.AsyncClient(timeout=30) as storage:
        for name, url in body["image"]["urls"].items():
            got = await storage.get(url)
            assert got.status_code == 200, name
            assert got.headers["content-type"].startswith("image/")
        download = await storage.get(body["image"]["download_url"])
        assert download.headers["content-disposition"].startswith("attachment")
    # A client asking for anything at all gets JSON too.
    assert (await api.client.get(path_of(share["url"]))).json()["type"] == "image"


async def test_a_browser_gets_a_page_showing_the_medium_variant_with_a_download_link(api: RunningSystem) -> None:
    token = await api.user_token("bob")
    _, share = await shared_image(api, token)
    page = await api.client.get(path_of(share["url"]), headers=BROWSER)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    urls = (await api.client.get(path_of(share["url"]), headers=JSON)).json()["image"]["urls"]
    shown = re.search(r'<img src="([^"]+)"', page.text)
    assert shown is not None
    assert httpx.URL(shown.group(1).replace("&amp;", "&")).path == httpx.URL(urls["medium"]).path
    assert re.search(r'<a href="[^"]+" download>Download</a>', page.text)
    assert "<title>Harbour</title>" in page.text


async def test_what_the_owner_wrote_is_escaped_on_the_page(api: RunningSystem) -> None:
    token = await api.user_token("cat")
    _, share = await shared_image(api, token)
    image = (await api.client.get(path_of(share["url"]), headers=JSON)).json()["image"]["image"]["image_id"]
    await ok(api, "PATCH", f"/v1/images/{image}", token, json={"title": '<script>alert("x")</script>'})
    page = await api.client.get(path_of(share["url"]), headers=BROWSER)
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text


async def test_a_revoked_link_is_404_at_once_and_an_expired_one_410(api: RunningSystem) -> None:
    token = await api.user_token("dee")
    image, share = await shared_image(api, token)
    revoked = await api.client.delete(f"/v1/images/{image}/shares/{share['share_id']}", headers=bearer(token))
    assert revoked.status_code == 204
    gone = await api.client.get(path_of(share["url"]), headers=JSON)
    assert gone.status_code == 404
    assert (gone.json()["error"], gone.json()["message"]) == ("NOT_FOUND", "Link not found or revoked")
    assert gone.json()["requestId"] == gone.headers["x-request-id"]
    page = await api.client.get(path_of(share["url"]), headers=BROWSER)  # a person reads it on a page
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Link not found or revoked" in page.text
    again = await api.client.delete(f"/v1/images/{image}/shares/{share['share_id']}", headers=bearer(token))
    assert again.status_code == 404
    brief = await ok(api, "POST", f"/v1/images/{image}/shares", token, json={"expires_in_sec": 1})
    assert (await api.client.get(path_of(brief["url"]), headers=JSON)).status_code == 200
    await asyncio.sleep(1.2)
    expired = await api.client.get(path_of(brief["url"]), headers=JSON)
    assert expired.status_code == 410
    assert (expired.json()["error"], expired.json()["message"]) == ("GONE", "This link has expired")
    page = await api.client.get(path_of(brief["url"]), headers=BROWSER)
    assert page.status_code == 410
    assert "This link has expired" in page.text


async def test_a_link_to_a_deleted_image_opens_nothing(api: RunningSystem) -> None:
    token = await api.user_token("eli")
    image, share = await shared_image(api, token)
    await ok(api, "DELETE", f"/v1/images/{image}", token)
    assert (await api.client.get(path_of(share["url"]), headers=JSON)).status_code == 404


@pytest.mark.parametrize(("token", "status"), [("nope", 404), ("a" * 32, 404), ("..%2F..%2Fv1%2Fimages", 404),
                                               ("x" * 300, 404), ("%00", 400)])
async def test_a_made_up_token_is_a_404(api: RunningSystem, token: str, status: int) -> None:
    response = await api.client.get(f"/s/{token}", headers=JSON)
    assert response.status_code == status
    assert response.json()["error"] == {404: "NOT_FOUND", 400: "VALIDATION_ERROR"}[status]


async def test_an_album_link_pages_the_albums_images(api: RunningSystem) -> None:
    token = await api.user_token("flo")
    album = (await ok(api, "POST", "/v1/albums", token, json={"title": "Coast", "description": "Windy"}))["album_id"]
    images = []
    for n in range(3):
        uploaded = await upload(api.client, token, make_png(60 + n, 40), album_id=album)
        await wait_processed(api.client, token, uploaded.image_id)
        images.append(uploaded.image_id)
    hidden = await upload(api.client, token, make_png(30, 30))  # the owner's, in no album: not opened
    share = await ok(api, "POST", f"/v1/albums/{album}/shares", token, json={"type": "link", "role": "viewer"})
    assert share["url"] == f"{api.settings.public_url}/s/{share['token']}"
    twice = await api.client.post(f"/v1/albums/{album}/shares", headers=bearer(token), json={})
    assert twice.status_code == 409
    assert share["share_id"] in twice.json()["message"]
    body = (await api.client.get(path_of(share["url"]), headers=JSON)).json()
    assert body["type"] == "album"
    assert (body["album"]["album_id"], body["album"]["title"], body["album"]["image_count"]) == (album, "Coast", 3)
    listed = [i["image"]["image_id"] for i in body["images"]]
    assert listed == images[::-1]
    assert hidden.image_id not in listed
    assert all({"original", "thumb", "medium"} <= set(i["urls"]) for i in body["images"])
    page = await api.client.get(path_of(share["url"]), headers=BROWSER)
    assert page.text.count("<img ") == 3
    assert "Windy" in page.text
    # A page at a time, as the album's own route pages.
    first = (await api.client.get(path_of(share["url"]), headers=JSON, params={"limit": 2})).json()
    rest = (await api.client.get(path_of(share["url"]), headers=JSON,
                                 params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [i["image"]["image_id"] for i in first["images"] + rest["images"]] == listed
    assert rest.get("next_cursor") is None
    paged = await api.client.get(path_of(share["url"]), headers=BROWSER, params={"limit": 2})
    assert f'?cursor={first["next_cursor"]}' in paged.text
    revoked = await api.client.delete(f"/v1/albums/{album}/shares/{share['share_id']}", headers=bearer(token))
    assert revoked.status_code == 204
    assert (await api.client.get(path_of(share["url"]), headers=JSON)).status_code == 404
    # Revoked, the album may be shared anew.
    assert (await api.client.post(f"/v1/albums/{album}/shares", headers=bearer(token), json={})).status_code == 201


async def test_what_an_album_and_its_images_lack_is_null_as_the_declared_schema_says(api: RunningSystem) -> None:
    """An album with no description, of an image with no title: the answer still fits its `SharedBody`
    schema (schemathesis found a bare album answered without its `description`)."""
    token = await api.user_token("hal")
    album = (await ok(api, "POST", "/v1/albums", token, json={"title": "Bare"}))["album_id"]
    uploaded = await upload(api.client, token, make_png(20, 20), album_id=album)
    await wait_processed(api.client, token, uploaded.image_id)
    share = await ok(api, "POST", f"/v1/albums/{album}/shares", token, json={"type": "link", "role": "viewer"})
    body = (await api.client.get(path_of(share["url"]), headers=JSON)).json()
    assert body["album"]["description"] is None
    assert body["images"][0]["image"]["title"] is None
    assert "image" not in body  # the other kind's branch is left out
    SharedBody.model_validate(body, strict=True)
    image_share = await ok(api, "POST", f"/v1/images/{uploaded.image_id}/shares", token, json={})
    body = (await api.client.get(path_of(image_share["url"]), headers=JSON)).json()
    assert "album" not in body
    assert "images" not in body
    assert body["image"]["image"]["title"] is None
    SharedBody.model_validate(body, strict=True)


async def test_an_album_link_of_a_deleted_album_opens_nothing(api: RunningSystem) -> None:
    token = await api.user_token("gia")
    album = (await ok(api, "POST", "/v1/albums", token, json={"title": "Brief"}))["album_id"]
    share = await ok(api, "POST", f"/v1/albums/{album}/shares", token, json={"expires_in_sec": 60})
    assert share["expires_at_ms"] is not None
    await ok(api, "DELETE", f"/v1/albums/{album}", token)
    assert (await api.client.get(path_of(share["url"]), headers=JSON)).status_code == 404


async def test_an_ente_albums_link_is_not_a_v1_page(api: RunningSystem) -> None:
    """Ente's links open end-to-end-encrypted albums, whose bytes only Ente's clients can read."""
    token = await api.user_token("hal")
    album = await new_album(api, token)
    link = await ok(api, "POST", "/public/collections", token, json={"collectionID": album})
    assert (await api.client.get(f"/s/{link['token']}", headers=JSON)).status_code == 404
