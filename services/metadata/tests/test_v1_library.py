"""The v1 images as a library (seed 003 and what its users expect): what a create keeps, one's own list,
PATCH, DELETE to the trash and restoring, variants under their own names and types, and public images."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from shoebox.testing import RunningSystem, run_system
from shoebox.testing.flow import bearer, make_png, upload, wait_processed
from shoebox_lib.settings import Settings


async def declare(api: RunningSystem, token: str, **fields: Any) -> httpx.Response:
    body = {"filename": "a.png", "content_type": "image/png", "size_bytes": 10, **fields}
    return await api.client.post("/v1/images", headers=bearer(token), json=body)


async def new_album(api: RunningSystem, token: str, title: str = "Trip") -> str:
    made = await api.client.post("/v1/albums", headers=bearer(token), json={"title": title})
    assert made.status_code == 201, made.text
    return str(made.json()["album_id"])


async def test_a_create_keeps_album_tags_title_and_checksum(api: RunningSystem) -> None:
    token = await api.user_token("cleo")
    album = await new_album(api, token)
    created = await declare(api, token, album_id=album, tags=["Pets", "cat", "pets "], title="My cat",
                            client_sha256="a" * 64)
    assert created.status_code == 201, created.text
    image = (await api.client.get(f"/v1/images/{created.json()['image_id']}", headers=bearer(token))).json()
    assert (image["title"], image["tags"], image["album_ids"]) == ("My cat", ["pets", "cat"], [album])
    listed = (await api.client.get(f"/v1/albums/{album}/images", headers=bearer(token))).json()
    assert [i["image_id"] for i in listed["images"]] == [created.json()["image_id"]]


async def test_a_create_into_someone_elses_album_is_404_and_keeps_nothing(api: RunningSystem) -> None:
    owner, intruder = await api.user_token("dora"), await api.user_token("ezra")
    album = await new_album(api, owner)
    for album_id in (album, "alb_987654321", "alb_x", "nonsense"):
        refused = await declare(api, intruder, album_id=album_id)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"] == "NOT_FOUND"
    assert (await api.client.get("/v1/images", headers=bearer(intruder))).json()["images"] == []


async def test_one_lists_ones_own_images_newest_first_in_pages(api: RunningSystem) -> None:
    token, other = await api.user_token("fay"), await api.user_token("gus")
    made = [(await declare(api, token, filename=f"{n}.png")).json()["image_id"] for n in range(5)]
    await declare(api, other)
    seen, cursor = [], None
    while True:
        page = (await api.client.get("/v1/images", headers=bearer(token),
                                     params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        seen += [i["image_id"] for i in page["images"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]


@pytest.mark.parametrize("cursor", ["x", "eyJ4IjoxfQ", "WzEsMl0", "W10", "WyJhIl0", "W3RydWVd", "!" * 300])
async def test_a_cursor_the_server_did_not_give_is_a_400(api: RunningSystem, cursor: str) -> None:
    token = await api.user_token("hal")
    response = await api.client.get("/v1/images", headers=bearer(token), params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("VALIDATION_ERROR", "BAD_REQUEST")


async def test_patch_changes_visibility_title_tags_and_albums(api: RunningSystem) -> None:
    token = await api.user_token("ida")
    first, second = await new_album(api, token, "one"), await new_album(api, token, "two")
    image = (await declare(api, token, album_id=first)).json()["image_id"]
    changed = await api.client.patch(f"/v1/images/{image}", headers=bearer(token), json={
        "visibility": "public", "title": "Sunset", "tags": ["Sky"], "album_ids": [second]})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["visibility"], body["title"], body["tags"], body["album_ids"]) == ("public", "Sunset", ["sky"],
                                                                                   [second])
    assert (await api.client.get(f"/v1/albums/{first}/images", headers=bearer(token))).json()["images"] == []
    # What is not sent stays; an empty title clears it.
    kept = (await api.client.patch(f"/v1/images/{image}", headers=bearer(token), json={"title": ""})).json()
    assert (kept["title"], kept["tags"], kept["visibility"], kept["album_ids"]) == (None, ["sky"], "public", [second])


@pytest.mark.parametrize("bad", [{"visibility": "everyone"}, {"tags": "pets"}, {"tags": [""]}, {"title": 5},
                                 {"album_ids": "alb_1"}])
async def test_a_bad_patch_is_a_400_and_changes_nothing(api: RunningSystem, bad: dict[str, Any]) -> None:
    token = await api.user_token("jon")
    image = (await declare(api, token, title="Kept")).json()["image_id"]
    response = await api.client.patch(f"/v1/images/{image}", headers=bearer(token), json=bad)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "VALIDATION_ERROR"
    assert (await api.client.get(f"/v1/images/{image}", headers=bearer(token))).json()["title"] == "Kept"


async def test_another_users_image_is_404_for_every_change(api: RunningSystem) -> None:
    owner, intruder = await api.user_token("kai"), await api.user_token("lea")
    image = (await declare(api, owner, title="Mine")).json()["image_id"]
    theirs = await new_album(api, intruder)
    for method, path, body in (("PATCH", f"/v1/images/{image}", {"title": "Theirs"}),
                               ("PATCH", f"/v1/images/{image}", {"album_ids": [theirs]}),
                               ("DELETE", f"/v1/images/{image}", None),
                               ("POST", f"/v1/images/{image}:restore", None),
                               ("POST", f"/v1/images/{image}/shares", {"type": "link"})):
        response = await api.client.request(method, path, headers=bearer(intruder), json=body)
        assert response.status_code == 404, f"{method} {path}: {response.text}"
    assert (await api.client.get(f"/v1/images/{image}", headers=bearer(owner))).json()["title"] == "Mine"
    # Nor can one put one's own image in another's album.
    own = (await declare(api, intruder)).json()["image_id"]
    mine = await new_album(api, owner)
    refused = await api.client.patch(f"/v1/images/{own}", headers=bearer(intruder), json={"album_ids": [mine]})
    assert refused.status_code == 404


async def test_delete_goes_to_the_trash_and_restore_brings_it_back_into_its_album(api: RunningSystem) -> None:
    token = await api.user_token("max")
    album = await new_album(api, token)
    uploaded = await upload(api.client, token, make_png(40, 30), album_id=album)
    await wait_processed(api.client, token, uploaded.image_id)
    before = int(time.time() * 1000)
    deleted = await api.client.delete(f"/v1/images/{uploaded.image_id}", headers=bearer(token))
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted"] is True
    retention_ms = 30 * 24 * 3600 * 1000
    assert before + retention_ms <= deleted.json()["deletes_at_ms"] <= int(time.time() * 1000) + retention_ms
    trashed = (await api.client.get(f"/v1/images/{uploaded.image_id}", headers=bearer(token))).json()
    assert trashed["status"] == "trashed"
    assert (await api.client.get("/v1/images", headers=bearer(token))).json()["images"] == []
    assert (await api.client.get(f"/v1/albums/{album}/images", headers=bearer(token))).json()["images"] == []
    view = await api.client.get(f"/v1/images/{uploaded.image_id}:view", headers=bearer(token))
    assert view.status_code == 409
    assert "trash" in view.json()["message"]
    again = await api.client.delete(f"/v1/images/{uploaded.image_id}", headers=bearer(token))
    assert again.status_code == 404

    restored = await api.client.post(f"/v1/images/{uploaded.image_id}:restore", headers=bearer(token))
    assert restored.status_code == 200, restored.text
    assert (restored.json()["status"], restored.json()["album_ids"]) == ("ready", [album])
    listed = (await api.client.get(f"/v1/albums/{album}/images", headers=bearer(token))).json()["images"]
    assert [i["image_id"] for i in listed] == [uploaded.image_id]
    assert (await api.client.get(f"/v1/images/{uploaded.image_id}:view", headers=bearer(token))).status_code == 200
    assert (await api.client.post(f"/v1/images/{uploaded.image_id}:restore", headers=bearer(token))).status_code \
        == 404


async def test_deleting_an_image_never_uploaded_deletes_it_at_once(api: RunningSystem) -> None:
    token = await api.user_token("ned")
    image = (await declare(api, token)).json()["image_id"]
    deleted = (await api.client.delete(f"/v1/images/{image}", headers=bearer(token))).json()
    assert deleted["deleted"] is True
    assert deleted["deletes_at_ms"] <= int(time.time() * 1000)
    assert (await api.client.get(f"/v1/images/{image}", headers=bearer(token))).status_code == 404


async def test_each_variant_has_its_own_type_and_name(api: RunningSystem) -> None:
    token = await api.user_token("oda")
    uploaded = await upload(api.client, token, make_png(1600, 1200), filename="cat.png")
    body = await wait_processed(api.client, token, uploaded.image_id)
    assert {v["name"] for v in body["variants"]} == {"thumb", "medium"}
    medium = next(v for v in body["variants"] if v["name"] == "medium")
    assert max(medium["width"], medium["height"]) == 1280
    async with httpx.AsyncClient(timeout=30) as storage:
        for variant in ("thumb", "medium", "original"):
            for route in (":view", ":download"):
                signed = await api.client.get(f"/v1/images/{uploaded.image_id}{route}", headers=bearer(token),
                                              params={"variant": variant})
                assert signed.status_code == 200, signed.text
                answer = signed.json()
                got = await storage.get(answer["url"])
                assert got.status_code == 200
                served = got.headers["content-type"].split(";")[0]
                if variant == "original":
                    assert (answer["filename"], answer["content_type"], served) == ("cat.png", "image/png",
                                                                                   "image/png")
                else:
                    extension = {"image/jpeg": "jpg", "image/webp": "webp"}[answer["content_type"]]
                    assert answer["filename"] == f"cat-{variant}.{extension}"
                    assert served == answer["content_type"]
                    assert got.content[:4] != b"\x89PNG"
                if route == ":download":
                    assert got.headers["content-disposition"].startswith("attachment")
                    assert answer["filename"] in got.headers["content-disposition"]
    unknown = await api.client.get(f"/v1/images/{uploaded.image_id}:view", headers=bearer(token),
                                   params={"variant": "huge"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "NOT_FOUND"


@pytest.fixture
async def idle_compute(system_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
                       ) -> AsyncIterator[RunningSystem]:
    """A system whose compute runs no built-in work: every variant stays `processing`."""
    monkeypatch.setenv("SHOEBOX_COMPUTE_BUILTIN_SLOTS", "0")
    async with run_system(system_settings()) as running:
        yield running


async def test_a_variant_still_processing_is_a_409_with_a_retry_hint(idle_compute: RunningSystem) -> None:
    api = idle_compute
    token = await api.user_token("pia")
    uploaded = await upload(api.client, token, make_png(64, 64))
    async with asyncio.timeout(30):
        while True:
            body = (await api.client.get(f"/v1/images/{uploaded.image_id}", headers=bearer(token))).json()
            if body["status"] == "processing":
                break
            await asyncio.sleep(0.1)
    for variant in ("thumb", "medium"):
        response = await api.client.get(f"/v1/images/{uploaded.image_id}:view", headers=bearer(token),
                                        params={"variant": variant})
        assert response.status_code == 409, response.text
        assert int(response.headers["retry-after"]) > 0
        answer = response.json()
        assert answer["error"] == "CONFLICT"
        assert "processing" in answer["message"]
        assert answer["details"][0]["retry_after_sec"] == int(response.headers["retry-after"])
        assert answer["requestId"] == response.headers["x-request-id"]
    # The original is there already.
    assert (await api.client.get(f"/v1/images/{uploaded.image_id}:view", headers=bearer(token))).status_code == 200


async def test_a_public_image_is_read_without_a_token_and_a_private_one_is_not_found(api: RunningSystem) -> None:
    owner, stranger = await api.user_token("quin"), await api.user_token("rex")
    public = await upload(api.client, owner, make_png(48, 48), visibility="public", title="Open")
    private = await upload(api.client, owner, make_png(49, 49), title="Closed")
    await wait_processed(api.client, owner, public.image_id)
    await wait_processed(api.client, owner, private.image_id)
    for headers in ({}, bearer(stranger)):
        got = await api.client.get(f"/v1/images/{public.image_id}", headers=headers)
        assert got.status_code == 200, got.text
        assert got.json()["title"] == "Open"
        assert got.json()["replicas"] == []
        assert got.json()["album_ids"] == []
        for variant in ("thumb", "medium", "original"):
            view = await api.client.get(f"/v1/images/{public.image_id}:view", headers=headers,
                                        params={"variant": variant})
            assert view.status_code == 200, view.text
        for path in (f"/v1/images/{private.image_id}", f"/v1/images/{private.image_id}:view",
                     f"/v1/images/{private.image_id}:download"):
            refused = await api.client.get(path, headers=headers)
            assert refused.status_code == 404, f"{path}: {refused.text}"
            assert refused.json()["error"] == "NOT_FOUND"
    # A token that is sent is verified, even for a public image.
    forged = await api.client.get(f"/v1/images/{public.image_id}", headers=bearer("not-a-token"))
    assert forged.status_code == 401
    # Made private again, it is closed at once; nobody but the owner may change it.
    assert (await api.client.patch(f"/v1/images/{public.image_id}", json={"visibility": "private"})).status_code \
        == 401
    await api.client.patch(f"/v1/images/{public.image_id}", headers=bearer(owner), json={"visibility": "private"})
    assert (await api.client.get(f"/v1/images/{public.image_id}")).status_code == 404
    assert (await api.client.get("/v1/images")).status_code == 401  # one's own list needs one's token
