"""File data through the one port: ML indexes stored verbatim with INVALID_VERSION conflicts, fetches and
the status diff with the real server's shapes, preview videos uploaded to presigned objects and committed
with their playlist, public links' reads, other people's files (404), and what happens to a file's data
when the file is deleted for good or its preview upload is never committed."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
from sqlalchemy import select, update

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import commit, header, new_album, user_id
from shoebox_metadata.filedata.service import FileDataStore
from shoebox_metadata.models import FileData, FileDataUpload, Item

MiB = 1024 * 1024


def ml(n: int | str, **extra: Any) -> dict[str, Any]:
    return {"type": "mldata", "encryptedData": f"sealed-index-{n}", "decryptionHeader": f"header-{n}", **extra}


async def put_ml(api: RunningSystem, token: str, file_id: int, n: int | str = 0, **extra: Any) -> httpx.Response:
    return await api.client.put("/files/data", headers=header(token), json={"fileID": file_id, **ml(n), **extra})


async def status_diff(api: RunningSystem, token: str, since: int) -> list[dict[str, Any]] | None:
    response = await api.client.post("/files/data/status-diff", headers=header(token), json={"lastUpdatedAt": since})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"diff"}
    diff: list[dict[str, Any]] | None = response.json()["diff"]
    return diff


def store(api: RunningSystem) -> FileDataStore:
    found: FileDataStore = api.services["metadata"].app.state.container.file_data
    return found


def completion_xml(parts: list[tuple[int, str]]) -> str:
    """What a client POSTs to a multipart upload's completeURL."""
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts)
    return f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>"


