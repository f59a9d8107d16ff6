"""A 200 MiB file through the one port of `shoebox dev`: uploaded in parts, read back byte-identical.

Neither side holds the file: each part is generated (deterministically, from its number) just before
it is sent, and the download is hashed as it streams.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path

import httpx

from shoebox.testing import shoebox_dev, stop, tail, wait_healthy
from shoebox.testing.flow import bearer
from shoebox_lib.embedded import free_port

SIZE = 200 * 1024 * 1024
PASSWORD = "big-upload-admin-password"


def part_bytes(number: int, size: int) -> bytes:
    return random.Random(number).randbytes(size)


def part_sizes(total: int, part_size: int) -> list[int]:
    return [min(part_size, total - offset) for offset in range(0, total, part_size)]


async def test_a_200_mib_file_uploads_in_parts_and_reads_back_identical(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "dev.log"
    with shoebox_dev(tmp_path / "data", port, log, SHOEBOX_ADMIN_PASSWORD=PASSWORD) as proc:
        await wait_healthy(url, proc, log)
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            login = await client.post("/auth/token", data={"username": "admin@shoebox.local", "password": PASSWORD})
            assert login.status_code == 200, login.text
            headers = bearer(login.json()["access_token"])
            image = (await client.post("/v1/images", headers=headers, json={
                "filename": "big.bin", "content_type": "application/octet-stream", "size_bytes": SIZE})).json()
            session = (await client.post("/v1/uploads:resumable", headers=headers, json={
                "image_id": image["image_id"], "total_bytes": SIZE})).json()
            sizes = part_sizes(SIZE, session["part_size_bytes"])
            assert len(sizes) == session["part_count"] > 1

            expected = hashlib.sha256()
            parts = []
            for number, size in enumerate(sizes, start=1):
                data = part_bytes(number, size)
                expected.update(data)
                signed = await client.post(f"/v1/uploads/{session['session_id']}/parts/{number}", headers=headers)
                assert signed.status_code == 200, signed.text
                put = await client.put(signed.json()["url"], content=data)
                assert put.status_code == 200, put.text
                parts.append({"part_number": number, "etag": put.headers["etag"]})
            done = await client.post(f"/v1/uploads/{session['session_id']}:complete", headers=headers,
                                     json={"parts": parts})
            assert done.status_code == 200, done.text
            assert done.json()["size_bytes"] == SIZE

            async with asyncio.timeout(60):  # marked stored when metadata applies upload.completed
                while (await client.get(f"/v1/images/{image['image_id']}", headers=headers)).json()[
                        "status"] == "upload_pending":
                    await asyncio.sleep(0.1)
            view = await client.get(f"/v1/images/{image['image_id']}:view", params={"variant": "original"},
                                    headers=headers)
            assert view.status_code == 200, view.text
            got, length = hashlib.sha256(), 0
            async with client.stream("GET", view.json()["url"]) as download:
                assert download.status_code == 200
                async for chunk in download.aiter_bytes(1024 * 1024):
                    got.update(chunk)
                    length += len(chunk)
            assert length == SIZE
            assert got.hexdigest() == expected.hexdigest()
        assert stop(proc) == 0, tail(log)
