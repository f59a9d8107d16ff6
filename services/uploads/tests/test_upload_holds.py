"""Quota across the upload faces: bytes held at metadata where the size is known, room checked where it is
not, the real size counted on complete, and holds given back when an upload ends otherwise."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer
from shoebox_lib.errors import UpstreamUnavailable
from shoebox_uploads.models import SessionStatus, UploadSession
from shoebox_uploads.signer.sessions import UNCONFIRMED_SECONDS
from shoebox_uploads.testing import (
    age,
    b64md5,
    ente_headers,
    holds_settled,
    owner_id,
    set_quota,
    sweeper_of,
    uploads_of,
    uppy_part,
    uppy_start,
    usage,
)


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
    await holds_settled(api, token, 0)
    assert (await usage(api, token))["reserved"] == 0


async def test_concurrent_sessions_cannot_pass_the_quota_together(api: RunningSystem) -> None:
    token = await api.user_token("uma")
    await set_quota(api, token, 1000)
    codes = await asyncio.gather(*(uppy_start(api, token, 300) for _ in range(10)))
    assert sorted(r.status_code for r in codes) == [200] * 3 + [426] * 7
    assert (await usage(api, token))["reserved"] == 900


async def test_a_hold_whose_answer_is_lost_is_given_back_with_its_session(
        api: RunningSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """Metadata takes the hold, then its answer never arrives (metadata or the connection dies): the opening
    fails with a 503, and no hold outlives it, because the session is recorded before the hold is asked for
    and its end gives back whatever was held. Through the v1, Uppy and Ente faces."""
    token = await api.user_token("vera")
    library = uploads_of(api).library
    real_hold = library.hold

    async def hold_then_lose_the_answer(owner_id: int, hold_id: str, size: int) -> datetime:
        await real_hold(owner_id, hold_id, size)
        raise UpstreamUnavailable("metadata did not answer")

    monkeypatch.setattr(library, "hold", hold_then_lose_the_answer)
    image = (await api.client.post("/v1/images", headers=bearer(token), json={
        "filename": "a", "content_type": "application/octet-stream", "size_bytes": 600})).json()["image_id"]
    openings = {
        "v1": await api.client.post("/v1/uploads:resumable", headers=bearer(token),
                                    json={"image_id": image, "total_bytes": 600}),
        "uppy": await uppy_start(api, token, 700),
        "ente": await api.client.post("/files/upload-url", headers=ente_headers(token),
                                      json={"contentLength": 800, "contentMD5": b64md5(os.urandom(800))}),
    }
    assert {face: r.status_code for face, r in openings.items()} == {"v1": 503, "uppy": 503, "ente": 503}
    assert all(r.headers.get("retry-after") for r in openings.values())
    await holds_settled(api, token, 0)
    async with uploads_of(api).db.transaction() as session:
        sessions = (await session.execute(select(UploadSession.status, UploadSession.error)
                                          .where(UploadSession.owner_id == await owner_id(api, token)))).all()
    assert sorted(sessions) == [(SessionStatus.FAILED, "metadata did not answer")] * 3


async def test_a_session_whose_hold_was_never_confirmed_ends_soon(
        api: RunningSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hold taken, its answer lost, and the session cannot even be ended (our database went as well, as
    in a PostgreSQL outage): the session was recorded to expire within a minute until its hold is confirmed,
    so the sweeper ends it soon and the hold is given back, instead of an open session for a day."""
    token = await api.user_token("wynn")
    uploads = uploads_of(api)
    real_hold = uploads.library.hold

    async def hold_then_lose_the_answer(owner_id: int, hold_id: str, size: int) -> datetime:
        await real_hold(owner_id, hold_id, size)
        raise UpstreamUnavailable("metadata did not answer")

    async def database_gone(record: UploadSession, error: str) -> None:
        raise ConnectionRefusedError("the database is down")

    monkeypatch.setattr(uploads.library, "hold", hold_then_lose_the_answer)
    monkeypatch.setattr(uploads, "_fail_open", database_gone)
    started = await uppy_start(api, token, 700)
    assert started.status_code >= 500
    assert (await usage(api, token))["reserved"] == 700
    async with uploads.db.transaction() as session:
        left = (await session.execute(select(UploadSession).where(
            UploadSession.owner_id == await owner_id(api, token)))).scalar_one()
    assert left.status == SessionStatus.OPEN
    assert left.expires_at <= datetime.now(UTC) + timedelta(seconds=UNCONFIRMED_SECONDS)
    monkeypatch.undo()

    await age(api, left.object_key)  # the minute passes
    assert (await sweeper_of(api).sweep())["sessions_expired"] == 1
    await holds_settled(api, token, 0)
