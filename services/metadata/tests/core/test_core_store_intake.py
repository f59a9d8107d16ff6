"""Receiving an uploaded file into the PRIMARY tier, on both storage drivers: hashed as it passes, bounded,
and nothing left behind when it fails."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shoebox_lib import keys
from shoebox_lib.errors import InvalidInput, PayloadTooLarge
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage
from shoebox_lib.storage.filesystem import FilesystemDriver
from shoebox_lib.storage.s3 import STREAM_PART_SIZE, S3Driver
from shoebox_lib.web.streaming_form import FilePart, StreamingForm
from shoebox_metadata.store.intake import HEAD_BYTES, Received, receive
from shoebox_metadata.store.space import STORE_SPACE

KiB = 1024
MiB = 1024 * KiB
LIMIT = 64 * MiB


@pytest.fixture(params=["filesystem", "s3"])
async def storage(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
                  ) -> AsyncIterator[Storage]:
    overrides: dict[str, Any] = request.getfixturevalue("s3_settings") if request.param == "s3" else {}
    found = Storage.from_settings(make_settings(**overrides))
    await found.start()
    try:
        yield found
    finally:
        await found.close()


def new_key() -> str:
    return keys.space_original(STORE_SPACE, uuid.uuid4().hex)


async def chunked(data: bytes, size: int = 64 * KiB, *, then: BaseException | None = None
                  ) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]
    if then is not None:
        raise then


async def stored_keys(storage: Storage) -> list[str]:
    """Every object and every unfinished multipart upload in the PRIMARY bucket, and for the filesystem
    driver every file at all (its temporary files included)."""
    driver = storage.primary
    found = [f"upload:{u.key}" for u in
             await driver.list_multipart_uploads(initiated_before=datetime.now(UTC) + timedelta(days=1))]
    if isinstance(driver, FilesystemDriver):
        found += [p.relative_to(driver.root).as_posix() for p in Path(driver.root).rglob("*") if p.is_file()]
    else:
        assert isinstance(driver, S3Driver)
        listed = await driver._client.list_objects_v2(Bucket=driver.bucket)  # the driver lists nothing itself
        found += [o["Key"] for o in listed.get("Contents", [])]
    return found


def assert_received(received: Received, key: str, data: bytes) -> None:
    assert received.object_key == key
    assert received.size == len(data)
    assert received.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert received.sha256 == hashlib.sha256(data).hexdigest()
    assert received.head == data[:HEAD_BYTES]


async def test_a_small_file_is_stored_and_hashed(storage: Storage) -> None:
    data = os.urandom(300_001)
    key = new_key()
    received = await receive(storage, key, chunked(data, 4096), limit=LIMIT, content_type="image/jpeg")
    assert_received(received, key, data)
    assert received.head == data
    assert await storage.primary.get_bytes(key) == data
    info = await storage.primary.head(key)
    assert info is not None
    assert info.size == len(data)
    assert info.content_type == "image/jpeg"


async def test_a_file_larger_than_a_part_streams_through(storage: Storage) -> None:
    data = os.urandom(2 * STREAM_PART_SIZE + 12345)  # an S3 multipart upload of three parts
    key = new_key()
    received = await receive(storage, key, chunked(data), limit=LIMIT, content_type=None)
    assert_received(received, key, data)
    assert len(received.head) == HEAD_BYTES
    stored = hashlib.sha256()
    async for chunk in storage.primary.get_stream(key):
        stored.update(chunk)
    assert stored.hexdigest() == received.sha256
    # Only the object (and the filesystem driver's sidecar describing it): no parts, no temporary file.
    assert [k for k in await stored_keys(storage) if not k.startswith(".shoebox/meta/")] == [key]


async def test_empty_chunks_are_passed_over(storage: Storage) -> None:
    async def with_gaps() -> AsyncIterator[bytes]:
        for piece in (b"", b"abc", b"", b"", b"def", b""):
            yield piece

    received = await receive(storage, key := new_key(), with_gaps(), limit=LIMIT, content_type=None)
    assert_received(received, key, b"abcdef")


async def test_exactly_the_limit_is_allowed(storage: Storage) -> None:
    data = os.urandom(100_000)
    received = await receive(storage, key := new_key(), chunked(data, 999), limit=len(data), content_type=None)
    assert_received(received, key, data)


@pytest.mark.parametrize("size", [100_001, STREAM_PART_SIZE + MiB])
async def test_past_the_limit_is_refused_and_nothing_is_left(storage: Storage, size: int) -> None:
    data = os.urandom(size)
    key = new_key()
    with pytest.raises(PayloadTooLarge):
        await receive(storage, key, chunked(data), limit=size - 1, content_type=None)
    assert await storage.primary.head(key) is None
    assert await stored_keys(storage) == []


@pytest.mark.parametrize("size", [100_000, STREAM_PART_SIZE + MiB])
async def test_a_body_cut_short_leaves_nothing(storage: Storage, size: int) -> None:
    cut = InvalidInput("The upload ended before the form was complete", code="INCOMPLETE_UPLOAD")
    key = new_key()
    with pytest.raises(InvalidInput) as caught:
        await receive(storage, key, chunked(os.urandom(size), then=cut), limit=LIMIT, content_type=None)
    assert caught.value is cut
    assert await storage.primary.head(key) is None
    assert await stored_keys(storage) == []


async def test_an_empty_file_is_refused_and_nothing_is_left(storage: Storage) -> None:
    key = new_key()
    with pytest.raises(InvalidInput, match="The file is empty"):
        await receive(storage, key, chunked(b""), limit=LIMIT, content_type=None)
    assert await stored_keys(storage) == []


async def test_a_cancelled_upload_leaves_nothing(storage: Storage) -> None:
    """The client goes away while the upload is in the middle of its parts (the request is cancelled)."""
    waiting = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        async for chunk in chunked(os.urandom(STREAM_PART_SIZE + MiB)):
            yield chunk
        waiting.set()
        await asyncio.Event().wait()  # never comes
        yield b"never"

    key = new_key()
    task = asyncio.create_task(receive(storage, key, stalls(), limit=LIMIT, content_type=None))
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await stored_keys(storage) == []


async def test_a_file_part_of_a_streaming_form(storage: Storage) -> None:
    """The route's path: the form's file part goes straight into storage."""
    boundary = "b0undary"
    data = os.urandom(3 * MiB + 17)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\nx\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"media_file\"; filename=\"a.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    form = StreamingForm(chunked(body), f"multipart/form-data; boundary={boundary}")
    assert await form.next_part() is not None
    part = await form.next_part()
    assert isinstance(part, FilePart)
    received = await receive(storage, key := new_key(), part.chunks(), limit=LIMIT,
                             content_type=part.content_type)
    assert_received(received, key, data)
    assert await form.next_part() is None
    assert await storage.primary.get_bytes(key) == data
