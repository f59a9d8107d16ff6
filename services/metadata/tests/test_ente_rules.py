"""The library's rules through the Ente face: commits checked against storage, other people's ids,
versioned magic metadata, exact diffs under concurrency, links, and hard delete across tiers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import update

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import commit, file_body, header, new_album, put_object, user_id
from shoebox_metadata.models import Account, PublicLink


async def test_a_commit_must_match_what_storage_holds(api: RunningSystem) -> None:
    token = await api.user_token("cora")
    album = await new_album(api, token)
    body = await file_body(api, token, album, size=100)
    for change in ({"size": 99}, {"objectKey": f"u/{user_id(token)}/e/never-uploaded"}, {"objectKey": "u/1/e/x"}):
        bad = {**body, "file": {**body["file"], **change}}
        response = await api.client.post("/files", headers=header(token), json=bad)
        assert response.status_code == 400, change
        assert response.json()["code"] == "VALIDATION_ERROR"
    first = await api.client.post("/files", headers=header(token), json=body)
    again = await api.client.post("/files", headers=header(token), json=body)
    assert first.json()["id"] == again.json()["id"], "a retried commit answers the same file"
    assert first.json()["file"]["objectKey"] == body["file"]["objectKey"]
    assert first.json()["updationTime"] > 1_600_000_000_000_000


async def test_a_commit_past_the_quota_is_refused(api: RunningSystem) -> None:
    token = await api.user_token("dina")
    album = await new_album(api, token)
    quotas = api.services["metadata"].app.state.container.quotas
    async with quotas.db.transaction() as session:
        await quotas.ensure(session, user_id(token))
        await session.execute(update(Account).where(Account.owner_id == user_id(token)).values(quota_bytes=150))
    await commit(api, token, album, size=100, thumb=10)
    response = await api.client.post("/files", headers=header(token), json=await file_body(api, token, album, size=50))
    assert (response.status_code, response.json()["code"]) == (426, "STORAGE_LIMIT_EXCEEDED")


async def test_nobody_touches_what_is_not_theirs(api: RunningSystem) -> None:
    owner, intruder = await api.user_token("ella"), await api.user_token("finn")
    album = await new_album(api, owner)
    file = await commit(api, owner, album)
    their_album = await new_album(api, intruder)
    key = {"id": file["id"], "encryptedKey": "x", "keyDecryptionNonce": "y"}
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/files/download/{file['id']}", None),
        ("GET", f"/files/preview/{file['id']}", None),
        ("POST", "/files/info", {"fileIDs": [file["id"]]}),
        ("POST", "/files/size", {"fileIDs": [file["id"]]}),
        ("POST", "/files/trash", {"items": [{"fileID": file["id"], "collectionID": album}]}),
        ("POST", "/files/delete", {"fileIDs": [file["id"]]}),
        ("POST", "/trash/delete", {"fileIDs": [file["id"]]}),
        ("POST", "/files/restore", {"fileIDs": [file["id"]]}),
        ("PUT", "/files/magic-metadata", {"metadataList": [{"id": file["id"], "magicMetadata": {
            "version": 0, "count": 1, "data": "d", "header": "h"}}]}),
        ("GET", f"/collections/v2/diff?collectionID={album}&sinceTime=0", None),
        ("POST", "/collections/add-files", {"collectionID": album, "files": [key]}),
        ("POST", "/collections/add-files", {"collectionID": their_album, "files": [key]}),
        ("POST", "/collections/move-files", {"fromCollectionID": album, "toCollectionID": their_album, "files": [key]}),
        ("POST", "/collections/v3/remove-files", {"collectionID": album, "fileIDs": [file["id"]]}),
        ("POST", "/collections/share-url", {"collectionID": album}),
        ("POST", "/files", await file_body(api, intruder, album)),
    ]
    for method, path, body in attempts:
        response = await api.client.request(method, path, headers=header(intruder), json=body)
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
        assert set(response.json()) >= {"code", "message"}
    assert [c["id"] for c in (await api.client.get("/collections/v2", headers=header(intruder))).json()[
        "collections"]] == [their_album]
    # And the owner still has it all.
    info = await api.client.post("/files/info", headers=header(owner), json={"fileIDs": [file["id"]]})
    assert info.json()["filesInfo"][0]["fileInfo"] == {"fileSize": 100, "thumbSize": 10}


async def test_magic_metadata_is_versioned_and_a_stale_write_is_a_conflict(api: RunningSystem) -> None:
    token = await api.user_token("gus")
    album = await new_album(api, token)
    file = await commit(api, token, album)

    def update_to(version: int, data: str) -> dict[str, Any]:
        return {"metadataList": [{"id": file["id"], "magicMetadata": {
            "version": version, "count": 1, "data": data, "header": "h"}}]}

    assert (await api.client.put("/files/magic-metadata", headers=header(token), json=update_to(0, "a"))
            ).status_code == 200
    stale = await api.client.put("/files/magic-metadata", headers=header(token), json=update_to(0, "b"))
    assert (stale.status_code, stale.json()["code"]) == (409, "CONFLICT")
    assert (await api.client.put("/files/magic-metadata", headers=header(token), json=update_to(1, "c"))
            ).status_code == 200
    diff = (await api.client.get("/collections/v2/diff", headers=header(token),
                                 params={"collectionID": album, "sinceTime": file["updationTime"]})).json()
    assert [(f["id"], f["magicMetadata"]["data"], f["magicMetadata"]["version"]) for f in diff["diff"]] == [
        (file["id"], "c", 2)]


async def test_a_diff_taken_during_fifty_concurrent_commits_misses_and_repeats_nothing(api: RunningSystem) -> None:
    token = await api.user_token("hana")
    album = await new_album(api, token)
    bodies = [await file_body(api, token, album, size=10, thumb=1) for _ in range(50)]
    seen: list[int] = []
    since = 0

    async def sync_once() -> None:
        nonlocal since
        while True:
            body = (await api.client.get("/collections/v2/diff", headers=header(token), params={
                "collectionID": album, "sinceTime": since, "limit": 7})).json()
            seen.extend(f["id"] for f in body["diff"])
            if body["diff"]:
                since = body["diff"][-1]["updationTime"]
            if not body["hasMore"]:
                return

    async def syncing() -> None:
        for _ in range(20):
            await sync_once()
            await asyncio.sleep(0.01)

    commits = [api.client.post("/files", headers=header(token), json=b) for b in bodies]
    results = await asyncio.gather(syncing(), *commits)
    await sync_once()
    committed = sorted(r.json()["id"] for r in results[1:] if r is not None)
    assert sorted(seen) == committed, "every file once: none missed, none repeated"


async def test_password_protected_expiring_and_revoked_links(api: RunningSystem) -> None:
    token = await api.user_token("ivy")
    album = await new_album(api, token)
    await commit(api, token, album)
    link = (await api.client.post("/collections/share-url", headers=header(token),
                                  json={"collectionID": album})).json()["result"]
    viewer = {"X-Auth-Access-Token": link["url"].split("t=")[1]}
    assert (await api.client.get("/public-collection/info", headers=viewer)).status_code == 200
    protected = await api.client.put("/collections/share-url", headers=header(token), json={
        "collectionID": album, "passHash": "derived-by-the-client", "nonce": "n", "memLimit": 1, "opsLimit": 1})
    assert protected.json()["result"]["passwordEnabled"] is True
    assert (await api.client.get("/public-collection/info", headers=viewer)).status_code == 401
    wrong = await api.client.post("/public-collection/verify-password", headers=viewer, json={"passHash": "nope"})
    assert wrong.status_code == 401
    right = await api.client.post("/public-collection/verify-password", headers=viewer,
                                  json={"passHash": "derived-by-the-client"})
    jwt_header = {**viewer, "X-Auth-Access-Token-JWT": right.json()["jwtToken"]}
    assert (await api.client.get("/public-collection/diff", headers=jwt_header)).status_code == 200
    db = api.services["metadata"].app.state.runtime.db
    async with db.transaction() as session:
        password = (await session.execute(PublicLink.__table__.select())).first()
    assert password is not None
    assert password.password_hash.startswith("$argon2"), "stored hashed"

    async with db.transaction() as session:
        await session.execute(update(PublicLink).values(valid_till=1))
    assert (await api.client.get("/public-collection/info", headers=jwt_header)).status_code == 410
    await api.client.delete(f"/collections/share-url/{album}", headers=header(token))
    assert (await api.client.get("/public-collection/info", headers=jwt_header)).status_code == 401


async def test_a_hard_delete_removes_the_objects_of_every_tier(system: RunningSystem) -> None:
    token = await system.user_token("jade")
    album = await new_album(system, token)
    file = await commit(system, token, album)
    storage = system.services["metadata"].app.state.runtime.storage
    keys = [file["file"]["objectKey"], file["thumbnail"]["objectKey"]]

    async def present(tier: str) -> list[bool]:
        return [await storage.tier(tier).head(k) is not None for k in keys]

    async with asyncio.timeout(30):
        while await present("secondary") != [True, True]:
            await asyncio.sleep(0.05)
    await system.client.post("/files/trash", headers=header(token),
                             json={"items": [{"fileID": file["id"], "collectionID": album}]})
    assert await present("primary") == [True, True], "trash keeps the objects"
    await system.client.post("/trash/empty", headers=header(token), json={"lastUpdatedAt": 2**62})
    async with asyncio.timeout(30):
        while await present("primary") != [False, False] or await present("secondary") != [False, False]:
            await asyncio.sleep(0.05)
    usage = (await system.client.get("/storage/usage", headers=header(token))).json()
    assert (usage["used"], usage["fileCount"]) == (0, 0)


async def test_objects_outside_the_owners_prefix_are_never_committed(api: RunningSystem) -> None:
    owner, other = await api.user_token("kai"), await api.user_token("lou")
    album = await new_album(api, other)
    stolen = await put_object(api, user_id(owner), 10)
    body = await file_body(api, other, album)
    body["file"] = {"objectKey": stolen, "decryptionHeader": "h", "size": 10}
    response = await api.client.post("/files", headers=header(other), json=body)
    assert response.status_code == 400


async def test_downloads_fall_back_to_the_other_tiers_when_primary_lost_the_object(system: RunningSystem) -> None:
    token = await system.user_token("max")
    album = await new_album(system, token)
    file = await commit(system, token, album)
    storage = system.services["metadata"].app.state.runtime.storage
    key = file["file"]["objectKey"]
    async with asyncio.timeout(30):
        while await storage.tier("secondary").head(key) is None:
            await asyncio.sleep(0.05)
    original = await storage.primary.get_bytes(key)
    await storage.primary.delete(key)
    redirect = await system.client.get(f"/files/download/{file['id']}", headers=header(token))
    assert redirect.status_code == 307
    async with httpx.AsyncClient() as client:
        assert (await client.get(redirect.headers["location"])).content == original
    await storage.tier("secondary").delete(key)
    gone = await system.client.get(f"/files/download/{file['id']}", headers=header(token))
    assert gone.status_code == 404


async def test_sharing_roles_and_unsharing(api: RunningSystem) -> None:
    owner, viewer, helper = (await api.user_token("nora"), await api.user_token("oscar"), await api.user_token("pam"))
    album = await new_album(api, owner)
    file = await commit(api, owner, album)

    async def share(email: str, role: str) -> int:
        response = await api.client.post("/collections/share", headers=header(owner), json={
            "collectionID": album, "email": email, "role": role, "encryptedKey": "sealed"})
        return response.status_code

    assert await share("oscar@example.com", "VIEWER") == 200
    assert await share("pam@example.com", "COLLABORATOR") == 200
    assert await share("nobody@example.com", "VIEWER") == 404
    assert await share("oscar@example.com", "OWNER") == 400
    listed = (await api.client.get("/collections/v2", headers=header(viewer))).json()["collections"]
    assert [(c["id"], c["encryptedKey"], c["keyDecryptionNonce"]) for c in listed] == [(album, "sealed", "")]
    assert (await api.client.get(f"/files/download/{file['id']}", headers=header(viewer))).status_code == 307

    # A viewer adds nothing; a collaborator adds their own files, and removes only those.
    mine = await commit(api, helper, await new_album(api, helper))
    key = {"id": mine["id"], "encryptedKey": "k", "keyDecryptionNonce": "n"}
    assert (await api.client.post("/collections/add-files", headers=header(viewer),
                                  json={"collectionID": album, "files": [key]})).status_code == 404
    assert (await api.client.post("/collections/add-files", headers=header(helper),
                                  json={"collectionID": album, "files": [key]})).status_code == 200
    assert (await api.client.post("/collections/v3/remove-files", headers=header(helper),
                                  json={"collectionID": album, "fileIDs": [file["id"]]})).status_code == 404
    assert (await api.client.post("/collections/v3/remove-files", headers=header(helper),
                                  json={"collectionID": album, "fileIDs": [mine["id"]]})).status_code == 200

    unshared = await api.client.post("/collections/unshare", headers=header(owner),
                                     json={"collectionID": album, "email": "oscar@example.com"})
    assert [s["email"] for s in unshared.json()["sharees"]] == ["pam@example.com"]
    assert (await api.client.get(f"/files/download/{file['id']}", headers=header(viewer))).status_code == 404
    gone = (await api.client.get("/collections/v2", headers=header(viewer))).json()["collections"]
    assert [(c["id"], c["isDeleted"]) for c in gone] == [(album, True)]
