"""The v1 albums (seed 003): create, read, change, delete (the images stay), list, page with stable cursors
while images come and go, others' albums, and the same album on the Ente face."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer


async def ok(api: RunningSystem, method: str, path: str, token: str, **kwargs: Any) -> Any:
    response = await api.client.request(method, path, headers=bearer(token), **kwargs)
    assert response.status_code in (200, 201), f"{method} {path}: {response.text}"
    return response.json()


async def declare(api: RunningSystem, token: str, album: str | None = None, name: str = "a.png") -> str:
    body: dict[str, Any] = {"filename": name, "content_type": "image/png", "size_bytes": 10}
    if album is not None:
        body["album_id"] = album
    return str((await ok(api, "POST", "/v1/images", token, json=body))["image_id"])


async def test_an_album_is_made_read_changed_and_listed(api: RunningSystem) -> None:
    token = await api.user_token("ada")
    made = await ok(api, "POST", "/v1/albums", token, json={"title": "Rome", "description": "May 2024"})
    assert made["album_id"].startswith("alb_")
    assert (made["title"], made["description"], made["cover_image_id"], made["image_count"], made["role"]) == (
        "Rome", "May 2024", None, 0, "owner")
    album = made["album_id"]
    image = await declare(api, token, album)
    changed = await ok(api, "PATCH", f"/v1/albums/{album}", token,
                       json={"title": "Roma", "cover_image_id": image})
    assert (changed["title"], changed["description"], changed["cover_image_id"], changed["image_count"]) == (
        "Roma", "May 2024", image, 1)
    assert await ok(api, "GET", f"/v1/albums/{album}", token) == changed
    cleared = await ok(api, "PATCH", f"/v1/albums/{album}", token, json={"cover_image_id": None, "description": ""})
    assert (cleared["cover_image_id"], cleared["description"], cleared["title"]) == (None, None, "Roma")
    second = (await ok(api, "POST", "/v1/albums", token, json={"title": "Paris"}))["album_id"]
    listed = await ok(api, "GET", "/v1/albums", token, params={"limit": 1})
    assert [a["album_id"] for a in listed["albums"]] == [second]
    rest = await ok(api, "GET", "/v1/albums", token, params={"cursor": listed["next_cursor"]})
    assert ([a["album_id"] for a in rest["albums"]], rest["next_cursor"]) == ([album], None)


@pytest.mark.parametrize("bad", [{"title": ""}, {"description": 5}, {}, {"title": "x" * 1001}])
async def test_a_bad_album_is_a_400(api: RunningSystem, bad: dict[str, Any]) -> None:
    response = await api.client.post("/v1/albums", headers=bearer(await api.user_token("bea")), json=bad)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "VALIDATION_ERROR"


async def test_the_cover_must_be_an_image_in_the_album(api: RunningSystem) -> None:
    token, other = await api.user_token("cyd"), await api.user_token("dan")
    album = (await ok(api, "POST", "/v1/albums", token, json={"title": "A"}))["album_id"]
    elsewhere = await declare(api, token)
    theirs = await declare(api, other)
    for cover in (elsewhere, theirs, "img_987654321"):
        response = await api.client.patch(f"/v1/albums/{album}", headers=bearer(token), json={"cover_image_id": cover})
        assert response.status_code == 400, response.text
        assert response.json()["message"] == "cover_image_id must be an image in this album"
    assert (await api.client.patch(f"/v1/albums/{album}", headers=bearer(token),
                                   json={"cover_image_id": "bogus"})).status_code == 404


async def test_deleting_an_album_keeps_its_images(api: RunningSystem) -> None:
    token = await api.user_token("eve")
    album = (await ok(api, "POST", "/v1/albums", token, json={"title": "Gone"}))["album_id"]
    kept = (await ok(api, "POST", "/v1/albums", token, json={"title": "Kept"}))["album_id"]
    image = await declare(api, token, album)
    await ok(api, "PATCH", f"/v1/images/{image}", token, json={"album_ids": [album, kept]})
    assert (await ok(api, "DELETE", f"/v1/albums/{album}", token)) == {"deleted": True}
    for path in (f"/v1/albums/{album}", f"/v1/albums/{album}/images"):
        assert (await api.client.get(path, headers=bearer(token))).status_code == 404
    assert (await api.client.delete(f"/v1/albums/{album}", headers=bearer(token))).status_code == 404
    still = await ok(api, "GET", f"/v1/images/{image}", token)
    assert (still["status"], still["album_ids"]) == ("upload_pending", [kept])
    assert [a["album_id"] for a in (await ok(api, "GET", "/v1/albums", token))["albums"]] == [kept]


async def test_another_users_album_is_404_everywhere(api: RunningSystem) -> None:
    owner, intruder = await api.user_token("fin"), await api.user_token("gil")
    album = (await ok(api, "POST", "/v1/albums", owner, json={"title": "Private"}))["album_id"]
    image = await declare(api, owner, album)
    for method, path, body in (("GET", f"/v1/albums/{album}", None), ("GET", f"/v1/albums/{album}/images", None),
                               ("PATCH", f"/v1/albums/{album}", {"title": "Mine now"}),
                               ("DELETE", f"/v1/albums/{album}", None),
                               ("POST", f"/v1/albums/{album}/shares", {"type": "link"}),
                               ("DELETE", f"/v1/albums/{album}/shares/shr_1", None)):
        response = await api.client.request(method, path, headers=bearer(intruder), json=body)
        assert response.status_code == 404, f"{method} {path}: {response.text}"
        assert response.json()["error"] == "NOT_FOUND"
    assert (await api.client.get("/v1/albums", headers=bearer(intruder))).json()["albums"] == []
    assert (await ok(api, "GET", f"/v1/albums/{album}", owner))["title"] == "Private"
    assert (await ok(api, "GET", f"/v1/images/{image}", owner))["album_ids"] == [album]


async def test_an_album_shared_with_someone_is_theirs_to_read_not_to_change(api: RunningSystem) -> None:
    owner = await api.user_token("hugo")
    viewer = await api.user_token("iris")
    album = (await ok(api, "POST", "/v1/albums", owner, json={"title": "Family"}))["album_id"]
    image = await declare(api, owner, album)
    # Sharing with a person is Ente's (seed 000 has it; seed 003 does not): the very same album.
    await ok(api, "POST", "/collections/share", owner, json={
        "collectionID": int(album.removeprefix("alb_")), "email": "iris@example.com", "role": "VIEWER",
        "encryptedKey": "sealed"})
    seen = await ok(api, "GET", f"/v1/albums/{album}", viewer)
    assert (seen["title"], seen["role"], seen["image_count"]) == ("Family", "viewer", 1)
    assert [i["image_id"] for i in (await ok(api, "GET", f"/v1/albums/{album}/images", viewer))["images"]] == [image]
    for method, body in (("PATCH", {"title": "Mine"}), ("DELETE", None)):
        refused = await api.client.request(method, f"/v1/albums/{album}", headers=bearer(viewer), json=body)
        assert refused.status_code == 404, refused.text
    ente = await ok(api, "GET", "/collections/v2", viewer, params={"sinceTime": 0})
    assert int(album.removeprefix("alb_")) in [c["id"] for c in ente["collections"]]


async def test_the_ente_face_shows_the_v1_album(api: RunningSystem) -> None:
    token = await api.user_token("jay")
    album = (await ok(api, "POST", "/v1/albums", token, json={"title": "Both faces"}))["album_id"]
    collections = (await ok(api, "GET", "/collections/v2", token, params={"sinceTime": 0}))["collections"]
    assert int(album.removeprefix("alb_")) in [c["id"] for c in collections]


async def page_through(api: RunningSystem, token: str, path: str, limit: int, between: Any = None) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await ok(api, "GET", path, token, params=params)
        seen += [i["image_id"] for i in page["images"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            await between(seen)


async def test_album_paging_neither_repeats_nor_skips_while_images_come_and_go(api: RunningSystem) -> None:
    token = await api.user_token("kim")
    album = (await ok(api, "POST", "/v1/albums", token, json={"title": "Busy"}))["album_id"]
    first = [await declare(api, token, album, f"{n}.png") for n in range(30)]
    removed: set[str] = set()
    added: list[str] = []

    async def churn(seen: list[str]) -> None:
        # Concurrently: new images arrive, and images both seen and not yet seen go (deleted, or taken out).
        unseen = [i for i in first if i not in seen and i not in removed]
        gone_seen, gone_unseen = seen[0], unseen[-1]
        removed.update({gone_seen, gone_unseen})
        async with asyncio.TaskGroup() as group:
            group.create_task(declare(api, token, album, "late.png"))
            group.create_task(ok(api, "DELETE", f"/v1/images/{gone_unseen}", token))
            group.create_task(ok(api, "PATCH", f"/v1/images/{gone_seen}", token, json={"album_ids": []}))
        added.append("late")

    seen = await page_through(api, token, f"/v1/albums/{album}/images", 7, churn)
    assert len(seen) == len(set(seen)), "an image was shown twice"
    expected = [i for i in reversed(first) if i not in removed or i in seen]
    assert [i for i in seen if i in first] == expected, "an image there all along was skipped"
    assert added  # the churn ran between pages


async def test_ones_own_list_neither_repeats_nor_skips_while_images_come_and_go(api: RunningSystem) -> None:
    token = await api.user_token("lou")
    first = [await declare(api, token, name=f"{n}.png") for n in range(20)]
    gone: set[str] = set()

    async def churn(seen: list[str]) -> None:
        unseen = [i for i in first if i not in seen and i not in gone]
        gone.add(unseen[0])
        async with asyncio.TaskGroup() as group:
            group.create_task(declare(api, token, name="late.png"))
            group.create_task(ok(api, "DELETE", f"/v1/images/{unseen[0]}", token))

    seen = await page_through(api, token, "/v1/images", 6, churn)
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in first] == [i for i in reversed(first) if i not in gone]


async def test_album_ids_of_every_shape_are_404_not_500(api: RunningSystem) -> None:
    token = await api.user_token("mo")
    async with httpx.AsyncClient(base_url=str(api.client.base_url)) as client:
        for album in ("alb_", "alb_-1", "alb_1e3", "12", "alb_99999999999999999999", "alb_\uff11"):
            response = await client.get(f"/v1/albums/{album}", headers=bearer(token))
            assert response.status_code == 404, album
