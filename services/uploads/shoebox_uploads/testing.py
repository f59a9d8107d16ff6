"""Helpers for tests that drive the upload signer through a running system (`shoebox.testing.run_system`):
its faces as their clients call them, and its state as the tests look at it. Not used by the service."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import select, update

from shoebox_lib.web import ServiceApp
from shoebox_uploads.container import Container
from shoebox_uploads.models import UploadSession
from shoebox_uploads.signer.sessions import Uploads
from shoebox_uploads.signer.sweeper import Sweeper

MiB = 1024 * 1024


class System(Protocol):
    """What these helpers need of `shoebox.testing.RunningSystem`."""

    client: httpx.AsyncClient
    services: dict[str, ServiceApp]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ente_headers(token: str) -> dict[str, str]:
    """As the Ente clients send it: base64url of the token, in X-Auth-Token."""
    return {"X-Auth-Token": base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")}


def container_of(system: System) -> Container:
    found: Container = system.services["uploads"].app.state.container
    return found


def uploads_of(system: System) -> Uploads:
    return container_of(system).uploads


def sweeper_of(system: System) -> Sweeper:
    return container_of(system).sweeper


async def session_by_key(system: System, key: str) -> UploadSession:
    async with uploads_of(system).db.transaction() as session:
        return (await session.execute(select(UploadSession).where(UploadSession.object_key == key))).scalar_one()


async def age(system: System, key: str) -> None:
    """Move a session's expiry into the past, as time would."""
    async with uploads_of(system).db.transaction() as session:
        await session.execute(update(UploadSession).where(UploadSession.object_key == key)
                              .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))


async def owner_id(system: System, token: str) -> int:
    me: int = (await system.client.get("/users/me", headers=bearer(token))).json()["id"]
    return me


async def set_quota(system: System, token: str, quota: int) -> int:
    owner = await owner_id(system, token)
    await system.services["metadata"].app.state.container.quotas.set_limits(owner, quota=quota)
    return owner


async def usage(system: System, token: str) -> dict[str, Any]:
    found: dict[str, Any] = (await system.client.get("/storage/usage", headers=bearer(token))).json()
    return found


async def holds_settled(system: System, token: str, reserved: int) -> None:
    """Wait until metadata holds `reserved` bytes for the owner: a hold is given back when metadata applies
    the `upload.ended` that the session's end emitted, a moment after the answer that ended it."""
    async with asyncio.timeout(20):
        while (await usage(system, token))["reserved"] != reserved:
            await asyncio.sleep(0.05)


async def put(url: str, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as storage:
        return await storage.put(url, content=data, headers=headers or {})


async def wait_stored(system: System, token: str, image_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            body: dict[str, Any] = (await system.client.get(f"/v1/images/{image_id}", headers=bearer(token))).json()
            if body["status"] != "upload_pending":
                return body
            await asyncio.sleep(0.05)


# --- Ente -------------------------------------------------------------------------------------------


def completion_xml(parts: list[tuple[int, str]]) -> str:
    """What the Ente web client POSTs to completeURL: the ETags verbatim, quotes and all."""
    inner = "\n".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts)
    return f"<CompleteMultipartUpload>\n{inner}\n</CompleteMultipartUpload>"


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


# --- Uppy -------------------------------------------------------------------------------------------


async def uppy_start(system: System, token: str, size: int | None = None, name: str = "clip.bin") -> httpx.Response:
    metadata: dict[str, Any] = {"name": name, "type": "application/octet-stream"}
    if size is not None:
        metadata["size"] = size
    return await system.client.post("/s3/multipart", headers=bearer(token), json={
        "filename": name, "type": "application/octet-stream", "metadata": metadata})


async def uppy_part(system: System, token: str, upload_id: str, key: str, number: int, data: bytes) -> str:
    signed = await system.client.get(f"/s3/multipart/{upload_id}/{number}", params={"key": key},
                                     headers=bearer(token))
    assert signed.status_code == 200, signed.text
    assert signed.json()["method"] == "PUT"
    sent = await put(signed.json()["url"], data)
    assert sent.status_code == 200, sent.text
    etag: str = sent.headers["etag"]
    return etag
