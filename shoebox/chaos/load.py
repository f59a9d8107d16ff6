"""The load: a v1 client uploading small, distinct images for as long as a fault lasts, as a real client
would: every call tried again with backoff while the answer is a connection error or a "try again" status,
and an upload counted completed only when its `:complete` answered 2xx."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from shoebox.testing.flow import bearer, random_png

log = logging.getLogger("shoebox.chaos.load")

# What a client tries again: the system busy, a dependency down, or another completion of the same upload.
RETRYABLE = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class GaveUp(Exception):
    """A call answered a refusal no retry changes, or kept failing past the upload's deadline."""


@dataclass(frozen=True)
class Completed:
    image_id: str
    session_id: str
    sha256: str
    size: int


@dataclass
class LoadResult:
    attempted: int = 0
    completed: list[Completed] = field(default_factory=list)
    gave_up: Counter[str] = field(default_factory=Counter)  # why, for the report


@dataclass
class Endpoints:
    auth: str
    metadata: str
    uploads: str


async def sign_in(endpoints: Endpoints, admin_email: str, admin_password: str, name: str) -> str:
    """A new ordinary user (the admin creates it through CL's user administration), signed in."""
    password = f"{name}-password-123"
    async with httpx.AsyncClient(timeout=30) as client:
        admin = await _token(client, endpoints.auth, admin_email, admin_password)
        created = await client.post(f"{endpoints.auth}/users/", headers=bearer(admin),
                                    data={"username": name, "password": password})
        if created.status_code != 201:
            raise GaveUp(f"creating {name}: {created.status_code} {created.text}")
        return await _token(client, endpoints.auth, name, password)


async def _token(client: httpx.AsyncClient, auth: str, username: str, password: str) -> str:
    response = await client.post(f"{auth}/auth/token", data={"username": username, "password": password})
    if response.status_code != 200:
        raise GaveUp(f"signing in {username}: {response.status_code} {response.text}")
    token: str = response.json()["access_token"]
    return token


class Uploader:
    """`workers` clients uploading one image after another, each starting at most `rate` uploads a second
    between them, until `stop()`; an upload under way when stopped is finished (or given up at its deadline)."""

    def __init__(self, endpoints: Endpoints, token: str, *, workers: int = 2, rate: float = 2.0,
                 upload_deadline: float = 240.0) -> None:
        self.endpoints = endpoints
        self.token = token
        self.workers = workers
        self.interval = workers / rate
        self.upload_deadline = upload_deadline
        self.result = LoadResult()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client = httpx.AsyncClient(timeout=15)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"chaos-uploader-{n}") for n in range(self.workers)]

    async def stop(self) -> LoadResult:
        self._stopping.set()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self._client.aclose()
        return self.result

    async def _work(self) -> None:
        while not self._stopping.is_set():
            began = time.monotonic()
            await self.upload_one()
            rest = self.interval - (time.monotonic() - began)
            if rest > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), rest)

    async def upload_one(self) -> None:
        self.result.attempted += 1
        data = random_png(48)
        deadline = time.monotonic() + self.upload_deadline
        try:
            completed = await self._upload(data, deadline)
        except GaveUp as exc:
            reason = str(exc).split(":", 1)[0]
            self.result.gave_up[reason] += 1
            log.warning("upload given up: %s", exc)
            return
        self.result.completed.append(completed)

    async def _upload(self, data: bytes, deadline: float) -> Completed:
        created = await self._call("declare", "POST", f"{self.endpoints.metadata}/v1/images", deadline, json={
            "filename": "chaos.png", "content_type": "image/png", "size_bytes": len(data)}, want=201)
        image_id = created["image_id"]
        session = await self._call("start", "POST", f"{self.endpoints.uploads}/v1/uploads:resumable", deadline,
                                   json={"image_id": image_id, "total_bytes": len(data),
                                         "content_type": "image/png"}, want=201)
        session_id, part_size = session["session_id"], session["part_size_bytes"]
        parts = []
        for number in range(1, session["part_count"] + 1):
            signed = await self._call("sign", "POST", f"{self.endpoints.uploads}/v1/uploads/{session_id}/parts/"
                                      f"{number}", deadline)
            chunk = data[(number - 1) * part_size: number * part_size]
            etag = await self._put(signed["url"], chunk, deadline)
            parts.append({"part_number": number, "etag": etag})
        await self._call("complete", "POST", f"{self.endpoints.uploads}/v1/uploads/{session_id}:complete",
                         deadline, json={"parts": parts})
        return Completed(image_id, session_id, hashlib.sha256(data).hexdigest(), len(data))

    async def _call(self, step: str, method: str, url: str, deadline: float, *, want: int | None = None,
                    **kwargs: Any) -> dict[str, Any]:
        def accepted(response: httpx.Response) -> bool:
            return (want is None and response.is_success) or response.status_code == want

        response = await self._retrying(step, deadline, accepted, lambda: self._client.request(
            method, url, headers=bearer(self.token), **kwargs))
        body: dict[str, Any] = response.json()
        return body

    async def _put(self, url: str, chunk: bytes, deadline: float) -> str:
        response = await self._retrying("put", deadline, lambda r: r.status_code == 200,
                                        lambda: self._client.put(url, content=chunk))
        return response.headers["etag"]

    @staticmethod
    async def _retrying(step: str, deadline: float, accepted: Callable[[httpx.Response], bool],
                        send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """`send` until its answer is `accepted`, through connection errors and retryable statuses, with
        backoff, until `deadline`."""
        for delay in _backoff():
            try:
                response = await send()
            except httpx.TransportError as exc:
                failure = type(exc).__name__
            else:
                if accepted(response):
                    return response
                if response.status_code not in RETRYABLE:
                    raise GaveUp(f"{step} {response.status_code}: {response.text[:300]}")
                failure = str(response.status_code)
            if time.monotonic() + delay > deadline:
                raise GaveUp(f"{step} deadline: last {failure}")
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def _backoff() -> Iterator[float]:
    """0.2 s, doubling, capped at 3 s: a client that neither hammers a system that is down nor waits long
    once it is back."""
    delay = 0.2
    while True:
        yield delay
        delay = min(delay * 2, 3.0)
