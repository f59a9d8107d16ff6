"""A guest of an upload-enabled public link uploads within that link's limits, paid by the owner."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select, update

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import header, new_album, user_id
from shoebox_metadata.models import PublicLink
from shoebox_uploads.models import UploadSession


async def open_link(api: RunningSystem, token: str, album: int, **settings: object) -> dict[str, str]:
    created = await api.client.post("/collections/share-url", headers=header(token), json={"collectionID": album})
    if settings:
        await api.client.put("/collections/share-url", headers=header(token),
                             json={"collectionID": album, **settings})
    return {"X-Auth-Access-Token": created.json()["result"]["url"].split("t=")[1]}


async def test_a_guest_uploads_and_commits_into_the_album(system: RunningSystem) -> None:
    token = await system.user_token("zoe")
    owner = user_id(token)
    album = await new_album(system, token)
    guest = await open_link(system, token, album, enableCollect=True)

    urls = (await system.client.get("/public-collection/upload-urls", params={"count": 2}, headers=guest)).json()
    keys = [u["objectKey"] for u in urls["urls"]]
    assert all(k.startswith(f"u/{owner}/p/{album}/") for k in keys)
    async with httpx.AsyncClient() as storage:
        for u, data in zip(urls["urls"], (b"guest photo", b"thumb"), strict=True):
            assert (await storage.put(u["url"], content=data)).status_code == 200
    committed = await system.client.post("/public-collection/file", headers=guest, json={
        "collectionID": album, "encryptedKey": "ek", "keyDecryptionNonce": "kn",
        "file": {"objectKey": keys[0], "decryptionHeader": "h", "size": 11},
        "thumbnail": {"objectKey": keys[1], "decryptionHeader": "h", "size": 5},
        "metadata": {"encryptedData": "m", "decryptionHeader": "h"}})
    assert committed.status_code == 200, committed.text
    assert committed.json()["ownerID"] == owner

    diff = (await system.client.get("/collections/v2/diff", headers=header(token),
                                    params={"collectionID": album, "sinceTime": 0})).json()["diff"]
    assert [f["id"] for f in diff] == [committed.json()["id"]]
    usage = (await system.client.get("/storage/usage", headers=header(token))).json()
    assert (usage["used"], usage["fileCount"]) == (16, 1)
    db = system.services["uploads"].app.state.runtime.db
    async with asyncio.timeout(20):
        while True:
            async with db.transaction() as session:
                states = set((await session.execute(select(UploadSession.status).where(
                    UploadSession.object_key.in_(keys)))).scalars())
            if states == {"committed"}:
                break
            await asyncio.sleep(0.05)

    parts = (await system.client.get("/public-collection/multipart-upload-urls", params={"count": 2},
                                     headers=guest)).json()["urls"]
    assert len(parts["partURLs"]) == 2
    assert parts["objectKey"].startswith(f"u/{owner}/p/{album}/")


async def test_the_links_limits_hold(api: RunningSystem) -> None:
    token = await api.user_token("zack")
    album = await new_album(api, token)
    viewing_only = await open_link(api, token, album)
    refused = await api.client.get("/public-collection/upload-urls", params={"count": 1}, headers=viewing_only)
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    forged = await api.client.get("/public-collection/upload-urls", params={"count": 1},
                                  headers={"X-Auth-Access-Token": "forged"})
    assert forged.status_code == 401
    assert (await api.client.get("/public-collection/upload-urls", params={"count": 1})).status_code == 401

    await api.client.put("/collections/share-url", headers=header(token), json={
        "collectionID": album, "enableCollect": True, "passHash": "secret", "nonce": "n", "memLimit": 1,
        "opsLimit": 1})
    locked = await api.client.get("/public-collection/upload-urls", params={"count": 1}, headers=viewing_only)
    assert locked.status_code == 401, "a password link needs its password token first"
    jwt = (await api.client.post("/public-collection/verify-password", headers=viewing_only,
                                 json={"passHash": "secret"})).json()["jwtToken"]
    unlocked = {**viewing_only, "X-Auth-Access-Token-JWT": jwt}
    assert (await api.client.get("/public-collection/upload-urls", params={"count": 1}, headers=unlocked)
            ).status_code == 200
    assert (await api.client.get("/public-collection/upload-urls", params={"count": 51}, headers=unlocked)
            ).status_code == 400

    db = api.services["metadata"].app.state.runtime.db
    async with db.transaction() as session:
        await session.execute(update(PublicLink).values(valid_till=1))
    expired = await api.client.get("/public-collection/upload-urls", params={"count": 1}, headers=unlocked)
    assert expired.status_code == 410
