"""The v1 upload routes under attack: other people's sessions, lying sizes and parts, replays."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, upload
from shoebox_uploads.signer.rules import choose_part_size
from shoebox_uploads.testing import uploads_of


async def new_image(api: RunningSystem, token: str, size: int) -> str:
    created = await api.client.post("/v1/images", headers=bearer(token), json={
        "filename": "f.bin", "content_type": "application/octet-stream", "size_bytes": size})
    assert created.status_code == 201
    image_id: str = created.json()["image_id"]
    return image_id


async def start(api: RunningSystem, token: str, image_id: str, total: int) -> httpx.Response:
    return await api.client.post("/v1/uploads:resumable", headers=bearer(token),
                                 json={"image_id": image_id, "total_bytes": total})


async def put_part(api: RunningSystem, token: str, session_id: str, number: int, data: bytes) -> str:
    signed = await api.client.post(f"/v1/uploads/{session_id}/parts/{number}", headers=bearer(token))
    assert signed.status_code == 200, signed.text
    async with httpx.AsyncClient() as storage:
        put = await storage.put(signed.json()["url"], content=data)
    assert put.status_code == 200
    etag: str = put.headers["etag"]
    return etag


async def complete(api: RunningSystem, token: str, session_id: str, parts: list[dict[str, Any]]) -> httpx.Response:
    return await api.client.post(f"/v1/uploads/{session_id}:complete", headers=bearer(token), json={"parts": parts})


def test_part_size_grows_to_fit_ten_thousand_parts() -> None:
    assert choose_part_size(1) == 8 * 1024 * 1024
    assert choose_part_size(80 * 1024**3) == 16 * 1024 * 1024
    assert 5 * 1024**4 / choose_part_size(5 * 1024**4) <= 10_000


async def test_another_users_image_and_session_are_not_found(api: RunningSystem) -> None:
    owner, intruder = await api.user_token("anna"), await api.user_token("mallory")
    image_id = await new_image(api, owner, 5)
    assert (await start(api, intruder, image_id, 5)).status_code == 404
    session = (await start(api, owner, image_id, 5)).json()
    sid = session["session_id"]
    for method, path, body in [
        ("POST", f"/v1/uploads/{sid}/parts/1", None),
        ("POST", f"/v1/uploads/{sid}:complete", {"parts": [{"part_number": 1, "etag": "x"}]}),
        ("POST", f"/v1/uploads/{sid}:abort", None),
        ("GET", f"/v1/uploads/{sid}", None),
    ]:
        response = await api.client.request(method, path, headers=bearer(intruder), json=body)
        assert response.status_code == 404, f"{method} {path}: {response.text}"
    # Untouched: the owner still completes it.
    etag = await put_part(api, owner, sid, 1, b"hello")
    assert (await complete(api, owner, sid, [{"part_number": 1, "etag": etag}])).status_code == 200


async def test_declared_size_must_match_the_image(api: RunningSystem) -> None:
    token = await api.token()
    image_id = await new_image(api, token, 100)
    response = await start(api, token, image_id, 99)
    assert response.status_code == 400
    assert "size_bytes" in response.json()["message"]


@pytest.mark.parametrize("number", [0, 10_001, 2, -1])
async def test_part_numbers_outside_the_session_are_refused(api: RunningSystem, number: int) -> None:
    token = await api.token()
    sid = (await start(api, token, await new_image(api, token, 10), 10)).json()["session_id"]
    response = await api.client.post(f"/v1/uploads/{sid}/parts/{number}", headers=bearer(token))
    assert response.status_code == 400


async def test_a_complete_that_lies_about_parts_is_refused_and_the_session_survives(api: RunningSystem) -> None:
    token = await api.token()
    sid = (await start(api, token, await new_image(api, token, 10), 10)).json()["session_id"]
    etag = await put_part(api, token, sid, 1, b"0123456789")
    for parts in ([{"part_number": 1, "etag": '"0000"'}],
                  [{"part_number": 1, "etag": etag}, {"part_number": 2, "etag": etag}],
                  [{"part_number": 0, "etag": etag}]):
        assert (await complete(api, token, sid, parts)).status_code == 400, parts
    good = await complete(api, token, sid, [{"part_number": 1, "etag": etag}])
    assert good.status_code == 200


async def test_an_object_smaller_than_declared_is_refused_and_removed(system: RunningSystem) -> None:
    token = await system.token()
    image_id = await new_image(system, token, 1000)
    session = (await start(system, token, image_id, 1000)).json()
    etag = await put_part(system, token, session["session_id"], 1, b"only 20 bytes here..")
    response = await complete(system, token, session["session_id"], [{"part_number": 1, "etag": etag}])
    assert response.status_code == 400
    assert "declared" in response.json()["message"]
    storage = system.services["uploads"].app.state.runtime.storage
    assert await storage.primary.head(session["object_key"]) is None
    again = await complete(system, token, session["session_id"], [{"part_number": 1, "etag": etag}])
    assert again.status_code == 409  # the session is failed, not half-open
    image = (await system.client.get(f"/v1/images/{image_id}", headers=bearer(token))).json()
    assert image["status"] == "upload_pending"


async def test_a_retried_complete_answers_the_same_and_emits_once(api: RunningSystem) -> None:
    token = await api.token()
    data = os.urandom(100)
    uploaded = await upload(api.client, token, data, filename="x.bin", content_type="application/octet-stream")
    status = await api.client.get(f"/v1/uploads/{uploaded.session_id}", headers=bearer(token))
    assert status.json()["status"] == "completed"
    etag = "irrelevant once completed"
    again = await complete(api, token, uploaded.session_id, [{"part_number": 1, "etag": etag}])
    assert again.status_code == 200
    assert again.json() == uploaded.complete
    # Starting another upload for an image already stored is refused.
    image_id = uploaded.image_id
    async with asyncio.timeout(20):
        while (await api.client.get(f"/v1/images/{image_id}", headers=bearer(token))).json()["status"] \
                == "upload_pending":
            await asyncio.sleep(0.05)
    assert (await start(api, token, image_id, 100)).status_code == 409


async def test_resume_lists_parts_and_abort_ends_the_session(api: RunningSystem) -> None:
    token = await api.token()
    size = 6 * 1024 * 1024
    sid = (await start(api, token, await new_image(api, token, size), size)).json()["session_id"]
    await put_part(api, token, sid, 1, os.urandom(size))
    listed = (await api.client.get(f"/v1/uploads/{sid}", headers=bearer(token))).json()
    assert [p["part_number"] for p in listed["parts"]] == [1]
    assert listed["parts"][0]["size_bytes"] == size
    aborted = await api.client.post(f"/v1/uploads/{sid}:abort", headers=bearer(token))
    assert aborted.json()["status"] == "aborted"
    assert (await api.client.post(f"/v1/uploads/{sid}/parts/1", headers=bearer(token))).status_code == 409


async def test_an_image_id_that_is_not_one_is_a_404_before_metadata_is_asked(
        api: RunningSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await api.token()
    metadata = uploads_of(api).library.metadata
    asked: list[str] = []
    real = metadata.call

    async def call(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(path)
        return await real(method, path, *args, **kwargs)

    monkeypatch.setattr(metadata, "call", call)
    for image_id in ("../../storage/usage", "img_../../storage/usage", "img_1/../2", "img_\x01", "img_1\n",
                     "img_\u0661\u0662", "img_" + "9" * 19):
        response = await start(api, token, image_id, 5)
        assert response.status_code == 404, (image_id, response.text)
    assert asked == []
