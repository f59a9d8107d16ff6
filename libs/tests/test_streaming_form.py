"""The streaming form reader: parts as they arrive, files never held whole, every input bounded."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shoebox_lib.errors import InvalidInput
from shoebox_lib.web.streaming_form import FilePart, FormField, StreamingForm

BOUNDARY = "shoebox-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
KiB = 1024
MiB = 1024 * KiB


def field(name: str, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode() + data + b"\r\n"


def file(name: str, filename: str, data: bytes, content_type: str | None = "application/octet-stream") -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode("utf-8") + b"\r\n" + data + b"\r\n"


def closing() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


class Feed:
    """A request body arriving `size` bytes at a time, counting what the reader has pulled."""

    def __init__(self, body: bytes, size: int = 64 * KiB, *, then: BaseException | None = None) -> None:
        self.body = body
        self.size = size
        self.then = then
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), self.size):
            chunk = self.body[start:start + self.size]
            self.pulled += len(chunk)
            yield chunk
        if self.then is not None:
            raise self.then


def form(body: bytes, size: int = 64 * KiB, **limits: int) -> StreamingForm:
    return StreamingForm(aiter(Feed(body, size)), CONTENT_TYPE, **limits)


async def read_all(reader: StreamingForm) -> list[FormField | tuple[str, str | None, str | None, bytes]]:
    """Every part: fields as they are, files as (name, filename, content type, bytes)."""
    found: list[FormField | tuple[str, str | None, str | None, bytes]] = []
    while (part := await reader.next_part()) is not None:
        if isinstance(part, FilePart):
            data = b"".join([chunk async for chunk in part.chunks()])
            found.append((part.name, part.filename, part.content_type, data))
        else:
            found.append(part)
    return found


# --- Fields and files ------------------------------------------------------------------------------------


async def test_fields_before_the_file() -> None:
    data = os.urandom(300_000)
    body = field("is_collection", "false") + field("label", "Été à Paris") + file("media_file", "a.jpg", data,
                                                                                 "image/jpeg") + closing()
    assert await read_all(form(body)) == [
        FormField("is_collection", "false"), FormField("label", "Été à Paris"),
        ("media_file", "a.jpg", "image/jpeg", data),
    ]


async def test_the_file_before_the_fields() -> None:
    data = os.urandom(5000)
    body = file("image", "b.png", data, None) + field("label", "") + field("parent_id", "12") + closing()
    assert await read_all(form(body)) == [
        ("image", "b.png", None, data), FormField("label", ""), FormField("parent_id", "12"),
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 13, 64, 4096])
async def test_any_split_of_the_body_reads_the_same(size: int) -> None:
    # Boundaries, headers and data cut at every possible place must parse identically.
    data = bytes(range(256)) * 4 + f"\r\n--{BOUNDARY}x".encode()  # a near-boundary inside the data
    body = field("a", "one") + file("f", "x.bin", data) + field("b", "two") + closing()
    assert await read_all(form(body, size)) == [FormField("a", "one"), ("f", "x.bin", "application/octet-stream",
                                                                         data), FormField("b", "two")]


async def test_file_names_are_utf8_and_an_empty_one_is_none() -> None:
    body = file("f", "photo d'été.jpg", b"x") + file("g", "", b"") + closing()
    assert await read_all(form(body)) == [
        ("f", "photo d'été.jpg", "application/octet-stream", b"x"), ("g", None, "application/octet-stream", b""),
    ]


async def test_an_empty_form_has_no_parts() -> None:
    assert await form(closing()).next_part() is None


async def test_a_file_part_can_be_skipped() -> None:
    body = file("f", "x.bin", os.urandom(200_000)) + field("label", "after") + closing()
    reader = form(body, 1000)
    part = await reader.next_part()
    assert isinstance(part, FilePart)
    await part.skip()
    assert await reader.next_part() == FormField("label", "after")
    assert await reader.next_part() is None


async def test_a_file_part_read_part_way_can_then_be_skipped() -> None:
    body = file("f", "x.bin", os.urandom(200_000)) + field("label", "after") + closing()
    reader = form(body, 1000)
    part = await reader.next_part()
    assert isinstance(part, FilePart)
    chunks = part.chunks()
    assert await anext(chunks)
    await part.skip()
    assert await reader.next_part() == FormField("label", "after")


async def test_the_next_part_waits_for_the_file_to_be_read() -> None:
    reader = form(file("f", "x.bin", b"data") + field("a", "b") + closing())
    assert isinstance(await reader.next_part(), FilePart)
    with pytest.raises(RuntimeError):
        await reader.next_part()


async def test_a_large_file_arrives_in_chunks_as_it_is_received() -> None:
    """64 MiB through in 64 KiB chunks: no chunk is larger than what arrived, and the reader never runs
    more than one received chunk ahead of what it has handed on (so nothing accumulates)."""
    size, feed_size = 64 * MiB, 64 * KiB
    block = os.urandom(MiB)
    data = block * (size // MiB)
    feed = Feed(file("media_file", "big.mov", data, "video/quicktime") + field("label", "big") + closing(), feed_size)
    reader = StreamingForm(aiter(feed), CONTENT_TYPE)
    part = await reader.next_part()
    assert isinstance(part, FilePart)
    digest = hashlib.sha256()
    delivered = largest = count = 0
    furthest_ahead = 0
    async for chunk in part.chunks():
        count += 1
        delivered += len(chunk)
        largest = max(largest, len(chunk))
        furthest_ahead = max(furthest_ahead, feed.pulled - delivered)
        digest.update(chunk)
    assert delivered == size
    assert digest.digest() == hashlib.sha256(data).digest()
    assert largest <= feed_size
    assert count >= size // feed_size
    assert furthest_ahead <= feed_size + 512  # one received chunk, plus the part's headers
    assert await reader.next_part() == FormField("label", "big")


# --- Truncated and malformed bodies --------------------------------------------------------------------


@pytest.mark.parametrize("cut", [10, 60, 100, 5000, -len(closing()) - 3, -3])
async def test_a_body_that_ends_early_is_incomplete(cut: int) -> None:
    body = (field("label", "x") + file("f", "x.bin", os.urandom(10_000)) + closing())[:cut]
    with pytest.raises(InvalidInput) as caught:
        await read_all(form(body, 1024))
    assert caught.value.code == "INCOMPLETE_UPLOAD"
    assert caught.value.message == "The upload ended before the form was complete"


async def test_a_client_that_disconnects_leaves_an_incomplete_upload() -> None:
    body = file("f", "x.bin", os.urandom(10_000))[:6000]
    reader = StreamingForm(aiter(Feed(body, 1000, then=ClientDisconnect())), CONTENT_TYPE)
    part = await reader.next_part()
    assert isinstance(part, FilePart)
    with pytest.raises(InvalidInput) as caught:
        async for _ in part.chunks():
            pass
    assert caught.value.code == "INCOMPLETE_UPLOAD"
    with pytest.raises(InvalidInput):  # a failed form stays failed
        await reader.next_part()


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data",
                                          "multipart/form-data; boundary=", "text/plain; boundary=x",
                                          f"multipart/form-data; boundary={'b' * 300}"])
def test_the_content_type_must_be_multipart_with_a_boundary(content_type: str) -> None:
    with pytest.raises(InvalidInput):
        StreamingForm(aiter(Feed(b"")), content_type)


@pytest.mark.parametrize("body", [
    b"this is not a form at all\r\n" * 10,
    f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--{BOUNDARY}--\r\n".encode(),
    f"--{BOUNDARY}\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
    f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--{BOUNDARY}--\r\n".encode(),
    f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n".encode() + b"\xff\xfe\r\n"
    + closing(),
    f"--{BOUNDARY}\r\nno colon in this header\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
    f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Long: {'v' * 5000}\r\n\r\nx\r\n".encode()
    + closing(),
    f"--{BOUNDARY}\r\n".encode() + b"".join(f"X-H{i}: v\r\n".encode() for i in range(20)) + b"\r\nx\r\n"
    + closing(),
])
async def test_a_malformed_body_is_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        await read_all(form(body, 100))
    assert caught.value.status_code == 400
    assert caught.value.message.startswith("The form is malformed"), caught.value.message


async def test_a_field_longer_than_its_limit_is_refused() -> None:
    body = field("label", "x" * 1001) + closing()
    with pytest.raises(InvalidInput, match="longer than 1000 bytes"):
        await read_all(form(body, max_field_bytes=1000))
    assert await read_all(form(field("label", "x" * 1000) + closing(), max_field_bytes=1000)) == [
        FormField("label", "x" * 1000)]


async def test_more_parts_than_the_limit_are_refused() -> None:
    body = b"".join(field(f"f{i}", "v") for i in range(11)) + closing()
    with pytest.raises(InvalidInput, match="more than 10 fields"):
        await read_all(form(body, max_fields=10))
    assert len(await read_all(form(b"".join(field(f"f{i}", "v") for i in range(10)) + closing(),
                                   max_fields=10))) == 10


async def test_a_file_is_not_bounded_by_the_field_limit() -> None:
    data = os.urandom(100_000)
    assert await read_all(form(file("f", "a.bin", data) + closing(), max_field_bytes=10)) == [
        ("f", "a.bin", "application/octet-stream", data)]


# --- From a real request -------------------------------------------------------------------------------


async def test_a_starlette_request_stream_from_an_http_client() -> None:
    """The way a route uses it: `request.stream()` of a form httpx encoded."""

    async def endpoint(request: Request) -> JSONResponse:
        reader = StreamingForm(request.stream(), request.headers["content-type"])
        seen: list[object] = []
        while (part := await reader.next_part()) is not None:
            if isinstance(part, FilePart):
                digest = hashlib.md5(usedforsecurity=False)
                async for chunk in part.chunks():
                    digest.update(chunk)
                seen.append([part.name, part.filename, part.content_type, digest.hexdigest()])
            else:
                seen.append([part.name, part.value])
        return JSONResponse(seen)

    app = Starlette(routes=[Route("/", endpoint, methods=["POST"])])
    data = os.urandom(3 * MiB + 5)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post("/", data={"is_collection": "false", "label": "ünïcode"},
                                     files={"media_file": ("clip.mp4", data, "video/mp4")})
    assert response.status_code == 200
    assert response.json() == [["is_collection", "false"], ["label", "ünïcode"],
                               ["media_file", "clip.mp4", "video/mp4", hashlib.md5(data).hexdigest()]]
