"""Issue 9, defect 2: a public-link guest naming one of the owner's object keys on a commit was answered
with that file (its headers, metadata, sizes). A guest sees only what the link shows."""

from __future__ import annotations

from shoebox.testing import RunningSystem
from shoebox.testing.ente_helpers import commit, file_body, header, new_album


async def test_a_guest_cannot_read_the_owners_files_through_a_commit(api: RunningSystem) -> None:
    owner = await api.user_token("olga")
    album, private = await new_album(api, owner), await new_album(api, owner)
    created = await api.client.post("/collections/share-url", headers=header(owner),
                                    json={"collectionID": album, "enableCollect": True})
    assert created.status_code == 200, created.text
    token = created.json()["result"]["url"].split("t=")[1]
    for target in (album, private):
        secret = await commit(api, owner, target)
        body = {**await file_body(api, owner, album), "file": secret["file"], "thumbnail": secret["thumbnail"]}
        for path, headers in (("/public-collection/file", {"X-Auth-Access-Token": token}),
                              (f"/public/collections/{token}/commit-file", {})):
            answer = await api.client.post(path, headers=headers, json=body)
            assert answer.status_code == 400, f"{path}: {answer.status_code} {answer.text}"
            assert secret["metadata"]["encryptedData"] not in answer.text
            assert str(secret["id"]) not in answer.text
