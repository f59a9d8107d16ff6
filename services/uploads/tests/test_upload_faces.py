"""The upload signer's faces (Ente, Uppy), its rules under attack, quota, the sweeper and checksums."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer
from shoebox_lib.errors import NotFound
from shoebox_lib.events import ItemStored
from shoebox_metadata.models import Account
from shoebox_metadata.quota import Quotas
from shoebox_uploads.config import UploadsSettings
from shoebox_uploads.ente import item_stored
from shoebox_uploads.models import UploadSession
from shoebox_uploads.sessions import Uploads
from shoebox_uploads.sweeper import Sweeper

MiB = 1024 * 1024


def ente_headers(token: str) -> dict[str, str]:
    """As the Ente clients send it: base64url of the token, in X-Auth-Token."""
    return {"X-Auth-Token": base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")}


def uploads_of(system: RunningSystem) -> Uploads:
    uploads: Uploads = system.services["uploads"].app.state.uploads
    return uploads


async def session_by_key(system: RunningSystem, key: str) -> UploadSession:
    async with uploads_of(system).db.transaction() as session:
        return (await session.execute(select(UploadSession).where(UploadSession.object_key == key))).scalar_one()


def sweeper_of(system: RunningSystem) -> Sweeper:
    sweeper: Sweeper = system.services["uploads"].app.state.sweeper
    return sweeper


async def owner_id(system: RunningSystem, token: str) -> int:
    me: int = (await system.client.get("/users/me", headers=bearer(token))).json()["id"]
    return me


async def set_quota(system: RunningSystem, token: str, quota: int) -> int:
    quotas: Quotas = system.services["metadata"].app.state.quotas
    owner = await owner_id(system, token)
    async with quotas.db.transaction() as session:
        await quotas._ensure(session, owner)
        await session.execute(update(Account).where(Account.owner_id == owner).values(quota_bytes=quota))
    return owner


async def usage(system: RunningSystem, token: str) -> dict[str, Any]:
    found: dict[str, Any] = (await system.client.get("/storage/usage", headers=bearer(token))).json()
    return found


async def put(url: str, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as storage:
        return await storage.put(url, content=data, headers=headers or {})


async def wait_stored(system: RunningSystem, token: str, image_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            body: dict[str, Any] = (await system.client.get(f"/v1/images/{image_id}", headers=bearer(token))).json()
            if body["status"] != "upload_pending":
                return body
            await asyncio.sleep(0.05)


# --- Ente ---------------------------------------------------------------------------------------


def completion_xml(parts: list[tuple[int, str]]) -> str:
    """What the Ente web client POSTs to completeURL: the ETags verbatim, quotes and all."""
    inner = "\n".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts)
    return f"<CompleteMultipartUpload>\n{inner}\n</CompleteMultipartUpload>"


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


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


# --- Uppy -----------------------------------------------------------------------------------------


async def uppy_start(system: RunningSystem, token: str, size: int | None = None, name: str = "clip.bin"
                     ) -> httpx.Response:
    metadata: dict[str, Any] = {"name": name, "type": "application/octet-stream"}
    if size is not None:
        metadata["size"] = size
    return await system.client.post("/s3/multipart", headers=bearer(token), json={
        "filename": name, "type": "application/octet-stream", "metadata": metadata})


async def uppy_part(system: RunningSystem, token: str, upload_id: str, key: str, number: int, data: bytes) -> str:
    signed = await system.client.get(f"/s3/multipart/{upload_id}/{number}", params={"key": key},
                                     headers=bearer(token))
    assert signed.status_code == 200, signed.text
    assert signed.json()["method"] == "PUT"
    sent = await put(signed.json()["url"], data)
    assert sent.status_code == 200, sent.text
    etag: str = sent.headers["etag"]
    return etag


@pytest.mark.parametrize("declare_size", [True, False])
async def test_uppy_multipart_becomes_a_library_item(system: RunningSystem, declare_size: bool) -> None:
    token = await system.user_token("kim")
    first, second = os.urandom(5 * MiB), os.urandom(777)
    size = len(first) + len(second)
    started = await uppy_start(system, token, size if declare_size else None)
    assert started.status_code == 200, started.text
    key, upload_id = started.json()["key"], started.json()["uploadId"]
    assert key.startswith(f"u/{await owner_id(system, token)}/")
    if declare_size:
        assert (await usage(system, token))["reserved"] == size

    e1 = await uppy_part(system, token, upload_id, key, 1, first)
    e2 = await uppy_part(system, token, upload_id, key, 2, second)
    listed = await system.client.get(f"/s3/multipart/{upload_id}", params={"key": key}, headers=bearer(token))
    assert [(p["PartNumber"], p["Size"]) for p in listed.json()] == [(1, len(first)), (2, len(second))]

    # One quoted and one bare ETag in the same request, as Uppy sends after a resume.
    parts = [{"PartNumber": 1, "ETag": e1.strip('"')}, {"PartNumber": 2, "ETag": f'"{e2.strip(chr(34))}"'}]
    done = await system.client.post(f"/s3/multipart/{upload_id}/complete", params={"key": key},
                                    headers=bearer(token), json={"parts": parts})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["key"] == key
    assert body["location"].endswith(f"/v1/images/{body['imageId']}")
    again = await system.client.post(f"/s3/multipart/{upload_id}/complete", params={"key": key},
                                     headers=bearer(token), json={"parts": parts})
    assert again.json() == body

    image = await wait_stored(system, token, body["imageId"])
    assert (image["filename"], image["size_bytes"], image["original"]["size_bytes"]) == ("clip.bin", size, size)
    assert await uploads_of(system).driver.get_bytes(key) == first + second
    found = await usage(system, token)
    assert (found["used"], found["reserved"]) == (size, 0)


async def test_uppy_abort_answers_json_and_ends_the_upload(api: RunningSystem) -> None:
    token = await api.user_token("lea")
    started = (await uppy_start(api, token, 100)).json()
    key, upload_id = started["key"], started["uploadId"]
    await uppy_part(api, token, upload_id, key, 1, b"x" * 100)
    batch = await api.client.get(f"/s3/multipart/{upload_id}/batch", params={"key": key, "partNumbers": "1"},
                                 headers=bearer(token))
    assert list(batch.json()["presignedUrls"]) == ["1"]
    aborted = await api.client.delete(f"/s3/multipart/{upload_id}", params={"key": key}, headers=bearer(token))
    assert (aborted.status_code, aborted.json()) == (200, {})
    again = await api.client.get(f"/s3/multipart/{upload_id}/1", params={"key": key}, headers=bearer(token))
    assert again.status_code == 409
    assert "message" in again.json()
    assert (await usage(api, token))["reserved"] == 0


async def test_uppy_form_upload_becomes_a_library_item(system: RunningSystem) -> None:
    token = await system.user_token("max")
    data = os.urandom(3000)
    params = {"filename": "note.txt", "type": "text/plain", "metadata[name]": "note.txt",
              "metadata[size]": str(len(data))}
    signed = await system.client.get("/s3/params", params=params, headers=bearer(token))
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["method"] == "POST"
    async with httpx.AsyncClient(timeout=30) as storage:
        sent = await storage.post(body["url"], data=body["fields"], files={"file": ("note.txt", data, "text/plain")})
    assert sent.status_code in (200, 201, 204), sent.text
    key = body["fields"]["key"]
    async with asyncio.timeout(30):  # the finalizer notices the object in storage
        while (record := await session_by_key(system, key)).status != "completed":
            await asyncio.sleep(0.05)
    assert record.result is not None
    image_id = record.result["image_id"]
    image = await wait_stored(system, token, image_id)
    assert (image["content_type"], image["original"]["size_bytes"]) == ("text/plain", len(data))

    unsized = await system.client.get("/s3/params", params={"filename": "x", "type": "text/plain"},
                                      headers=bearer(token))
    assert unsized.status_code == 400
    assert "size" in unsized.json()["message"]


# --- The rules, attacked ----------------------------------------------------------------------------


async def test_uppy_sessions_and_keys_of_others_are_not_found(api: RunningSystem) -> None:
    owner, intruder = await api.user_token("nora"), await api.user_token("oscar")
    started = (await uppy_start(api, owner, 10)).json()
    key, upload_id = started["key"], started["uploadId"]
    mine = (await uppy_start(api, intruder, 10)).json()
    for who, uid, k in ((intruder, upload_id, key), (owner, upload_id, mine["key"]), (intruder, mine["uploadId"], key)):
        for method, path, body in [
            ("GET", f"/s3/multipart/{uid}/1", None), ("GET", f"/s3/multipart/{uid}", None),
            ("POST", f"/s3/multipart/{uid}/complete", {"parts": [{"PartNumber": 1, "ETag": "x"}]}),
            ("DELETE", f"/s3/multipart/{uid}", None),
        ]:
            response = await api.client.request(method, path, params={"key": k}, headers=bearer(who), json=body)
            assert response.status_code == 404, f"{method} {path}: {response.text}"
    etag = await uppy_part(api, owner, upload_id, key, 1, b"0123456789")
    done = await api.client.post(f"/s3/multipart/{upload_id}/complete", params={"key": key}, headers=bearer(owner),
                                 json={"parts": [{"PartNumber": 1, "ETag": etag}]})
    assert done.status_code == 200, done.text


@pytest.mark.parametrize("number", [0, 10_001, 3])
async def test_part_numbers_outside_the_limits_are_refused(api: RunningSystem, number: int) -> None:
    token = await api.user_token("paul")
    started = (await uppy_start(api, token, 6 * MiB)).json()  # two parts at most, at S3's 5 MiB minimum
    response = await api.client.get(f"/s3/multipart/{started['uploadId']}/{number}", params={"key": started["key"]},
                                    headers=bearer(token))
    assert response.status_code == 400
    assert "message" in response.json()


async def test_uppy_complete_that_lies_is_refused_and_the_upload_survives(api: RunningSystem) -> None:
    token = await api.user_token("quin")
    started = (await uppy_start(api, token)).json()
    key, uid = started["key"], started["uploadId"]
    etag = await uppy_part(api, token, uid, key, 1, b"abc")
    for parts in ([{"PartNumber": 1, "ETag": '"0000"'}], [{"PartNumber": 2, "ETag": etag}],
                  [{"PartNumber": 1, "ETag": etag}, {"PartNumber": 1, "ETag": etag}], []):
        lie = await api.client.post(f"/s3/multipart/{uid}/complete", params={"key": key}, headers=bearer(token),
                                    json={"parts": parts})
        assert lie.status_code == 400, parts
    done = await api.client.post(f"/s3/multipart/{uid}/complete", params={"key": key}, headers=bearer(token),
                                 json={"parts": [{"PartNumber": 1, "ETag": etag}]})
    assert done.status_code == 200


async def test_size_other_than_declared_is_refused_and_removed(system: RunningSystem) -> None:
    token = await system.user_token("rosa")
    started = (await uppy_start(system, token, 1000)).json()
    key, uid = started["key"], started["uploadId"]
    etag = await uppy_part(system, token, uid, key, 1, b"only twenty bytes...")
    refused = await system.client.post(f"/s3/multipart/{uid}/complete", params={"key": key}, headers=bearer(token),
                                       json={"parts": [{"PartNumber": 1, "ETag": etag}]})
    assert refused.status_code == 400
    assert "declared" in refused.json()["message"]
    assert await uploads_of(system).driver.head(key) is None
    again = await system.client.post(f"/s3/multipart/{uid}/complete", params={"key": key}, headers=bearer(token),
                                     json={"parts": [{"PartNumber": 1, "ETag": etag}]})
    assert again.status_code == 409
    assert (await usage(system, token))["reserved"] == 0  # the hold was given back


async def test_altered_and_expired_urls_are_refused(system_settings: Any) -> None:
    from shoebox.testing import run_system

    async with run_system(system_settings(presign_expiry_seconds=1)) as system:
        token = await system.user_token("sam")
        started = (await uppy_start(system, token, 10)).json()
        signed = (await system.client.get(f"/s3/multipart/{started['uploadId']}/1", params={"key": started["key"]},
                                          headers=bearer(token))).json()["url"]
        signature = signed[-1]
        altered = signed[:-1] + ("0" if signature != "0" else "1")
        assert (await put(altered, b"0123456789")).status_code == 403
        other_key = signed.replace(started["key"], started["key"] + "x")
        assert (await put(other_key, b"0123456789")).status_code == 403
        await asyncio.sleep(2.1)
        expired = await put(signed, b"0123456789")
        assert (expired.status_code, expired.json()["error"]) == (403, "AccessDenied")


async def test_uploads_past_the_quota_are_refused(api: RunningSystem) -> None:
    token = await api.user_token("tara")
    await set_quota(api, token, 1000)
    image = (await api.client.post("/v1/images", headers=bearer(token), json={
        "filename": "a", "content_type": "application/octet-stream", "size_bytes": 600})).json()["image_id"]
    other = (await api.client.post("/v1/images", headers=bearer(token), json={
        "filename": "b", "content_type": "application/octet-stream", "size_bytes": 600})).json()["image_id"]
    first = await api.client.post("/v1/uploads:resumable", headers=bearer(token),
                                  json={"image_id": image, "total_bytes": 600})
    assert first.status_code == 201
    second = await api.client.post("/v1/uploads:resumable", headers=bearer(token),
                                   json={"image_id": other, "total_bytes": 600})
    assert (second.status_code, second.json()["error"]) == (426, "STORAGE_LIMIT_EXCEEDED")
    declared = await uppy_start(api, token, 600)
    assert declared.status_code == 426
    assert declared.json()["message"]

    # Without a declared size the quota is checked on complete, against the real size.
    unsized = (await uppy_start(api, token)).json()
    etag = await uppy_part(api, token, unsized["uploadId"], unsized["key"], 1, os.urandom(500))
    over = await api.client.post(f"/s3/multipart/{unsized['uploadId']}/complete", params={"key": unsized["key"]},
                                 headers=bearer(token), json={"parts": [{"PartNumber": 1, "ETag": etag}]})
    assert over.status_code == 426
    assert await uploads_of(api).driver.head(unsized["key"]) is None
    aborted = await api.client.post(f"/v1/uploads/{first.json()['session_id']}:abort", headers=bearer(token))
    assert aborted.status_code == 200
    assert (await usage(api, token))["reserved"] == 0


async def test_concurrent_sessions_cannot_pass_the_quota_together(api: RunningSystem) -> None:
    token = await api.user_token("uma")
    await set_quota(api, token, 1000)
    codes = await asyncio.gather(*(uppy_start(api, token, 300) for _ in range(10)))
    assert sorted(r.status_code for r in codes) == [200] * 3 + [426] * 7
    assert (await usage(api, token))["reserved"] == 900


# --- Checksums --------------------------------------------------------------------------------------


async def v1_upload(system: RunningSystem, token: str, data: bytes, sha256: str) -> tuple[str, httpx.Response]:
    image = (await system.client.post("/v1/images", headers=bearer(token), json={
        "filename": "h.bin", "content_type": "application/octet-stream", "size_bytes": len(data)})).json()
    session = (await system.client.post("/v1/uploads:resumable", headers=bearer(token), json={
        "image_id": image["image_id"], "total_bytes": len(data), "sha256": sha256})).json()
    parts = []
    for n in range(1, session["part_count"] + 1):
        url = (await system.client.post(f"/v1/uploads/{session['session_id']}/parts/{n}",
                                        headers=bearer(token))).json()["url"]
        chunk = data[(n - 1) * session["part_size_bytes"]: n * session["part_size_bytes"]]
        parts.append({"part_number": n, "etag": (await put(url, chunk)).headers["etag"]})
    done = await system.client.post(f"/v1/uploads/{session['session_id']}:complete", headers=bearer(token),
                                    json={"parts": parts})
    return session["session_id"], done


async def settled(system: RunningSystem, token: str, session_id: str) -> dict[str, Any]:
    """Where storage cannot vouch for a SHA-256 the session is `verifying` until the verifier has read it."""
    async with asyncio.timeout(30):
        while True:
            body: dict[str, Any] = (await system.client.get(f"/v1/uploads/{session_id}", headers=bearer(token))).json()
            if body["status"] != "verifying":
                return body
            await asyncio.sleep(0.05)


async def test_a_declared_sha256_is_checked(system: RunningSystem) -> None:
    token = await system.user_token("vic")
    data = os.urandom(9 * MiB)  # two parts: on S3 there is no whole-object SHA-256 to ask storage for
    sid, done = await v1_upload(system, token, data, hashlib.sha256(data).hexdigest())
    assert done.status_code in (200, 202), done.text
    assert (await settled(system, token, sid))["status"] == "completed"

    lying = os.urandom(100)
    sid, done = await v1_upload(system, token, lying, hashlib.sha256(b"something else").hexdigest())
    if done.status_code == 202:
        assert done.json()["status"] == "verifying"
    else:
        assert done.status_code == 400
    final = await settled(system, token, sid)
    assert final["status"] == "failed"
    assert "SHA-256" in final["error"]
    assert await uploads_of(system).driver.head(final["object_key"]) is None


# --- The sweeper --------------------------------------------------------------------------------------


async def age(system: RunningSystem, key: str) -> None:
    """Move a session's expiry into the past, as time would."""
    async with uploads_of(system).db.transaction() as session:
        await session.execute(update(UploadSession).where(UploadSession.object_key == key)
                              .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))


