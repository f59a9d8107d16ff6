"""Ente's restore route, `POST /collections/restore-files`: trashed files come back into one of the caller's
albums with the keys the client sends, and the album's time moves with them."""

from __future__ import annotations

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import commit, header, new_album


async def test_restore_files_brings_trashed_files_back_with_their_new_keys(api: RunningSystem) -> None:
    token, intruder = await api.user_token("rhea"), await api.user_token("saul")
    album, other = await new_album(api, token), await new_album(api, token)
    file = await commit(api, token, album)
    trashed = await api.client.post("/files/trash", headers=header(token),
                                    json={"items": [{"fileID": file["id"], "collectionID": album}]})
    assert trashed.status_code == 200, trashed.text
    before = {c["id"]: c["updationTime"] for c in (await api.client.get(
        "/collections/v2", headers=header(token), params={"sinceTime": 0})).json()["collections"]}

    body = {"collectionID": other, "files": [{"id": file["id"], "encryptedKey": "new-key",
                                              "keyDecryptionNonce": "new-nonce"}]}
    refused = await api.client.post("/collections/restore-files", headers=header(intruder), json=body)
    assert refused.status_code == 404, refused.text
    restored = await api.client.post("/collections/restore-files", headers=header(token), json=body)
    assert restored.status_code == 200, restored.text

    changed = (await api.client.get("/collections/v2", headers=header(token),
                                    params={"sinceTime": max(before.values())})).json()["collections"]
    assert [c["id"] for c in changed] == [other], "only the album it came back into moved"
    diff = (await api.client.get("/collections/v2/diff", headers=header(token),
                                 params={"collectionID": other, "sinceTime": 0})).json()["diff"]
    assert [(d["id"], d["encryptedKey"], d["isDeleted"]) for d in diff] == [(file["id"], "new-key", False)]
    assert diff[0]["updationTime"] == changed[0]["updationTime"]
    again = await api.client.post("/collections/restore-files", headers=header(token), json=body)
    assert again.status_code == 404, "it is no longer in the trash"
