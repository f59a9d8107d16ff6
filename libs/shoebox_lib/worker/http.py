"""A worker's HTTP side: ranged GETs of its inputs' presigned URLs and PUTs of its outputs to theirs.

Both a blocking client (for task functions, which run in threads) and an async one (for `async def`
tasks, which run on the event loop). Everything is bounded: a ranged read asks for at most
`MAX_RANGE_BYTES` and never keeps more than it asked for, a PUT sends exactly the size its URL was signed
for, and transient failures (a dropped connection, a 5xx) are retried a few times, then raised.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

import httpx

MAX_RANGE_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
ATTEMPTS = 3
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_BACKOFF_SECONDS = (0.2, 1.0)
_ERROR_BODY_CHARS = 300


class TransferError(Exception):
    """An input could not be read or an output not stored; worth another try of the job."""


def _retryable_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def _range_header(offset: int, length: int) -> dict[str, str]:
    return {"Range": f"bytes={offset}-{offset + length - 1}"}


def check_range(offset: int, length: int, size: int) -> int:
    """The number of bytes a read of `length` at `offset` returns from an object of `size` bytes."""
    if offset < 0 or length < 0:
        raise ValueError(f"a ranged read needs a non-negative offset and length, not {offset}, {length}")
    if length > MAX_RANGE_BYTES:
        raise ValueError(f"a ranged read asks for at most {MAX_RANGE_BYTES} bytes, not {length}")
    return max(0, min(length, size - offset))


def _describe(response: httpx.Response, what: str, body: bytes = b"") -> str:
    text = body[:_ERROR_BODY_CHARS].decode("utf-8", "replace")
    return f"{what}: HTTP {response.status_code} {text}".rstrip()


def _whole_from_start(response: httpx.Response, offset: int, what: str) -> bool:
    """Whether the answer's body starts at `offset`: a 206, or a 200 (the whole object, which a server
    may send for a range covering all of it, RFC 9110) for a read from the start."""
    if response.status_code == 206:
        return False
    if response.status_code == 200 and offset == 0:
        return True
    raise TransferError(_describe(response, f"{what}: expected a partial answer (206) to a ranged read"))


def _add(buffer: bytearray, chunk: bytes, want: int, whole: bool, what: str) -> bool:
    """Add a chunk; True once `want` bytes are in (the rest of a whole object is not read)."""
    buffer += chunk
    if len(buffer) > want:
        if not whole:
            raise TransferError(f"{what}: the server sent more than the {want} bytes asked for")
        del buffer[want:]
    return len(buffer) >= want and whole


def _check_length(buffer: bytearray, want: int, what: str) -> bytes:
    if len(buffer) < want:
        raise TransferError(f"{what}: the object ended early: {len(buffer)} of {want} bytes")
    return bytes(buffer)


def _take(chunks: Iterator[bytes], offset: int, want: int, response: httpx.Response, what: str) -> bytes:
    whole = _whole_from_start(response, offset, what)
    buffer = bytearray()
    for chunk in chunks:
        if _add(buffer, chunk, want, whole, what):
            break
    return _check_length(buffer, want, what)


async def _atake(chunks: AsyncIterator[bytes], offset: int, want: int, response: httpx.Response,
                 what: str) -> bytes:
    whole = _whole_from_start(response, offset, what)
    buffer = bytearray()
    async for chunk in chunks:
        if _add(buffer, chunk, want, whole, what):
            break
    return _check_length(buffer, want, what)


def _head(chunks: Iterator[bytes]) -> bytes:
    """The start of an error's body, for the message; the rest is not read."""
    for chunk in chunks:
        return chunk
    return b""


async def _ahead(chunks: AsyncIterator[bytes]) -> bytes:
    async for chunk in chunks:
        return chunk
    return b""


