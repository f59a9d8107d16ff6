"""Deleting an account through auth erases its library through events (issue 10): its files leave the
albums of others, whose clients see it on their next sync, and its objects leave storage."""

from __future__ import annotations

import asyncio

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import commit, header, new_album, user_id


async def test_a_deleted_accounts_files_leave_others_albums_and_storage(api: RunningSystem) -> None:
    alice, bob = await api.user_token("alma"), await api.user_token("bert")
    shared = await new_album(api, alice)
    sharing = await api.client.post("/collections/share", headers=header(alice), json={
        "collectionID": shared, "email": "bert@example.com", "role": "COLLABORATOR", "encryptedKey": "sealed"})
    assert sharing.status_code == 200, sharing.text
    his = await commit(api, bob, shared)
    before = (await api.client.get("/collections/v2", headers=header(alice), params={"sinceTime": 0})).json()
    since = max(c["updationTime"] for c in before["collections"])

    admin = {"Authorization": f"Bearer {await api.token()}"}
    assert (await api.client.delete(f"/users/{user_id(bob)}", headers=admin)).status_code == 204

    storage = api.services["metadata"].app.state.runtime.storage.primary
    async with asyncio.timeout(30):
        while True:  # the event travels; poll as a client would
            changed = (await api.client.get("/collections/v2", headers=header(alice),
                                            params={"sinceTime": since})).json()["collections"]
            if changed:
                break
            await asyncio.sleep(0.1)
    (album,) = changed
    assert (album["id"], album["sharees"]) == (shared, [])
    diff = (await api.client.get("/collections/v2/diff", headers=header(alice),
                                 params={"collectionID": shared, "sinceTime": since})).json()["diff"]
    assert [(d["id"], d["isDeleted"]) for d in diff] == [(his["id"], True)]
    assert diff[0]["updationTime"] == album["updationTime"]
    async with asyncio.timeout(30):
        while await storage.head(his["file"]["objectKey"]) is not None:
            await asyncio.sleep(0.1)
    assert await storage.head(his["thumbnail"]["objectKey"]) is None
