"""Seed 000's extra routes and seed 003's image shares."""

from __future__ import annotations

import asyncio

import httpx

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import commit, file_body, header, new_album, put_object, user_id
from shoebox.testing.flow import bearer, make_png, upload, wait_processed


async def test_collections_list_accepts_iso_times_and_answers_both_shapes(api: RunningSystem) -> None:
    token = await api.user_token("mia")
    album = await new_album(api, token)
    listed = (await api.client.get("/collections", headers=header(token),
                                   params={"sinceTime": "2000-01-01T00:00:00Z"})).json()
    assert [c["id"] for c in listed["collections"]] == [album]
    assert listed["nextSince"] == listed["collections"][0]["updationTime"]
    later = (await api.client.get("/collections/v2", headers=header(token),
                                  params={"sinceTime": listed["nextSince"]})).json()
    assert later["collections"] == []
    bad = await api.client.get("/collections/v2", headers=header(token), params={"sinceTime": "yesterday"})
    assert bad.status_code == 400


async def test_thumbnail_replacement_duplicates_info_and_size(api: RunningSystem) -> None:
    token = await api.user_token("nina")
    album = await new_album(api, token)
    first = await commit(api, token, album, size=100, thumb=10, sha256="ab" * 32)
    await commit(api, token, album, size=100, thumb=10, sha256="ab" * 32)
    await commit(api, token, album, size=50, thumb=5, sha256="cd" * 32)
    groups = (await api.client.get("/files/duplicates", headers=header(token))).json()["duplicates"]
    assert [(g["sha256"], len(g["fileIDs"])) for g in groups] == [("ab" * 32, 2)]

    new_thumb = await put_object(api, user_id(token), 20)
    replaced = await api.client.put("/files/thumbnail", headers=header(token), json={
        "fileID": first["id"], "thumbnail": {"objectKey": new_thumb, "decryptionHeader": "t2", "size": 20}})
    assert replaced.status_code == 200
    size = (await api.client.post("/files/size", headers=header(token), json={"fileIDs": [first["id"]]})).json()
    assert size["size"] == 120
    usage = (await api.client.get("/storage/usage", headers=header(token))).json()
    assert usage["used"] == 120 + 110 + 55
    refreshed = (await api.client.post("/storage/refresh", headers=header(token))).json()
    assert (refreshed["used"], refreshed["fileCount"]) == (285, 3)


async def test_public_collections_and_guest_commits(api: RunningSystem) -> None:
    token = await api.user_token("otto")
    album = await new_album(api, token)
    file = await commit(api, token, album)
    created = (await api.client.post("/public/collections", headers=header(token),
                                     json={"collectionID": album, "enableCollect": True})).json()
    assert created["url"] == f"/albums/collection/{created['token']}"
    opened = await api.client.get(f"/public/collections/{created['token']}")
    assert opened.status_code == 307
    preview = await api.client.get(f"/public/collections/{created['token']}/preview/{file['id']}")
    assert preview.status_code == 307

    # A guest commits into the album, with objects under the link's own prefix, counted against the owner.
    storage = api.services["metadata"].app.state.runtime.storage
    prefix = f"u/{user_id(token)}/p/{album}/"
    await storage.primary.put_bytes(prefix + "f", b"x" * 30)
    await storage.primary.put_bytes(prefix + "t", b"y" * 3)
    body = await file_body(api, token, album)
    body["file"] = {"objectKey": prefix + "f", "decryptionHeader": "h", "size": 30}
    body["thumbnail"] = {"objectKey": prefix + "t", "decryptionHeader": "h", "size": 3}
    guest = await api.client.post(f"/public/collections/{created['token']}/commit-file", json=body)
    assert guest.status_code == 200, guest.text
    assert guest.json()["ownerID"] == user_id(token)
    # Objects outside the link's prefix, even the owner's own, are refused to a guest.
    body["file"] = {**body["file"], "objectKey": (await file_body(api, token, album))["file"]["objectKey"]}
    assert (await api.client.post(f"/public/collections/{created['token']}/commit-file", json=body)
            ).status_code == 400


