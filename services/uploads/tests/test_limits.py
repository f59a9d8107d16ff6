"""What one request and one account may ask of the signer (issue 9, amplification), and an ended upload's URLs
writing nowhere (issue 9, quota escaped in storage), through every face."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer
from shoebox_uploads.models import UploadSession
from shoebox_uploads.testing import b64md5, ente_headers, owner_id, put, uploads_of, uppy_start, usage


async def sessions_of(api: RunningSystem, owner: int) -> int:
    async with uploads_of(api).db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(UploadSession)
                                          .where(UploadSession.owner_id == owner))).scalar_one())


async def test_one_request_signs_a_bounded_number_of_urls(api: RunningSystem) -> None:
    token = await api.user_token("amy")
    owner = await owner_id(api, token)
    for params in ({"count": 50, "parts": 10_000}, {"count": 2, "parts": 5001}, {"count": 51, "parts": 1},
                   {"count": 10_001}, {"count": 1, "parts": 10_001}):
        refused = await api.client.get("/files/multipart-upload-urls", params=params, headers=ente_headers(token))
        assert refused.status_code == 400, params
        assert set(refused.json()) >= {"code", "message"}
        assert len(refused.content) < 1024  # refused before anything is signed
    assert await sessions_of(api, owner) == 0  # and before any upload is opened
    seed = await api.client.get("/files/multipart-upload-urls", params={"count": 2, "parts": 5000},
                                headers=ente_headers(token))
    assert [len(u["partUrls"]) for u in seed.json()["urls"]] == [5000, 5000]

    started_uppy = (await uppy_start(api, token)).json()
    numbers = ",".join(str(n) for n in range(1, 10_002))  # commas unescaped, to fit in a URL
    batch = await api.client.get(f"/s3/multipart/{started_uppy['uploadId']}/batch?key={started_uppy['key']}"
                                 f"&partNumbers={numbers}", headers=bearer(token))
    assert batch.status_code == 400
    assert "at most 10000" in batch.json()["message"]


async def test_open_uploads_per_account_are_bounded(api: RunningSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    token, other = await api.user_token("ben"), await api.user_token("cat")
    monkeypatch.setattr(uploads_of(api).settings, "max_open_sessions", 3)
    handed = await api.client.get("/files/upload-urls", params={"count": 3}, headers=ente_headers(token))
    assert handed.status_code == 200, handed.text

    for _ in range(3):
        ente = await api.client.get("/files/upload-urls", params={"count": 50}, headers=ente_headers(token))
        assert (ente.status_code, ente.json()["code"]) == (429, "TOO_MANY_OPEN_UPLOADS")
    assert "open" in ente.json()["message"]
    assert await sessions_of(api, await owner_id(api, token)) == 3, "a refusal writes nothing"
    v2 = await api.client.post("/files/upload-url", headers=ente_headers(token),
                               json={"contentLength": 10, "contentMD5": b64md5(b"0123456789")})
    assert (v2.status_code, v2.json()["code"]) == (429, "TOO_MANY_OPEN_UPLOADS")
    uppy = await uppy_start(api, token, 10)
    assert uppy.status_code == 429
    assert "open" in uppy.json()["message"]
    image = (await api.client.post("/v1/images", headers=bearer(token), json={
        "filename": "a", "content_type": "application/octet-stream", "size_bytes": 10})).json()["image_id"]
    v1 = await api.client.post("/v1/uploads:resumable", headers=bearer(token),
                               json={"image_id": image, "total_bytes": 10})
    assert (v1.status_code, v1.json()["error"]) == (429, "TOO_MANY_OPEN_UPLOADS")
    assert (await usage(api, token))["reserved"] == 0  # nothing was held for what was refused

    assert (await uppy_start(api, other, 10)).status_code == 200  # another account has its own room


@pytest.mark.parametrize("face", ["v1", "uppy"])
async def test_a_part_url_of_an_aborted_upload_writes_nowhere(system: RunningSystem, face: str) -> None:
    token = await system.user_token("dan")
    if face == "uppy":
        started = (await uppy_start(system, token, 10)).json()
        signed = (await system.client.get(f"/s3/multipart/{started['uploadId']}/1", params={"key": started["key"]},
                                          headers=bearer(token))).json()["url"]
        aborted = await system.client.delete(f"/s3/multipart/{started['uploadId']}", params={"key": started["key"]},
                                             headers=bearer(token))
    else:
        image = (await system.client.post("/v1/images", headers=bearer(token), json={
            "filename": "a", "content_type": "application/octet-stream", "size_bytes": 10})).json()["image_id"]
        session = (await system.client.post("/v1/uploads:resumable", headers=bearer(token),
                                            json={"image_id": image, "total_bytes": 10})).json()
        signed = (await system.client.post(f"/v1/uploads/{session['session_id']}/parts/1",
                                           headers=bearer(token))).json()["url"]
        aborted = await system.client.post(f"/v1/uploads/{session['session_id']}:abort", headers=bearer(token))
    assert aborted.status_code == 200, aborted.text
    late = await put(signed, b"0123456789")
    assert late.status_code >= 400, late.text  # the multipart upload is gone (moto too refuses its parts)
