"""An Ente user's life in the library, through the one port, as the apps do it: sign up, encrypted
album, encrypted upload, commit, sync by diff, download and decrypt, public link, sharing, trash —
and every change seen in the diffs exactly once."""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.ente_client import EnteClient, SignedIn, code_from_log
from shoebox.testing.ente_library import Library, open_secretbox, seal_for, stream_decrypt


async def signed_in(api: RunningSystem, caplog: pytest.LogCaptureFixture, name: str) -> SignedIn:
    client = EnteClient(api.client, f"{name}@example.com", f"{name}-long-password")

    async def read_code(email: str) -> str:
        return code_from_log(caplog.records, email)

    await client.sign_up(read_code)
    return await client.sign_in()


def ids(changes: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    return [(c["id"], c["isDeleted"]) for c in changes]


async def test_an_ente_user_syncs_shares_and_trashes(system: RunningSystem, caplog: pytest.LogCaptureFixture
                                                     ) -> None:
    caplog.set_level(logging.INFO, logger="shoebox_auth.ente.mailer")
    alice = Library(system.client, await signed_in(system, caplog, "alice"))
    bob = Library(system.client, await signed_in(system, caplog, "bob"))

    album = await alice.create_album("Holidays")
    # Real clients encrypt in 4 MiB messages: the first file takes three, the last one shorter.
    first, second = os.urandom(9 * 1024 * 1024 + 77), os.urandom(1000)
    a = await alice.upload(album, first, "beach.jpg")
    b = await alice.upload(album, second, "sunset.jpg")

    # Sync from scratch: the album, its name, both files, downloaded and decrypted to the original bytes.
    listed = next(c for c in await alice.albums() if c["id"] == album.id)
    key = alice.album_key(listed)
    assert open_secretbox(key, listed["encryptedName"], listed["nameDecryptionNonce"]) == b"Holidays"
    changes, since = await alice.sync(album.id, 0, limit=1)  # one file a page: hasMore is followed
    assert ids(changes) == [(a.id, False), (b.id, False)]
    by_id = {c["id"]: c for c in changes}
    assert await alice.download(by_id[a.id], key) == first
    assert await alice.download(by_id[b.id], key) == second
    thumb = await system.client.get(f"/files/preview/{a.id}", headers=alice.user.header)
    assert thumb.status_code == 307
    assert (await alice.sync(album.id, since))[0] == [], "nothing new, nothing repeated"

    # A public link: a second client with no account opens the album and downloads a file.
    link = (await alice.call("POST", "/collections/share-url", json={"collectionID": album.id}))["result"]
    token = link["url"].split("t=")[1]
    viewer = {"X-Auth-Access-Token": token}
    info = await system.client.get("/public-collection/info", headers=viewer)
    assert info.status_code == 200
    assert info.json()["collection"]["id"] == album.id
    public = (await system.client.get("/public-collection/diff", headers=viewer)).json()
    assert {f["id"] for f in public["diff"]} == {a.id, b.id}
    public_file = next(f for f in public["diff"] if f["id"] == b.id)
    redirect = await system.client.get(f"/public-collection/files/download/{b.id}", headers=viewer)
    async with httpx.AsyncClient() as storage:
        blob = (await storage.get(redirect.headers["location"])).content
    file_key = open_secretbox(key, public_file["encryptedKey"], public_file["keyDecryptionNonce"])
    assert stream_decrypt(file_key, blob, public_file["file"]["decryptionHeader"]) == second
    assert (await system.client.get("/public-collection/info",
                                    headers={"X-Auth-Access-Token": token + "x"})).status_code == 401

    # Sharing with Bob: he finds the album, opens its key with his own, and downloads.
    found = (await alice.call("GET", "/users/public-key", params={"email": "bob@example.com"}))
    await alice.call("POST", "/collections/share", json={
        "collectionID": album.id, "email": "bob@example.com", "role": "VIEWER",
        "encryptedKey": seal_for(found["publicKey"], key)})
    shared = next(c for c in await bob.albums() if c["id"] == album.id)
    assert shared["owner"]["id"] == alice.user.user_id
    assert bob.album_key(shared) == key
    bobs_view, _ = await bob.sync(album.id, 0)
    assert await bob.download(next(c for c in bobs_view if c["id"] == a.id), key) == first
    assert (await system.client.post("/files/trash", headers=bob.user.header, json={
        "items": [{"fileID": a.id, "collectionID": album.id}]})).status_code == 404

    # Trash, restore, delete for good: each change shows once in the album's diff and the trash diff.
    await alice.call("POST", "/files/trash", json={"items": [{"fileID": a.id, "collectionID": album.id}]})
    changes, since = await alice.sync(album.id, since)
    assert ids(changes) == [(a.id, True)]
    trash, trash_since = (await alice.call("GET", "/trash/v2/diff", params={"sinceTime": 0}))["diff"], 0
    assert [(t["file"]["id"], t["isDeleted"], t["isRestored"]) for t in trash] == [(a.id, False, False)]
    trash_since = trash[-1]["updatedAt"]
    assert (await system.client.get(f"/files/download/{a.id}", headers=alice.user.header)).status_code == 404

    await alice.call("POST", "/files/restore", json={"fileIDs": [a.id]})
    changes, since = await alice.sync(album.id, since)
    assert ids(changes) == [(a.id, False)]
    assert await alice.download(changes[0], key) == first

    await alice.call("POST", "/files/trash", json={"items": [{"fileID": a.id, "collectionID": album.id}]})
    usage_before = (await alice.call("GET", "/storage/usage"))["used"]
    deleted = await system.client.post("/files/delete", headers=alice.user.header, json={"fileIDs": [b.id]})
    assert deleted.status_code == 404, "only trashed files are deleted for good"
    await alice.call("POST", "/trash/delete", json={"fileIDs": [a.id]})
    trash = (await alice.call("GET", "/trash/v2/diff", params={"sinceTime": trash_since}))["diff"]
    assert [(t["file"]["id"], t["isDeleted"], t["isRestored"]) for t in trash][-1] == (a.id, True, False)
    changes, since = await alice.sync(album.id, since)
    assert ids(changes) == [(a.id, True)]
    assert (await alice.call("GET", "/storage/usage"))["used"] < usage_before


    # Empty the trash: the second file goes the same way, once.
    await alice.call("POST", "/files/trash", json={"items": [{"fileID": b.id, "collectionID": album.id}]})
    changes, since = await alice.sync(album.id, since)
    assert ids(changes) == [(b.id, True)]
    trash = (await alice.call("GET", "/trash/v2/diff", params={"sinceTime": 0}))["diff"]
    emptied = await alice.call("POST", "/trash/empty", json={"lastUpdatedAt": max(t["updatedAt"] for t in trash)})
    assert emptied["deleted"] == 1
    assert (await alice.sync(album.id, since))[0] == [], "emptying changes nothing more in the album"
    final = {t["file"]["id"]: (t["isDeleted"], t["isRestored"]) for t in
             (await alice.call("GET", "/trash/v2/diff", params={"sinceTime": 0}))["diff"]}
    assert final == {a.id: (True, False), b.id: (True, False)}
    usage = await alice.call("GET", "/storage/usage")
    assert (usage["used"], usage["fileCount"]) == (0, 0)
