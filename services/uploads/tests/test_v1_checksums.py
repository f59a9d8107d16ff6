"""The v1 face's declared SHA-256: vouched for by storage where it can, else verified off the request path."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import httpx

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer
from shoebox_uploads.testing import MiB, put, uploads_of


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