async def storage_put(url: str, data: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as storage:
        return await storage.put(url, content=data)


async def test_an_ml_index_is_stored_verbatim_and_versioned(api: RunningSystem) -> None:
    token = await api.user_token("rosa")
    album = await new_album(api, token)
    file, bare = (await commit(api, token, album))["id"], (await commit(api, token, album))["id"]
    assert await status_diff(api, token, 0) is None, "null when nothing changed, as on the real server"

    stored = await put_ml(api, token, file, 1, lastUpdatedAt=0)
    assert (stored.status_code, stored.json()) == (200, {})
    one = await api.client.get("/files/data/fetch", headers=header(token), params={"fileID": file, "type": "mldata"})
    entity = one.json()["data"]
    assert set(one.json()) == {"data"}
    assert {k: v for k, v in entity.items() if k != "updatedAt"} == {
        "fileID": file, "type": "mldata", "encryptedData": "sealed-index-1", "decryptionHeader": "header-1"}

    many = await api.client.post("/files/data/fetch", headers=header(token),
                                 json={"fileIDs": [file, bare, file], "type": "mldata"})
    assert many.json() == {"data": [entity], "pendingIndexFileIDs": [bare], "errFileIDs": []}
    for params in ({"fileID": bare, "type": "mldata"}, {"fileID": file, "type": "vid_preview"}):
        missing = await api.client.get("/files/data/fetch", headers=header(token), params=params)
        assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND"), params
        quiet = await api.client.get("/files/data/fetch", headers=header(token),
                                     params={**params, "preferNoContent": "true"})
        assert (quiet.status_code, quiet.content) == (204, b"")

    # Optimistic updates: lastUpdatedAt must be the stored updatedAt.
    stale = await put_ml(api, token, file, 2, lastUpdatedAt=entity["updatedAt"] - 1)
    assert (stale.status_code, stale.json()["code"], stale.json()["message"]) == (
        409, "INVALID_VERSION", f"version mismatch expected {entity['updatedAt']}, found {entity['updatedAt'] - 1}")
    fresh = await put_ml(api, token, bare, 2, lastUpdatedAt=5)
    assert (fresh.status_code, fresh.json()["code"], fresh.json()["message"]) == (
        409, "INVALID_VERSION", "non zero version empty data")
    assert (await put_ml(api, token, file, 3, lastUpdatedAt=entity["updatedAt"])).status_code == 200
    assert (await put_ml(api, token, file, 4)).status_code == 200, "without lastUpdatedAt, no check"
    latest = (await api.client.get("/files/data/fetch", headers=header(token),
                                   params={"fileID": file, "type": "mldata"})).json()["data"]
    assert latest["encryptedData"] == "sealed-index-4"
    assert latest["updatedAt"] > entity["updatedAt"]

    refusals: list[tuple[dict[str, Any], str]] = [
        ({"fileID": file, "type": "vid_preview", "encryptedData": "d", "decryptionHeader": "h"}, "BAD_REQUEST"),
        ({"fileID": file, "type": "mldata", "encryptedData": "d"}, "BAD_REQUEST"),
        ({"fileID": file, "type": "mldata", "encryptedData": "", "decryptionHeader": "h"}, "BAD_REQUEST"),
        ({"fileID": file, "type": "file", "encryptedData": "d", "decryptionHeader": "h"}, "VALIDATION_ERROR"),
        ({"fileID": 0, **ml(5)}, "VALIDATION_ERROR"),
        ({"fileID": 2**63, **ml(5)}, "VALIDATION_ERROR"),
        ({"fileID": file, **ml(5), "encryptedData": "x" * (6 * MiB + 1)}, "VALIDATION_ERROR"),
        ({"fileID": file, **ml(5), "decryptionHeader": "h\x00"}, "VALIDATION_ERROR"),
    ]
    for body, code in refusals:
        refused = await api.client.put("/files/data", headers=header(token), json=body)
        assert (refused.status_code, refused.json()["code"]) == (400, code), {k: str(v)[:40] for k, v in body.items()}
    for body in ({"fileIDs": [], "type": "mldata"}, {"fileIDs": list(range(1, 202)), "type": "mldata"},
                 {"fileIDs": [file], "type": "img_preview"}):
        refused = await api.client.post("/files/data/fetch", headers=header(token), json=body)
        assert refused.status_code == 400, body
    big = await put_ml(api, token, file, 6, encryptedData="y" * (5 * MiB))
    assert big.status_code == 200, "an index of a few MB fits"


async def test_the_status_diff_is_the_owners_and_exact_under_concurrent_writes(api: RunningSystem) -> None:
    owner, sharee = await api.user_token("sara"), await api.user_token("tomas")
    album = await new_album(api, owner)
    files = [(await commit(api, owner, album))["id"] for _ in range(20)]
    shared = await api.client.post("/collections/share", headers=header(owner), json={
        "collectionID": album, "email": "tomas@example.com", "role": "COLLABORATOR", "encryptedKey": "k"})
    assert shared.status_code == 200, shared.text

    writing, since = True, 0
    seen: list[tuple[int, int]] = []

    async def page() -> None:
        nonlocal since
        while True:
            quiet = not writing
            diff = await status_diff(api, owner, since) or []
            for entry in diff:
                seen.append((entry["fileID"], entry["updatedAt"]))
                since = max(since, entry["updatedAt"])
            if quiet and not diff:
                return
            await asyncio.sleep(0)

    async def write() -> None:
        nonlocal writing
        try:
            # Half by the owner, half by the collaborator (for the owner's files, so in the owner's diff).
            writers = [put_ml(api, owner if n % 2 else sharee, f, n) for n, f in enumerate(files)]
            results = await asyncio.gather(*writers)
            assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
        finally:
            writing = False

    await asyncio.gather(page(), write())
    assert len(seen) == len(set(seen)) == 20, "every change once"
    assert sorted(f for f, _ in seen) == sorted(files)
    everything = await status_diff(api, owner, 0)
    assert everything is not None
    assert [e["updatedAt"] for e in everything] == sorted(e["updatedAt"] for e in everything), "oldest first"
    assert set(everything[0]) == {"fileID", "userID", "type", "isDeleted", "objectID", "objectNonce", "size",
                                  "updatedAt"}
    assert {(e["userID"], e["type"], e["isDeleted"], e["objectID"]) for e in everything} == {
        (user_id(owner), "mldata", False, None)}
    assert await status_diff(api, sharee, 0) is None, "the collaborator owns none of it"
    # A collaborator reads the index too; the diff pages on from the last updatedAt.
    read = await api.client.post("/files/data/fetch", headers=header(sharee), json={"fileIDs": files, "type": "mldata"})
    assert len(read.json()["data"]) == 20
    assert await status_diff(api, owner, max(e["updatedAt"] for e in everything)) is None
    for body in ({}, {"lastUpdatedAt": -1}, {"lastUpdatedAt": None}):
        refused = await api.client.post("/files/data/status-diff", headers=header(owner), json=body)
        assert (refused.status_code, refused.json()["code"], refused.json()["message"]) == (
            400, "BAD_REQUEST", "lastUpdated is required and should be greater than or equal to 0"), body


async def test_other_peoples_files_are_404_like_missing_ones(api: RunningSystem) -> None:
    owner, intruder = await api.user_token("ulla"), await api.user_token("vera")
    album = await new_album(api, owner)
    file = (await commit(api, owner, album))["id"]
    assert (await put_ml(api, owner, file)).status_code == 200
    viewer_album = await new_album(api, owner)
    viewed = (await commit(api, owner, viewer_album))["id"]
    await api.client.post("/collections/share", headers=header(owner), json={
        "collectionID": viewer_album, "email": "vera@example.com", "role": "VIEWER", "encryptedKey": "k"})

    for target in (file, 999_999_999):
        attempts: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = [
            ("PUT", "/files/data", {"fileID": target, **ml("x")}, None),
            ("GET", "/files/data/fetch", None, {"fileID": target, "type": "mldata"}),
            ("GET", "/files/data/fetch", None, {"fileID": target, "type": "mldata", "preferNoContent": "true"}),
            ("POST", "/files/data/fetch", {"fileIDs": [target], "type": "mldata"}, None),
            ("GET", "/files/data/preview", None, {"fileID": target, "type": "vid_preview"}),
            ("GET", "/files/data/preview-upload-url", None, {"fileID": target, "type": "vid_preview"}),
            ("PUT", "/files/video-data", {"fileID": target, "objectID": "pv_1", "objectSize": 1, "playlist": "p",
                                          "playlistHeader": "h"}, None),
        ]
        for method, path, body, params in attempts:
            response = await api.client.request(method, path, headers=header(intruder), json=body, params=params)
            assert response.status_code == 404, f"{method} {path} {target}: {response.status_code} {response.text}"
            assert set(response.json()) >= {"code", "message"}
    # A viewer of a shared album reads (and, as on the real server, may index) its files, but previews are
    # the owner's to upload.
    assert (await put_ml(api, intruder, viewed)).status_code == 200
    upload = await api.client.get("/files/data/preview-upload-url", headers=header(intruder),
                                  params={"fileID": viewed, "type": "vid_preview"})
    assert upload.status_code == 404
    assert (await api.client.get("/files/data/fetch", headers=header(owner),
                                 params={"fileID": file, "type": "mldata"})).json()["data"]["encryptedData"] == \
        "sealed-index-0", "untouched"


async def test_a_preview_video_is_uploaded_committed_replaced_and_read_through_a_link(api: RunningSystem) -> None:
    token = await api.user_token("wendy")
    album = await new_album(api, token)
    file = (await commit(api, token, album))["id"]
    other = (await commit(api, token, await new_album(api, token)))["id"]
    storage = api.services["metadata"].app.state.runtime.storage.primary

    single = await api.client.get("/files/data/preview-upload-url", headers=header(token),
                                  params={"fileID": file, "type": "vid_preview"})
    assert single.status_code == 200, single.text
    assert set(single.json()) == {"objectID", "url"}
    first_id = single.json()["objectID"]
    assert first_id.startswith("pv_")
    video = os.urandom(200_000)
    assert (await storage_put(single.json()["url"], video)).status_code == 200
    body = {"fileID": file, "objectID": first_id, "objectSize": len(video), "playlist": "sealed-playlist",
            "playlistHeader": "playlist-header"}
    for wrong in ({"objectSize": len(video) + 1}, {"objectID": "pv_0123456789abcdef01234567"},
                  {"playlist": ""}):
        refused = await api.client.put("/files/video-data", headers=header(token), json={**body, **wrong})
        assert refused.status_code == 400, wrong
    done = await api.client.put("/files/video-data", headers=header(token), json=body)
    assert (done.status_code, done.json()) == (200, {}), done.text
    again = await api.client.put("/files/video-data", headers=header(token), json=body)
    assert again.status_code == 200, "committing the same object again is a no-op"

    fetched = (await api.client.get("/files/data/fetch", headers=header(token),
                                    params={"fileID": file, "type": "vid_preview"})).json()["data"]
    assert (fetched["encryptedData"], fetched["decryptionHeader"], fetched["type"]) == (
        "sealed-playlist", "playlist-header", "vid_preview")
    url = (await api.client.get("/files/data/preview", headers=header(token),
                                params={"fileID": file, "type": "vid_preview"})).json()["url"]
    async with httpx.AsyncClient(timeout=60, follow_redirects=True) as fetch:
        assert (await fetch.get(url)).content == video
    [status] = [e for e in await status_diff(api, token, 0) or [] if e["fileID"] == file]
    assert (status["type"], status["objectID"], status["size"]) == (
        "vid_preview", first_id, len(video) + len("sealed-playlist") + len("playlist-header"))
    missing = await api.client.get("/files/data/preview", headers=header(token),
                                   params={"fileID": other, "type": "vid_preview"})
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")

    # A new preview in a multipart upload replaces the first, whose object is deleted.
    wrong_uploads: list[dict[str, Any]] = [{"isMultiPart": "true"}, {"isMultiPart": "true", "count": 0},
                                           {"isMultiPart": "true", "count": 10_001}, {"type": "mldata"}]
    for params in wrong_uploads:
        refused = await api.client.get("/files/data/preview-upload-url", headers=header(token),
                                       params={"fileID": file, "type": "vid_preview", **params})
        assert refused.status_code == 400, params
    multi = (await api.client.get("/files/data/preview-upload-url", headers=header(token),
                                  params={"fileID": file, "type": "vid_preview", "isMultiPart": "true",
                                          "count": 2})).json()
    assert set(multi) == {"objectID", "partURLs", "completeURL"}
    parts = [os.urandom(5 * MiB), os.urandom(1000)]
    etags = []
    for n, (part_url, data) in enumerate(zip(multi["partURLs"], parts, strict=True), start=1):
        sent = await storage_put(part_url, data)
        assert sent.status_code == 200
        etags.append((n, sent.headers["etag"]))
    async with httpx.AsyncClient(timeout=60) as complete:
        assert (await complete.post(multi["completeURL"], content=completion_xml(etags))).status_code == 200
    replaced = await api.client.put("/files/video-data", headers=header(token), json={
        **body, "objectID": multi["objectID"], "objectSize": sum(map(len, parts)), "playlist": "playlist-2"})
    assert replaced.status_code == 200, replaced.text
    async with store(api).db.transaction() as session:
        first_key = (await session.execute(select(FileData.object_key).where(FileData.item_id == file))).scalar_one()
    assert first_key is not None
    assert multi["objectID"] in first_key
    assert first_key.startswith(f"u/{user_id(token)}/")
    assert await storage.head(first_key.replace(multi["objectID"], first_id)) is None, "the old object is deleted"

    # A public link's viewer reads the preview of a file in the link's album, and nothing else.
    link = (await api.client.post("/collections/share-url", headers=header(token),
                                  json={"collectionID": album})).json()["result"]
    viewer = {"X-Auth-Access-Token": link["url"].split("t=")[1]}
    seen = await api.client.get("/public-collection/files/data/fetch", headers=viewer,
                                params={"fileID": file, "type": "vid_preview"})
    assert seen.json()["data"]["encryptedData"] == "playlist-2"
    preview = await api.client.get("/public-collection/files/data/preview", headers=viewer,
                                   params={"fileID": file, "type": "vid_preview"})
    async with httpx.AsyncClient(timeout=60, follow_redirects=True) as fetch:
        assert (await fetch.get(preview.json()["url"])).content == b"".join(parts)
    link_reads: list[tuple[dict[str, Any], int]] = [({"fileID": other, "type": "vid_preview"}, 404),
                                                    ({"fileID": file, "type": "mldata"}, 400)]
    for params, status_code in link_reads:
        refused = await api.client.get("/public-collection/files/data/fetch", headers=viewer, params=params)
        assert refused.status_code == status_code, params
    for headers in ({}, {"X-Auth-Access-Token": "forged"}):
        refused = await api.client.get("/public-collection/files/data/fetch", headers=headers)
        assert refused.status_code == 401, "the link is checked first"


async def test_uncommitted_uploads_are_swept_and_a_deleted_files_data_is_erased(api: RunningSystem) -> None:
    token = await api.user_token("xena")
    album = await new_album(api, token)
    file = (await commit(api, token, album))["id"]
    storage = api.services["metadata"].app.state.runtime.storage.primary
    assert (await put_ml(api, token, file)).status_code == 200
    handed = (await api.client.get("/files/data/preview-upload-url", headers=header(token),
                                   params={"fileID": file, "type": "vid_preview"})).json()
    assert (await storage_put(handed["url"], b"never committed")).status_code == 200
    core = store(api)
    async with core.db.transaction() as session:
        key = (await session.execute(select(FileDataUpload.object_key))).scalars().one()
    assert await core.sweep_uploads() == 0, "not lapsed yet"
    async with core.db.transaction() as session:
        await session.execute(update(FileDataUpload).values(expires_at=1))
    assert await core.sweep_uploads() == 1
    assert await storage.head(key) is None
    lapsed = await api.client.put("/files/video-data", headers=header(token), json={
        "fileID": file, "objectID": handed["objectID"], "objectSize": 15, "playlist": "p", "playlistHeader": "h"})
    assert lapsed.status_code == 400

    # What the library calls when it deletes a file for good: its entries become deleted ones.
    before = max(e["updatedAt"] for e in await status_diff(api, token, 0) or [])
    pending = (await api.client.get("/files/data/preview-upload-url", headers=header(token),
                                    params={"fileID": file, "type": "vid_preview"})).json()
    async with core.db.transaction() as session:
        item = await session.get(Item, file)
        assert item is not None
        erased = await core.erase(session, item)
    assert len(erased) == 1
    assert pending["objectID"] in erased[0], "the uncommitted upload's object goes too"
    [entry] = await status_diff(api, token, before) or []
    assert (entry["fileID"], entry["isDeleted"]) == (file, True)
    assert (await api.client.post("/files/data/fetch", headers=header(token),
                                  json={"fileIDs": [file], "type": "mldata"})).json()["data"] == []
