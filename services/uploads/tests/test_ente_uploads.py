"""The Ente face of the upload signer: presigned PUTs and multipart uploads, the completeURL, seed 000's
completion, V2's pinned lengths and MD5s, and the quota."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from shoebox.testing import RunningSystem
from shoebox_uploads.testing import (
    MiB,
    b64md5,
    completion_xml,
    ente_headers,
    owner_id,
    put,
    set_quota,
    uploads_of,
    usage,
)


async def test_upload_urls_are_puts_under_the_owners_prefix(system: RunningSystem) -> None:
    token = await system.user_token("erin")
    owner = await owner_id(system, token)
    response = await system.client.get("/files/upload-urls", params={"count": 3}, headers=ente_headers(token))
    assert response.status_code == 200, response.text
    urls = response.json()["urls"]
    assert len(urls) == 3
    assert len({u["objectKey"] for u in urls}) == 3
    assert all(u["objectKey"].startswith(f"u/{owner}/") for u in urls)

    data = os.urandom(10_000)
    assert (await put(urls[0]["url"], data)).status_code == 200
    storage = uploads_of(system).driver
    assert await storage.get_bytes(urls[0]["objectKey"]) == data
    assert await storage.head(urls[1]["objectKey"]) is None

    for count in (0, 51):
        refused = await system.client.get("/files/upload-urls", params={"count": count}, headers=ente_headers(token))
        assert refused.status_code == 400
        assert set(refused.json()) >= {"code", "message"}


async def test_multipart_urls_and_the_complete_url(system: RunningSystem) -> None:
    token = await system.user_token("fred")
    response = await system.client.get("/files/multipart-upload-urls", params={"count": 2},
                                       headers=ente_headers(token))
    assert response.status_code == 200, response.text
    urls = response.json()["urls"]
    assert len(urls["partURLs"]) == 2
    first, second = os.urandom(5 * MiB), os.urandom(12345)
    etags = []
    for n, (url, data) in enumerate(zip(urls["partURLs"], (first, second), strict=True), start=1):
        sent = await put(url, data)
        assert sent.status_code == 200
        etags.append((n, sent.headers["etag"]))
    async with httpx.AsyncClient(timeout=60) as storage:
        done = await storage.post(urls["completeURL"], content=completion_xml(etags),
                                  headers={"Content-Type": "text/xml"})
    assert done.status_code == 200, done.text
    assert await uploads_of(system).driver.get_bytes(urls["objectKey"]) == first + second


async def test_seed_multipart_complete_is_idempotent_and_owned(api: RunningSystem) -> None:
    token, other = await api.user_token("gina"), await api.user_token("hugo")
    urls = (await api.client.get("/files/multipart-upload-urls", params={"count": 1},
                                 headers=ente_headers(token))).json()["urls"]
    assert urls["partUrls"] == urls["partURLs"]
    assert urls["uploadId"]
    sent = await put(urls["partURLs"][0], b"hello ente")
    body = {"objectKey": urls["objectKey"], "parts": [{"partNumber": 1, "eTag": sent.headers["etag"]}]}

    stolen = await api.client.post("/files/multipart-complete", json=body, headers=ente_headers(other))
    assert stolen.status_code == 404
    lie = {"objectKey": urls["objectKey"], "parts": [{"partNumber": 1, "eTag": '"0000"'}]}
    refused = await api.client.post("/files/multipart-complete", json=lie, headers=ente_headers(token))
    assert refused.status_code == 400

    done = await api.client.post("/files/multipart-complete", json=body, headers=ente_headers(token))
    assert done.status_code == 200, done.text
    assert done.json()["size"] == 10
    again = await api.client.post("/files/multipart-complete", json=body, headers=ente_headers(token))
    assert again.json() == done.json()

    # The seed's reading: `count` objects of `parts` parts each.
    seed = await api.client.get("/files/multipart-upload-urls", params={"count": 2, "parts": 3},
                                headers=ente_headers(token))
    assert [len(u["partUrls"]) for u in seed.json()["urls"]] == [3, 3]


async def test_no_urls_when_the_quota_is_used_up(api: RunningSystem) -> None:
    token = await api.user_token("ida")
    await set_quota(api, token, 0)
    for path, params in (("/files/upload-urls", {"count": 1}), ("/files/multipart-upload-urls", {"count": 1})):
        refused = await api.client.get(path, params=params, headers=ente_headers(token))
        assert (refused.status_code, refused.json()["code"]) == (426, "STORAGE_LIMIT_EXCEEDED")


@pytest.fixture
def v2(api: RunningSystem) -> httpx.AsyncClient:
    """A client of the one port, as an Ente app using the V2 routes is."""
    return httpx.AsyncClient(base_url=api.settings.public_url)


async def test_v2_pins_length_and_md5_and_holds_the_bytes(api: RunningSystem, v2: httpx.AsyncClient) -> None:
    token = await api.user_token("jack")
    data = os.urandom(4096)
    async with v2:
        found = await v2.post("/files/upload-url", headers=ente_headers(token),
                              json={"contentLength": len(data), "contentMD5": b64md5(data)})
        assert found.status_code == 200, found.text
        assert (await usage(api, token))["reserved"] == len(data)
        url = found.json()["url"]
        tampered = await put(url, os.urandom(len(data)), {"Content-MD5": b64md5(data)})
        assert tampered.status_code == 400  # BadDigest: storage refuses other bytes
        assert (await put(url, data, {"Content-MD5": b64md5(data)})).status_code == 200

        first, second = os.urandom(5 * MiB), os.urandom(100)
        multipart = await v2.post("/files/multipart-upload-url", headers=ente_headers(token), json={
            "contentLength": len(first) + len(second), "partLength": len(first),
            "partMd5s": [b64md5(first), hashlib.md5(second, usedforsecurity=False).hexdigest()]})
        assert multipart.status_code == 200, multipart.text
        urls = multipart.json()
        etags = []
        for n, (part_url, chunk) in enumerate(zip(urls["partURLs"], (first, second), strict=True), start=1):
            sent = await put(part_url, chunk, {"Content-MD5": b64md5(chunk)})
            assert sent.status_code == 200, sent.text
            etags.append((n, sent.headers["etag"]))
        async with httpx.AsyncClient() as storage:
            assert (await storage.post(urls["completeURL"], content=completion_xml(etags))).status_code == 200
        assert await uploads_of(api).driver.get_bytes(urls["objectKey"]) == first + second

        wrong = await v2.post("/files/multipart-upload-url", headers=ente_headers(token), json={
            "contentLength": 10 * MiB, "partLength": 5 * MiB, "partMd5s": [b64md5(first)]})
        assert wrong.status_code == 400
        await set_quota(api, token, 10)
        over = await v2.post("/files/upload-url", headers=ente_headers(token),
                             json={"contentLength": 11, "contentMD5": b64md5(b"x" * 11)})
        assert over.status_code == 426


async def test_a_v2_upload_committed_is_counted_once(api: RunningSystem) -> None:
    token = await api.user_token("yuri")
    blobs = [os.urandom(3000), os.urandom(300)]
    keys = []
    for data in blobs:
        found = await api.client.post("/files/upload-url", headers=ente_headers(token),
                                      json={"contentLength": len(data), "contentMD5": b64md5(data)})
        assert found.status_code == 200, found.text
        assert (await put(found.json()["url"], data, {"Content-MD5": b64md5(data)})).status_code == 200
        keys.append(found.json()["objectKey"])
    assert (await usage(api, token))["reserved"] == 3300
    album = (await api.client.post("/collections", headers=ente_headers(token), json={
        "encryptedKey": "k", "keyDecryptionNonce": "n", "type": "album"})).json()["id"]
    committed = await api.client.post("/files", headers=ente_headers(token), json={
        "collectionID": album, "encryptedKey": "ek", "keyDecryptionNonce": "kn",
        "file": {"objectKey": keys[0], "decryptionHeader": "h", "size": 3000},
        "thumbnail": {"objectKey": keys[1], "decryptionHeader": "h", "size": 300},
        "metadata": {"encryptedData": "m", "decryptionHeader": "h"}})
    assert committed.status_code == 200, committed.text
    counted = await usage(api, token)
    assert (counted["used"], counted["reserved"], counted["fileCount"]) == (3300, 0, 1)