async def test_storage_reports_and_admin_routes(system: RunningSystem) -> None:
    token = await system.user_token("pia")
    album = await new_album(system, token)
    await commit(system, token, album, size=100, thumb=10)
    async with asyncio.timeout(30):
        while (await system.client.get("/storage/detailed-usage", headers=header(token))).json()[
                "tier_breakdown"]["secondary"]["usage"] < 110:
            await asyncio.sleep(0.05)
    detailed = (await system.client.get("/storage/detailed-usage", headers=header(token))).json()
    assert detailed["quota_usage"]["used"] == 110
    assert detailed["tier_breakdown"]["secondary"]["counts_against_quota"] is False
    assert detailed["replication_summary"]["replication_ratio"] == 1.0
    tiers = (await system.client.get("/storage/tier-quotas", headers=header(token))).json()["tiers"]
    assert tiers["primary"]["used"] == 110
    assert tiers["secondary"]["quota"] is None
    info = (await system.client.get("/storage/replication-info", headers=header(token))).json()
    assert info["replicas"] == ["secondary"]

    uid = user_id(token)
    for method, path, body in (("PUT", f"/storage/admin/quota/{uid}", {"quota": 5000}),
                               ("POST", f"/storage/admin/bonus/{uid}", {"bonus": 100}),
                               ("GET", f"/storage/admin/usage/{uid}", None)):
        assert (await system.client.request(method, path, headers=header(token), json=body)).status_code == 403
        assert (await system.client.request(method, path, json=body)).status_code == 401
    admin = header(await system.token())
    await system.client.put(f"/storage/admin/quota/{uid}", headers=admin, json={"quota": 5000})
    await system.client.post(f"/storage/admin/bonus/{uid}", headers=admin, json={"bonus": 100})
    usage = (await system.client.get(f"/storage/admin/usage/{uid}", headers=admin)).json()
    assert (usage["quota"], usage["bonus"], usage["totalQuota"], usage["used"]) == (5000, 100, 5100, 110)


async def test_v1_image_links_open_expire_and_revoke(api: RunningSystem) -> None:
    token = await api.user_token("quin")
    data = make_png(20, 20)
    uploaded = await upload(api.client, token, data)
    await wait_processed(api.client, token, uploaded.image_id)
    share = await api.client.post(f"/v1/images/{uploaded.image_id}/shares", headers=bearer(token),
                                  json={"type": "link", "role": "viewer", "expires_in_sec": 3600})
    assert share.status_code == 201
    link = share.json()
    assert link["share_id"].startswith("shr_")
    assert link["url"] == f"{api.settings.public_url}/s/{link['token']}"  # seed 003's form: see test_v1_share_links
    async with httpx.AsyncClient(follow_redirects=True) as anyone:  # seed 000's route to the same link's file
        assert (await anyone.get(f"{api.settings.public_url}/public/files/{link['token']}")).content == data
    other = await api.user_token("rex")
    assert (await api.client.delete(f"/v1/images/{uploaded.image_id}/shares/{link['share_id']}",
                                    headers=bearer(other))).status_code == 404
    assert (await api.client.delete(f"/v1/images/{uploaded.image_id}/shares/{link['share_id']}",
                                    headers=bearer(token))).status_code == 204
    assert (await api.client.get(f"/public/files/{link['token']}")).status_code == 404


async def test_seed_shapes_of_trash_routes_beside_entes(api: RunningSystem) -> None:
    token = await api.user_token("sol")
    album = await new_album(api, token)
    first, second = await commit(api, token, album), await commit(api, token, album)
    assert (await api.client.post("/files/trash", headers=header(token), json={"fileIds": [first["id"]]})
            ).status_code == 200
    assert (await api.client.post("/files/trash", headers=header(token), json={})).status_code == 400
    diff = (await api.client.get("/trash/v2/diff", headers=header(token), params={"sinceTime": "1970-01-01T00:00:00"}
                                 )).json()
    assert [t["file"]["id"] for t in diff["items"]] == [t["file"]["id"] for t in diff["diff"]] == [first["id"]]
    await api.client.post("/files/trash", headers=header(token),
                          json={"items": [{"fileID": second["id"], "collectionID": album}]})
    assert (await api.client.post("/trash/empty", headers=header(token), json={})).status_code == 400
    emptied = await api.client.post("/trash/empty", headers=header(token), json={"confirm": True})
    assert emptied.status_code == 200, emptied.text
    assert emptied.json()["deleted"] == 2
    collections = (await api.client.get("/collections/v2", headers=header(token))).json()
    assert collections["nextSince"] == collections["collections"][0]["updatedAtUs"]