async def test_the_sweeper_removes_what_was_abandoned(system: RunningSystem) -> None:
    token = await system.user_token("walt")
    owner = await owner_id(system, token)
    uploads, sweeper = uploads_of(system), sweeper_of(system)
    driver = uploads.driver
    uploads.config = UploadsSettings(commit_grace_seconds=0, stale_multipart_seconds=0)

    # An Ente object uploaded and never committed, and one that was committed.
    urls = (await system.client.get("/files/upload-urls", params={"count": 2}, headers=ente_headers(token))).json()
    abandoned, committed = urls["urls"]
    for handed in (abandoned, committed):
        assert (await put(handed["url"], b"ente bytes")).status_code == 200
    async with uploads.db.transaction() as session:
        await item_stored(session, ItemStored(item_id=1, owner_id=owner, object_key=committed["objectKey"], size=10))
    # A v1 session with one part uploaded, then left.
    image = (await system.client.post("/v1/images", headers=bearer(token), json={
        "filename": "left", "content_type": "application/octet-stream", "size_bytes": 6 * MiB})).json()
    left = (await system.client.post("/v1/uploads:resumable", headers=bearer(token), json={
        "image_id": image["image_id"], "total_bytes": 6 * MiB})).json()
    part = (await system.client.post(f"/v1/uploads/{left['session_id']}/parts/1", headers=bearer(token))).json()
    assert (await put(part["url"], os.urandom(5 * MiB))).status_code == 200
    # A multipart upload in storage that no session knows (as after a crash).
    orphan_key = f"u/{owner}/orphan"
    orphan = await driver.create_multipart(orphan_key)
    # A live Uppy upload the sweeper must leave alone.
    live = (await uppy_start(system, token, 10)).json()

    for key in (abandoned["objectKey"], committed["objectKey"], left["object_key"]):
        await age(system, key)
    before = REGISTRY.get_sample_value("shoebox_uploads_swept_total", {"what": "objects_deleted"}) or 0.0
    cleaned = await sweeper.sweep()

    assert await driver.head(abandoned["objectKey"]) is None
    assert await driver.get_bytes(committed["objectKey"]) == b"ente bytes"
    with pytest.raises(NotFound):
        await driver.list_parts(left["object_key"], left["multipart_upload_id"])
    with pytest.raises(NotFound):
        await driver.list_parts(orphan_key, orphan)
    live_upload = (await session_by_key(system, live["key"])).multipart_upload_id
    assert live_upload is not None
    assert await driver.list_parts(live["key"], live_upload) == []  # still there, no part yet
    assert cleaned["objects_deleted"] == 1
    assert cleaned["multipart_aborted"] >= 2
    after = REGISTRY.get_sample_value("shoebox_uploads_swept_total", {"what": "objects_deleted"})
    assert after == before + 1
    status = (await system.client.get(f"/v1/uploads/{left['session_id']}", headers=bearer(token))).json()
    assert status["status"] == "expired"
    metrics = await system.client.get("/services/uploads/metrics")
    assert "shoebox_uploads_swept_total" in metrics.text

    # Nothing left to do: a second pass cleans nothing and the live upload still completes.
    assert not any((await sweeper.sweep()).values())
    etag = await uppy_part(system, token, live["uploadId"], live["key"], 1, b"0123456789")
    done = await system.client.post(f"/s3/multipart/{live['uploadId']}/complete", params={"key": live["key"]},
                                    headers=bearer(token), json={"parts": [{"PartNumber": 1, "ETag": etag}]})
    assert done.status_code == 200, done.text