def get_range(client: httpx.Client, url: str, offset: int, want: int, what: str) -> bytes:
    """`want` bytes at `offset` (the caller has clamped `want` to the object with `check_range`)."""
    if want == 0:
        return b""
    for attempt in range(ATTEMPTS):
        try:
            with client.stream("GET", url, headers=_range_header(offset, want)) as response:
                if _retryable_status(response.status_code) and attempt + 1 < ATTEMPTS:
                    pass
                elif response.status_code >= 400:
                    raise TransferError(_describe(response, what, _head(response.iter_bytes())))
                else:
                    return _take(response.iter_bytes(), offset, want, response, what)
        except httpx.TransportError as error:
            if attempt + 1 >= ATTEMPTS:
                raise TransferError(f"{what}: {type(error).__name__}: {error}") from error
        time.sleep(_BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS) - 1)])
    raise AssertionError("unreachable")


async def aget_range(client: httpx.AsyncClient, url: str, offset: int, want: int, what: str) -> bytes:
    if want == 0:
        return b""
    for attempt in range(ATTEMPTS):
        try:
            async with client.stream("GET", url, headers=_range_header(offset, want)) as response:
                if _retryable_status(response.status_code) and attempt + 1 < ATTEMPTS:
                    pass
                elif response.status_code >= 400:
                    raise TransferError(_describe(response, what, await _ahead(response.aiter_bytes())))
                else:
                    return await _atake(response.aiter_bytes(), offset, want, response, what)
        except httpx.TransportError as error:
            if attempt + 1 >= ATTEMPTS:
                raise TransferError(f"{what}: {type(error).__name__}: {error}") from error
        await asyncio.sleep(_BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS) - 1)])
    raise AssertionError("unreachable")


def remaining_size(file: BinaryIO) -> tuple[int, int]:
    """(start, size): where `file` is now and how many bytes are left to its end. The size is signed into
    the upload URL before a byte is sent, so the file must be seekable."""
    if not file.seekable():
        raise ValueError("put_file needs a seekable file: the upload URL is signed for an exact size")
    start = file.tell()
    end = file.seek(0, io.SEEK_END)
    file.seek(start)
    return start, max(0, end - start)


def _file_chunks(file: BinaryIO, size: int, what: str) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        chunk = file.read(min(CHUNK_BYTES, size - sent))
        if not chunk:
            raise TransferError(f"{what}: the file ended after {sent} of {size} bytes")
        sent += len(chunk)
        yield chunk


def put(client: httpx.Client, url: str, headers: dict[str, str], body: bytes | BinaryIO, size: int,
        what: str) -> None:
    """PUT exactly `size` bytes (bytes, or a seekable file from its current position) to a presigned URL."""
    start = body.tell() if not isinstance(body, bytes | bytearray | memoryview) else 0
    sent_headers = {**headers, "Content-Length": str(size)}
    for attempt in range(ATTEMPTS):
        try:
            if isinstance(body, bytes | bytearray | memoryview):
                response = client.put(url, content=bytes(body), headers=sent_headers)
            else:
                body.seek(start)
                response = client.put(url, content=_file_chunks(body, size, what), headers=sent_headers)
            if response.is_success:
                return
            if not (_retryable_status(response.status_code) and attempt + 1 < ATTEMPTS):
                raise TransferError(_describe(response, what, response.content))
        except httpx.TransportError as error:
            if attempt + 1 >= ATTEMPTS:
                raise TransferError(f"{what}: {type(error).__name__}: {error}") from error
        time.sleep(_BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS) - 1)])


async def aput(client: httpx.AsyncClient, url: str, headers: dict[str, str], body: bytes, what: str) -> None:
    sent_headers = {**headers, "Content-Length": str(len(body))}
    for attempt in range(ATTEMPTS):
        try:
            response = await client.put(url, content=body, headers=sent_headers)
            if response.is_success:
                return
            if not (_retryable_status(response.status_code) and attempt + 1 < ATTEMPTS):
                raise TransferError(_describe(response, what, response.content))
        except httpx.TransportError as error:
            if attempt + 1 >= ATTEMPTS:
                raise TransferError(f"{what}: {type(error).__name__}: {error}") from error
        await asyncio.sleep(_BACKOFF_SECONDS[min(attempt, len(_BACKOFF_SECONDS) - 1)])
