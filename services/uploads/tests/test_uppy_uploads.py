"""The Uppy face of the upload signer (`@uppy/aws-s3` in Companion mode): multipart and form uploads that
become library items, and its rules under attack."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer
from shoebox_lib import ids
from shoebox_lib.errors import UpstreamUnavailable
from shoebox_uploads.testing import (
    MiB,
    holds_settled,
    owner_id,
    put,
    session_by_key,
    uploads_of,
    uppy_part,
    uppy_start,
    usage,
    wait_stored,
)


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
    await holds_settled(api, token, 0)
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
    assert record.item_id is not None
    image_id = ids.image_id(record.item_id)
    image = await wait_stored(system, token, image_id)
    assert (image["content_type"], image["original"]["size_bytes"]) == ("text/plain", len(data))

    unsized = await system.client.get("/s3/params", params={"filename": "x", "type": "text/plain"},
                                      headers=bearer(token))
    assert unsized.status_code == 400
    assert "size" in unsized.json()["message"]


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
    await holds_settled(system, token, 0)
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


async def test_uppy_complete_while_the_library_cannot_be_asked_answers_503_and_its_retry_completes(
        api: RunningSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable library is no verdict on the upload: its bytes stay, and the client's retry finishes it."""
    token = await api.user_token("kim")
    body = os.urandom(1000)
    started = await uppy_start(api, token, None)
    key, upload_id = started.json()["key"], started.json()["uploadId"]
    etag = await uppy_part(api, token, upload_id, key, 1, body)
    library = uploads_of(api).completion.library
    real_new_item = library.new_item

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise UpstreamUnavailable("The metadata service cannot be reached; try again")

    monkeypatch.setattr(library, "new_item", unreachable)

    async def complete() -> httpx.Response:
        return await api.client.post(f"/s3/multipart/{upload_id}/complete", params={"key": key},
                                     headers=bearer(token), json={"parts": [{"PartNumber": 1, "ETag": etag}]})

    refused = await complete()
    assert refused.status_code == 503, refused.text
    assert await uploads_of(api).driver.get_bytes(key) == body

    monkeypatch.setattr(library, "new_item", real_new_item)
    done = await complete()
    assert done.status_code == 200, done.text
    image = await wait_stored(api, token, done.json()["imageId"])
    assert image["size_bytes"] == len(body)