async def test_a_real_commit_keeps_the_file_and_its_thumbnail_from_the_sweeper(api: RunningSystem) -> None:
    token = await api.user_token("xena")
    uploads, sweeper = uploads_of(api), sweeper_of(api)
    uploads.config = UploadsSettings(commit_grace_seconds=0, stale_multipart_seconds=0)
    urls = (await api.client.get("/files/upload-urls", params={"count": 2}, headers=ente_headers(token))).json()["urls"]
    for handed, data in zip(urls, (b"file bytes", b"thumb"), strict=True):
        assert (await put(handed["url"], data)).status_code == 200
    album = (await api.client.post("/collections", headers=ente_headers(token), json={
        "encryptedKey": "k", "keyDecryptionNonce": "n", "type": "album"})).json()["id"]
    committed = await api.client.post("/files", headers=ente_headers(token), json={
        "collectionID": album, "encryptedKey": "ek", "keyDecryptionNonce": "kn",
        "file": {"objectKey": urls[0]["objectKey"], "decryptionHeader": "h", "size": 10},
        "thumbnail": {"objectKey": urls[1]["objectKey"], "decryptionHeader": "h", "size": 5},
        "metadata": {"encryptedData": "m", "decryptionHeader": "h"}})
    assert committed.status_code == 200, committed.text
    async with asyncio.timeout(20):
        while {(await session_by_key(api, u["objectKey"])).status for u in urls} != {"committed"}:
            await asyncio.sleep(0.05)
    for handed in urls:
        await age(api, handed["objectKey"])
    await sweeper.sweep()
    assert [await uploads.driver.get_bytes(u["objectKey"]) for u in urls] == [b"file bytes", b"thumb"]


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
