"""The sweeper of abandoned uploads, through the running system: what it removes and what it must keep."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import update

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, upload
from shoebox_lib.errors import NotFound
from shoebox_lib.events import ItemStored
from shoebox_lib.ids import parse_image_id
from shoebox_uploads.models import SessionStatus, UploadSession
from shoebox_uploads.settings import UploadsSettings
from shoebox_uploads.signer.outcomes import recorded
from shoebox_uploads.testing import (
    MiB,
    age,
    ente_headers,
    owner_id,
    put,
    session_by_key,
    sweeper_of,
    uploads_of,
    uppy_part,
    uppy_start,
    usage,
    wait_stored,
)


async def test_the_sweeper_removes_what_was_abandoned(system: RunningSystem) -> None:
    token = await system.user_token("walt")
    owner = await owner_id(system, token)
    uploads, sweeper = uploads_of(system), sweeper_of(system)
    driver = uploads.driver
    sweeper.settings = UploadsSettings(commit_grace_seconds=0, stale_multipart_seconds=0)

    # An Ente object uploaded and never committed, and one that was committed.
    urls = (await system.client.get("/files/upload-urls", params={"count": 2}, headers=ente_headers(token))).json()
    abandoned, committed = urls["urls"]
    for handed in (abandoned, committed):
        assert (await put(handed["url"], b"ente bytes")).status_code == 200
    async with uploads.db.transaction() as session:
        await recorded(session, ItemStored(item_id=1, owner_id=owner, object_key=committed["objectKey"], size=10))
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
    metrics = await system.client.get("/services/uploads/metrics", headers=bearer(await system.token()))
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
    sweeper.settings = UploadsSettings(commit_grace_seconds=0, stale_multipart_seconds=0)
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


async def test_a_completion_metadata_never_applied_is_sent_again(system: RunningSystem) -> None:
    """A v1 upload assembled and recorded completed, but its upload.completed lost (as a dead letter nobody
    re-drove): after the grace period the sweeper finds the item still waiting for its original and sends
    the completion again; metadata stores it and counts the held bytes once. A completion metadata did apply,
    but whose item.stored never came back, is only noted as confirmed. Nothing is sent twice."""
    token = await system.user_token("xena")
    uploads, sweeper = uploads_of(system), sweeper_of(system)
    sweeper.settings = UploadsSettings(apply_grace_seconds=1)
    data = os.urandom(1000)
    image = (await system.client.post("/v1/images", headers=bearer(token), json={
        "filename": "lost", "content_type": "application/octet-stream", "size_bytes": len(data)})).json()
    started = (await system.client.post("/v1/uploads:resumable", headers=bearer(token), json={
        "image_id": image["image_id"], "total_bytes": len(data)})).json()
    part = (await system.client.post(f"/v1/uploads/{started['session_id']}/parts/1", headers=bearer(token))).json()
    etag = (await put(part["url"], data)).headers["etag"]
    # What the completer does, but its event lost: the object assembled, the session completed, no outbox row.
    assembled = await uploads.driver.complete_multipart(started["object_key"], started["multipart_upload_id"],
                                                        [(1, etag)])
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    async with uploads.db.transaction() as session:
        await session.execute(update(UploadSession).where(UploadSession.id == started["session_id"]).values(
            status=SessionStatus.COMPLETED, size_bytes=assembled.size, completed_at=long_ago))
    applied = await upload(system.client, token, os.urandom(500), filename="applied.bin")
    await wait_stored(system, token, applied.image_id)
    async with uploads.db.transaction() as session:
        await session.execute(update(UploadSession).where(UploadSession.item_id == parse_image_id(applied.image_id))
                              .values(committed_at=None, completed_at=long_ago))
    assert (await usage(system, token))["reserved"] == len(data)

    cleaned = await sweeper.sweep()
    assert (cleaned["completions_resent"], cleaned["completions_confirmed"]) == (1, 1)
    await wait_stored(system, token, image["image_id"])  # no longer upload_pending
    async with asyncio.timeout(20):  # item.stored comes back and confirms it
        while (await session_by_key(system, started["object_key"])).committed_at is None:
            await asyncio.sleep(0.05)
    counted = await usage(system, token)
    assert (counted["used"], counted["reserved"]) == (len(data) + 500, 0)
    again = await sweeper.sweep()
    assert (again["completions_resent"], again["completions_confirmed"]) == (0, 0)
