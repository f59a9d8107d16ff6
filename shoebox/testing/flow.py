"""What a client of the v1 face does to upload an image and see it processed, as plain HTTP."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

log = logging.getLogger("shoebox.testing.flow")


def make_png(width: int = 640, height: int = 480) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 255) // width, (y * 255) // height, 128) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def random_png(side: int = 8) -> bytes:
    """A small PNG of random pixels: its bytes are nobody else's, so the store never takes it for a duplicate."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Uploaded:
    image_id: str
    session_id: str
    complete: dict[str, Any]


async def upload(client: httpx.AsyncClient, token: str, data: bytes, *, filename: str = "cat.png",
                 content_type: str = "image/png", **fields: Any) -> Uploaded:
    """Declare the image (with any of POST /v1/images' other `fields`: album_id, tags, title…), upload it part
    by part straight to storage, and complete the upload."""
    created = await client.post("/v1/images", headers=bearer(token), json={
        "filename": filename, "content_type": content_type, "size_bytes": len(data), **fields,
    })
    assert created.status_code == 201, created.text
    image_id = created.json()["image_id"]
    assert created.json()["status"] == "upload_pending"

    started = await client.post("/v1/uploads:resumable", headers=bearer(token), json={
        "image_id": image_id, "total_bytes": len(data), "content_type": content_type,
    })
    assert started.status_code == 201, started.text
    session = started.json()
    part_size = session["part_size_bytes"]

    parts = []
    async with httpx.AsyncClient(timeout=60) as storage:  # straight to storage, not through the API
        for number in range(1, session["part_count"] + 1):
            signed = await client.post(f"/v1/uploads/{session['session_id']}/parts/{number}", headers=bearer(token))
            assert signed.status_code == 200, signed.text
            chunk = data[(number - 1) * part_size: number * part_size]
            put = await put_part(storage, signed.json()["url"], chunk)
            assert put.status_code == 200, put.text
            parts.append({"part_number": number, "etag": put.headers["etag"]})

    completed = await client.post(f"/v1/uploads/{session['session_id']}:complete", headers=bearer(token),
                                  json={"parts": parts})
    assert completed.status_code == 200, completed.text
    return Uploaded(image_id, session["session_id"], completed.json())


def is_processed(body: dict[str, Any]) -> bool:
    """The variants (if any) are made and every object has its SECONDARY replica: the original's and one per
    variant made (a failed variant has no object)."""
    replicated = [r["object"] for r in body["replicas"] if r["tier"] == "secondary"]
    made = sum(1 for v in body["variants"] if v["status"] == "ready")
    return body["status"] == "ready" and replicated.count("original") == 1 and replicated.count("variant") == made


async def put_part(storage: httpx.AsyncClient, url: str, chunk: bytes) -> httpx.Response:
    """PUT one part to storage, tried again on a 5xx as S3's clients do: storage answers 500 and 503 now and
    then (moto's in-process server under a loaded machine among them), and a part PUT is idempotent."""
    for delay in (0.2, 0.5, 1.0):
        put = await storage.put(url, content=chunk)
        if put.status_code < 500:
            return put
        log.warning("storage answered %s to a part PUT; trying again: %s", put.status_code, put.text[:500])
        await asyncio.sleep(delay)
    return await storage.put(url, content=chunk)


async def wait_processed(client: httpx.AsyncClient, token: str, image_id: str) -> dict[str, Any]:
    """Completion travels as events; poll as a client would until they have all been applied."""
    async with asyncio.timeout(60):
        while True:
            response = await client.get(f"/v1/images/{image_id}", headers=bearer(token))
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if is_processed(body):
                return body
            await asyncio.sleep(0.1)


async def fetch_variant(client: httpx.AsyncClient, token: str, image_id: str, variant: str) -> bytes:
    view = await client.get(f"/v1/images/{image_id}:view", params={"variant": variant}, headers=bearer(token))
    assert view.status_code == 200, view.text
    assert view.json()["expires_in_sec"] > 0
    async with httpx.AsyncClient(timeout=60) as storage:
        got = await storage.get(view.json()["url"])
    assert got.status_code == 200, got.text
    return got.content
