"""Both storage drivers held to one contract, used over HTTP the way a real client uses them.

`fs` is the filesystem driver with its data plane served by uvicorn; `s3` is the S3 driver against
moto's S3 server. The tests after the contract cover what only the data plane itself decides.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from shoebox_lib.embedded import free_port
from shoebox_lib.errors import InvalidInput, NotFound
from shoebox_lib.settings import Settings
from shoebox_lib.storage.base import (
    MIN_PART_SIZE,
    CorsRule,
    ObjectInfo,
    PartInfo,
    StorageDriver,
    browser_upload_cors,
    content_md5,
    normalise_etag,
)
from shoebox_lib.storage.dataplane import dataplane_app, parse_completion
from shoebox_lib.storage.filesystem import FilesystemDriver, Grant, grant_url
from shoebox_lib.storage.s3 import S3Driver

EXPIRES = 300
MiB = 1024 * 1024


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def multipart_etag(*parts: bytes) -> str:
    digests = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    return f"{md5(digests)}-{len(parts)}"


@contextmanager
def serving(settings: Settings, port: int) -> Iterator[None]:
    """The data plane under uvicorn in a thread of its own, as the all-in-one runner serves it."""
    config = uvicorn.Config(dataplane_app(settings), host="127.0.0.1", port=port, lifespan="off", ws="none",
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"dataplane-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the data plane did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
async def fs_driver(make_settings: Any) -> AsyncIterator[FilesystemDriver]:
    port = free_port()
    settings = make_settings(public_url=f"http://127.0.0.1:{port}")
    driver = FilesystemDriver(settings, settings.bucket_primary)
    await driver.start()
    with serving(settings, port):
        yield driver
    await driver.close()


@pytest.fixture
async def s3_driver(make_settings: Any, s3_settings: dict[str, Any]) -> AsyncIterator[S3Driver]:
    settings = make_settings(**s3_settings)
    driver = S3Driver(settings, settings.bucket_primary)
    await driver.start()
    yield driver
    await driver.close()


@pytest.fixture(params=["fs", "s3"])
def driver(request: pytest.FixtureRequest) -> StorageDriver:
    found: StorageDriver = request.getfixturevalue(f"{request.param}_driver")
    return found


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


async def put(http: httpx.AsyncClient, url: str, data: bytes, content_type: str | None = None) -> str:
    """PUT a presigned URL as a browser would; returns the ETag it answers with, unquoted."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = await http.put(url, content=data, headers=headers)
    assert response.status_code == 200, response.text
    return normalise_etag(response.headers["etag"])


async def upload_parts(driver: StorageDriver, http: httpx.AsyncClient, key: str, upload_id: str,
                       *parts: bytes) -> list[tuple[int, str]]:
    done = []
    for number, data in enumerate(parts, start=1):
        url = await driver.presign_part(key, upload_id, number, expires=EXPIRES)
        done.append((number, await put(http, url, data)))
    return done


# --- The contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["users/1/photo.jpg", "odd/it's_(1)!*.jpg"])
async def test_presigned_put_then_get(driver: StorageDriver, http: httpx.AsyncClient, key: str) -> None:
    data = os.urandom(300_001)
    url = await driver.presign_put(key, expires=EXPIRES, content_type="image/jpeg")
    etag = await put(http, url, data, "image/jpeg")
    assert etag == md5(data)

    response = await http.get(await driver.presign_get(key, expires=EXPIRES))
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/jpeg"
    assert normalise_etag(response.headers["etag"]) == etag
    assert await driver.head(key) == ObjectInfo(key, len(data), etag, "image/jpeg")


async def test_head_of_missing_object_is_none(driver: StorageDriver) -> None:
    assert await driver.head("never/written") is None


async def test_put_bytes_then_get_bytes(driver: StorageDriver) -> None:
    info = await driver.put_bytes("a/b.txt", b"hello", content_type="text/plain")
    assert info == ObjectInfo("a/b.txt", 5, md5(b"hello"), "text/plain")
    assert await driver.get_bytes("a/b.txt") == b"hello"


async def test_overwrite_replaces_the_object(driver: StorageDriver) -> None:
    await driver.put_bytes("doc", b"first version", content_type="text/plain")
    await driver.put_bytes("doc", b"second", content_type="application/json")
    assert await driver.get_bytes("doc") == b"second"
    assert await driver.head("doc") == ObjectInfo("doc", 6, md5(b"second"), "application/json")


async def test_multipart_upload(driver: StorageDriver, http: httpx.AsyncClient) -> None:
    key = "videos/clip.mp4"
    first, second = os.urandom(MIN_PART_SIZE + 17), os.urandom(MiB)
    upload_id = await driver.create_multipart(key, content_type="video/mp4")
    parts = await upload_parts(driver, http, key, upload_id, first, second)
    assert parts == [(1, md5(first)), (2, md5(second))]

    assert await driver.list_parts(key, upload_id) == [
        PartInfo(1, md5(first), len(first)), PartInfo(2, md5(second), len(second)),
    ]
    assert await driver.head(key) is None, "an object must not be visible before its upload completes"
    with pytest.raises(NotFound):
        await driver.get_bytes(key)

    info = await driver.complete_multipart(key, upload_id, [(n, f'"{etag}"') for n, etag in parts])
    assert info == ObjectInfo(key, len(first) + len(second), multipart_etag(first, second), "video/mp4")
    assert await driver.head(key) == info
    assert await driver.get_bytes(key) == first + second
    with pytest.raises(NotFound):
        await driver.list_parts(key, upload_id)


async def test_complete_refuses_wrong_parts(driver: StorageDriver, http: httpx.AsyncClient) -> None:
    key = "wrong/parts.bin"
    first, second = os.urandom(MIN_PART_SIZE), os.urandom(1000)
    upload_id = await driver.create_multipart(key)
    (one, e1), (two, e2) = await upload_parts(driver, http, key, upload_id, first, second)

    wrong_lists = [
        [(one, e1), (two, md5(b"something else"))],  # wrong ETag
        [(one, e1), (two, e2), (3, e2)],  # part 3 was never uploaded
        [(two, e2), (one, e1)],  # out of order
        [],
    ]
    for wrong in wrong_lists:
        with pytest.raises(InvalidInput):
            await driver.complete_multipart(key, upload_id, wrong)
    assert await driver.head(key) is None

    # A refused completion leaves the upload as it was.
    info = await driver.complete_multipart(key, upload_id, [(one, e1), (two, e2)])
    assert info.size == len(first) + len(second)


async def test_complete_refuses_a_small_part_before_the_last(driver: StorageDriver, http: httpx.AsyncClient
                                                             ) -> None:
    key = "small/parts.bin"
    upload_id = await driver.create_multipart(key)
    parts = await upload_parts(driver, http, key, upload_id, b"tiny" * 100, b"last")
    with pytest.raises(InvalidInput):
        await driver.complete_multipart(key, upload_id, parts)


async def test_list_parts_of_unknown_upload_is_not_found(driver: StorageDriver) -> None:
    with pytest.raises(NotFound):
        await driver.list_parts("no/upload", "0" * 32)


async def test_abort_removes_the_upload(driver: StorageDriver, http: httpx.AsyncClient) -> None:
    key = "aborted.bin"
    upload_id = await driver.create_multipart(key)
    await upload_parts(driver, http, key, upload_id, os.urandom(1000))
    await driver.abort_multipart(key, upload_id)

    with pytest.raises(NotFound):
        await driver.list_parts(key, upload_id)
    assert await driver.head(key) is None
    await driver.abort_multipart(key, upload_id)  # aborting twice is fine


async def test_delete(driver: StorageDriver) -> None:
    await driver.put_bytes("to/delete", b"bye")
    await driver.delete("to/delete")
    assert await driver.head("to/delete") is None
    await driver.delete("to/delete")
    await driver.delete("never/existed")


async def test_get_stream_of_missing_object_is_not_found(driver: StorageDriver) -> None:
    with pytest.raises(NotFound):
        async for _ in driver.get_stream("missing/object"):
            pass


async def test_put_stream_of_a_large_stream(driver: StorageDriver) -> None:
    chunks = [os.urandom(777_777) for _ in range(27)]  # ~20 MiB in uneven chunks
    expected = hashlib.md5(usedforsecurity=False)
    for chunk in chunks:
        expected.update(chunk)

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            await asyncio.sleep(0)
            yield chunk

    info = await driver.put_stream("big/stream.bin", stream(), content_type="application/x-test")
    size = sum(len(c) for c in chunks)
    assert (info.size, info.content_type) == (size, "application/x-test")
    assert await driver.head("big/stream.bin") == info

    got = hashlib.md5(usedforsecurity=False)
    async for chunk in driver.get_stream("big/stream.bin"):
        got.update(chunk)
    assert got.hexdigest() == expected.hexdigest()


async def test_ranged_get(driver: StorageDriver, http: httpx.AsyncClient) -> None:
    data = os.urandom(1000)
    await driver.put_bytes("ranged", data)
    url = await driver.presign_get("ranged", expires=EXPIRES)

    for header, start, end in [("bytes=100-199", 100, 200), ("bytes=990-", 990, 1000), ("bytes=-10", 990, 1000),
                               ("bytes=900-5000", 900, 1000)]:
        response = await http.get(url, headers={"Range": header})
        assert response.status_code == 206, header
        assert response.content == data[start:end], header
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/1000", header

    response = await http.get(url, headers={"Range": "bytes=1000-"})
    assert response.status_code == 416


async def test_presigned_get_as_attachment(driver: StorageDriver, http: httpx.AsyncClient) -> None:
    await driver.put_bytes("attached", b"content", content_type="image/png")
    url = await driver.presign_get("attached", expires=EXPIRES, filename="holiday photo.png", attachment=True)
    response = await http.get(url)
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment")
    assert 'filename="holiday photo.png"' in disposition

    plain = await http.get(await driver.presign_get("attached", expires=EXPIRES))
    assert "content-disposition" not in plain.headers


@pytest.mark.parametrize("key", ["a/../b", "../escape", "/absolute", "a//b", "a/./b", "with space", ""])
async def test_invalid_keys_are_refused(driver: StorageDriver, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        await driver.presign_put(key, expires=EXPIRES)
    with pytest.raises(ValueError, match="invalid object key"):
        await driver.put_bytes(key, b"x")
    with pytest.raises(ValueError, match="invalid object key"):
        await driver.head(key)


@pytest.mark.parametrize("number", [0, -1, 10_001])
async def test_part_numbers_out_of_range_are_refused(driver: StorageDriver, number: int) -> None:
    upload_id = await driver.create_multipart("parts/range")
    with pytest.raises(InvalidInput):
        await driver.presign_part("parts/range", upload_id, number, expires=EXPIRES)
    with pytest.raises(InvalidInput):
        await driver.complete_multipart("parts/range", upload_id, [(number, md5(b""))])


async def test_ping(driver: StorageDriver) -> None:
    await driver.ping()


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def completion_xml(parts: list[tuple[int, str]]) -> str:
    """The body the Ente web client POSTs to a completeURL: ETags quoted, as it read them."""
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>\"{etag}\"</ETag></Part>" for n, etag in parts)
    return f"<CompleteMultipartUpload>\n{inner}\n</CompleteMultipartUpload>"


async def test_put_with_pinned_md5_and_length(driver: StorageDriver, http: httpx.AsyncClient) -> None:
    data = os.urandom(1000)
    url = await driver.presign_put("pinned", expires=EXPIRES, content_md5=b64md5(data), content_length=len(data))
    response = await http.put(url, content=data, headers={"Content-MD5": b64md5(data)})
    assert response.status_code == 200, response.text
    assert await driver.get_bytes("pinned") == data


async def test_complete_url_takes_s3s_xml(driver: StorageDriver, http: httpx.AsyncClient) -> None:
    key = "ente/completed"
    first, second = os.urandom(MIN_PART_SIZE), os.urandom(1234)
    upload_id = await driver.create_multipart(key)
    parts = await upload_parts(driver, http, key, upload_id, first, second)
    url = await driver.presign_complete(key, upload_id, expires=EXPIRES)
    response = await http.post(url, content=completion_xml(parts), headers={"Content-Type": "text/xml"})
    assert response.status_code == 200, response.text
    assert "CompleteMultipartUpload" in response.text
    assert await driver.get_bytes(key) == first + second


async def test_form_upload(driver: StorageDriver, http: httpx.AsyncClient) -> None:
    data = os.urandom(5000)
    signed = await driver.presign_post("form/obj", expires=EXPIRES, content_length=len(data),
                                       content_type="image/png")
    response = await http.post(signed.url, data=signed.fields, files={"file": ("x.png", data, "image/png")})
    assert response.status_code in (200, 201, 204), response.text
    if "etag" in response.headers:  # moto leaves it out of a form upload's answer; Uppy reads it if there
        assert normalise_etag(response.headers["etag"]) == md5(data)
    assert await driver.head("form/obj") == ObjectInfo("form/obj", len(data), md5(data), "image/png")


async def test_stored_sha256_is_right_or_unknown(driver: StorageDriver, http: httpx.AsyncClient) -> None:
    data = os.urandom(MIN_PART_SIZE + 10)
    await put(http, await driver.presign_put("hashed/put", expires=EXPIRES), data)
    upload_id = await driver.create_multipart("hashed/mp")
    parts = await upload_parts(driver, http, "hashed/mp", upload_id, data[:MIN_PART_SIZE], data[MIN_PART_SIZE:])
    await driver.complete_multipart("hashed/mp", upload_id, parts)
    for key in ("hashed/put", "hashed/mp"):
        assert await driver.stored_sha256(key) in (None, hashlib.sha256(data).hexdigest())
    assert await driver.stored_sha256("hashed/missing") is None


async def test_list_multipart_uploads_by_age(driver: StorageDriver) -> None:
    upload_id = await driver.create_multipart("listed/upload")
    later = datetime.now(UTC) + timedelta(minutes=1)
    found = await driver.list_multipart_uploads(initiated_before=later)
    assert ("listed/upload", upload_id) in [(u.key, u.upload_id) for u in found]
    earlier = datetime.now(UTC) - timedelta(hours=1)
    recent = upload_id not in [u.upload_id for u in await driver.list_multipart_uploads(initiated_before=earlier)]
    # moto reports every upload as initiated on 2010-11-10 (a constant in its responses), so only the
    # filesystem driver can show the age filter; S3 itself reports the real time.
    assert recent or isinstance(driver, S3Driver)
    await driver.abort_multipart("listed/upload", upload_id)
    assert upload_id not in [u.upload_id for u in await driver.list_multipart_uploads(initiated_before=later)]


async def test_cors_rules_round_trip(driver: StorageDriver) -> None:
    rules = browser_upload_cors(["http://127.0.0.1:8000"])
    await driver.set_cors(rules)
    got = await driver.get_cors()
    assert [(r.allowed_origins, sorted(r.allowed_methods), r.expose_headers) for r in got] == [
        (["http://127.0.0.1:8000"], ["GET", "HEAD", "POST", "PUT"], ["ETag", "Location"])]
    assert isinstance(got[0], CorsRule)


def test_content_md5_accepts_base64_and_hex() -> None:
    digest = hashlib.md5(b"x", usedforsecurity=False)
    expected = base64.b64encode(digest.digest()).decode()
    assert content_md5(expected) == content_md5(digest.hexdigest()) == expected
    with pytest.raises(InvalidInput):
        content_md5("not an md5")


def test_completion_xml_is_parsed_with_or_without_namespace_and_quotes() -> None:
    body = ('<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            '<Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part>'
            "<Part><ETag>b</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>")
    assert parse_completion(body.encode()) == [(1, '"a"'), (2, "b")]
    for bad in [b"<x/>", b"not xml", b'<!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload/>',
                b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>"]:
        with pytest.raises(InvalidInput):
            parse_completion(bad)


# --- The filesystem driver's data plane -----------------------------------------------------------


def port_of(driver: FilesystemDriver) -> int:
    port = httpx.URL(driver.settings.public_url).port
    assert port is not None
    return port


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send bytes no well-behaved HTTP client would, close our side, and read what comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = []
        while data := sock.recv(65536):
            received.append(data)
    return b"".join(received)


def status_of(response: bytes) -> int | None:
    return int(response.split(b" ", 2)[1]) if response else None


def temp_files(driver: FilesystemDriver) -> list[str]:
    return os.listdir(driver.root / ".shoebox" / "tmp")


async def test_tampered_urls_are_refused(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    url = await fs_driver.presign_put("signed/key", expires=EXPIRES)
    signature = url[-1]
    tampered = url[:-1] + ("0" if signature != "0" else "1")
    assert (await http.put(tampered, content=b"x")).status_code == 403
    assert (await http.put(url.replace("signed/key", "signed/other"), content=b"x")).status_code == 403
    unsigned = url.split("?")[0]
    assert (await http.put(unsigned, content=b"x")).status_code == 403
    assert await fs_driver.head("signed/key") is None
    assert await fs_driver.head("signed/other") is None


async def test_expired_urls_are_refused(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    await fs_driver.put_bytes("old", b"data")
    past = int(time.time()) - 1
    get = grant_url(fs_driver.settings, Grant("GET", fs_driver.bucket, "old", past))
    put_url = grant_url(fs_driver.settings, Grant("PUT", fs_driver.bucket, "new", past))
    response = await http.get(get)
    assert response.status_code == 403
    assert response.json()["error"] == "AccessDenied"
    assert (await http.put(put_url, content=b"x")).status_code == 403
    assert await fs_driver.head("new") is None


async def test_urls_are_for_one_method(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    await fs_driver.put_bytes("method", b"original")
    get_url = await fs_driver.presign_get("method", expires=EXPIRES)
    put_url = await fs_driver.presign_put("method", expires=EXPIRES)

    assert (await http.put(get_url, content=b"overwritten")).status_code == 403
    assert (await http.get(put_url)).status_code == 403
    head = await http.head(get_url)
    assert head.status_code == 200
    assert head.headers["content-length"] == "8"
    assert await fs_driver.get_bytes("method") == b"original"


async def test_signed_content_type_must_be_sent(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    url = await fs_driver.presign_put("typed", expires=EXPIRES, content_type="image/jpeg")
    response = await http.put(url, content=b"x", headers={"Content-Type": "text/html"})
    assert response.status_code == 403
    assert await fs_driver.head("typed") is None


async def test_body_shorter_than_content_length_is_not_kept(fs_driver: FilesystemDriver) -> None:
    # The client gives up half way: nobody is left to answer, but nothing may be kept.
    url = httpx.URL(await fs_driver.presign_put("short", expires=EXPIRES))
    request = (b"PUT " + url.raw_path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
               + b"x" * 50)
    response = await asyncio.to_thread(raw_exchange, port_of(fs_driver), request)
    status = status_of(response)
    assert status is None or 400 <= status < 500, response
    await asyncio.sleep(0.2)  # the server notices the closed connection on its own time
    assert await fs_driver.head("short") is None
    assert temp_files(fs_driver) == []


async def test_body_longer_than_content_length_is_not_kept(fs_driver: FilesystemDriver) -> None:
    # Over one connection, extra bytes can only arrive by chunked framing beside a Content-Length;
    # the HTTP server itself refuses that mix.
    url = httpx.URL(await fs_driver.presign_put("long", expires=EXPIRES))
    request = (b"PUT " + url.raw_path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n14\r\n" + b"y" * 20 + b"\r\n0\r\n\r\n")
    response = await asyncio.to_thread(raw_exchange, port_of(fs_driver), request)
    status = status_of(response)
    assert status is not None, response
    assert 400 <= status < 500, response
    assert await fs_driver.head("long") is None
    assert temp_files(fs_driver) == []


async def test_content_length_lies_are_caught_by_the_app(fs_driver: FilesystemDriver) -> None:
    """What uvicorn lets through (a peer may half-close, framing may change), the app checks itself."""
    transport = httpx.ASGITransport(app=dataplane_app(fs_driver.settings))
    async with httpx.AsyncClient(transport=transport) as client:
        for key, declared, body in [("fewer", 100, b"x" * 50), ("more", 10, b"y" * 20)]:
            url = await fs_driver.presign_put(key, expires=EXPIRES)
            response = await client.put(url, content=body, headers={"Content-Length": str(declared)})
            assert response.status_code == 400, key
            assert response.json()["error"] == "IncompleteBody"
            assert await fs_driver.head(key) is None
    assert temp_files(fs_driver) == []


async def test_body_over_5_gib_is_refused_before_it_is_read(fs_driver: FilesystemDriver) -> None:
    url = httpx.URL(await fs_driver.presign_put("huge", expires=EXPIRES))
    request = (b"PUT " + url.raw_path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Length: 6000000000\r\n\r\n")
    response = await asyncio.to_thread(raw_exchange, port_of(fs_driver), request)
    assert status_of(response) == 413, response


async def test_put_without_content_length_is_refused(fs_driver: FilesystemDriver, http: httpx.AsyncClient
                                                     ) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"streamed without a length"

    url = await fs_driver.presign_put("chunked", expires=EXPIRES)
    response = await http.put(url, content=body())
    assert response.status_code == 411
    assert await fs_driver.head("chunked") is None


async def test_part_of_unknown_upload_is_not_found(fs_driver: FilesystemDriver, http: httpx.AsyncClient
                                                   ) -> None:
    url = await fs_driver.presign_part("nothing", "f" * 32, 1, expires=EXPIRES)
    response = await http.put(url, content=b"part")
    assert response.status_code == 404
    assert response.json()["error"] == "NoSuchUpload"


async def test_missing_object_is_404(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    response = await http.get(await fs_driver.presign_get("missing", expires=EXPIRES))
    assert response.status_code == 404
    assert response.json() == {"error": "NoSuchKey", "message": "no object 'missing'"}


async def test_unsatisfiable_range_is_416(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    await fs_driver.put_bytes("ten", b"0123456789")
    url = await fs_driver.presign_get("ten", expires=EXPIRES)
    for header in ["bytes=10-", "bytes=-0", "bytes=50-60"]:
        response = await http.get(url, headers={"Range": header})
        assert response.status_code == 416, header
        assert response.headers["content-range"] == "bytes */10"
    ignored = await http.get(url, headers={"Range": "bytes=0-1,4-5"})
    assert (ignored.status_code, ignored.content) == (200, b"0123456789")


async def test_cors(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    url = await fs_driver.presign_put("cors", expires=EXPIRES)
    preflight = await http.options(url, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    })
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()

    response = await http.put(url, content=b"x", headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "ETag" in response.headers["access-control-expose-headers"]


async def test_internal_state_is_never_an_object(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    upload_id = await fs_driver.create_multipart("hidden")
    await upload_parts(fs_driver, http, "hidden", upload_id, b"part")
    with pytest.raises(ValueError, match="reserved"):
        await fs_driver.head(f".shoebox/multipart/{upload_id}/00001.part")
    with pytest.raises(ValueError, match="reserved"):
        await fs_driver.put_bytes(".shoebox/tmp/x", b"x")
    assert await fs_driver.head("hidden") is None


async def test_object_whose_sidecar_was_lost_keeps_its_etag(fs_driver: FilesystemDriver) -> None:
    """A crash between writing the sidecar and renaming the object can leave either one alone."""
    await fs_driver.put_bytes("orphan", b"bytes", content_type="text/plain")
    meta = next((fs_driver.root / ".shoebox" / "meta").glob("*/*.json"))
    meta.unlink()
    assert await fs_driver.head("orphan") == ObjectInfo("orphan", 5, md5(b"bytes"), None)
    assert await fs_driver.get_bytes("orphan") == b"bytes"


# moto answers 500 instead of S3's NoSuchUpload when asked to complete an unknown upload, so this
# part of the contract is held against the filesystem driver only.
async def test_complete_of_unknown_or_aborted_upload_is_invalid(fs_driver: FilesystemDriver,
                                                                http: httpx.AsyncClient) -> None:
    with pytest.raises(InvalidInput):
        await fs_driver.complete_multipart("no/upload", "0" * 32, [(1, md5(b"x"))])
    upload_id = await fs_driver.create_multipart("aborted")
    parts = await upload_parts(fs_driver, http, "aborted", upload_id, b"part")
    await fs_driver.abort_multipart("aborted", upload_id)
    with pytest.raises(InvalidInput):
        await fs_driver.complete_multipart("aborted", upload_id, parts)


async def test_pinned_md5_and_length_are_enforced(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    data = b"a" * 100
    url = await fs_driver.presign_put("md5", expires=EXPIRES, content_md5=b64md5(data), content_length=100)
    assert (await http.put(url, content=data)).status_code == 403  # the signed header is missing
    other = b"b" * 100
    refused = await http.put(url, content=other, headers={"Content-MD5": b64md5(data)})
    assert (refused.status_code, refused.json()["error"]) == (400, "BadDigest")
    shorter = await http.put(url, content=data[:50], headers={"Content-MD5": b64md5(data)})
    assert shorter.status_code == 403
    assert await fs_driver.head("md5") is None
    assert temp_files(fs_driver) == []

    upload_id = await fs_driver.create_multipart("md5/part")
    part_url = await fs_driver.presign_part("md5/part", upload_id, 1, expires=EXPIRES, content_md5=b64md5(data))
    refused = await http.put(part_url, content=other, headers={"Content-MD5": b64md5(data)})
    assert refused.status_code == 400
    assert await fs_driver.list_parts("md5/part", upload_id) == []


async def test_complete_and_form_urls_are_for_their_key_only(fs_driver: FilesystemDriver, http: httpx.AsyncClient
                                                            ) -> None:
    upload_id = await fs_driver.create_multipart("mine")
    parts = await upload_parts(fs_driver, http, "mine", upload_id, b"data")
    url = await fs_driver.presign_complete("mine", upload_id, expires=EXPIRES)
    assert (await http.post(url.replace("/mine?", "/other?"), content=completion_xml(parts))).status_code == 403
    assert (await http.put(url, content=b"x")).status_code == 403  # signed for POST
    put_url = await fs_driver.presign_put("mine", expires=EXPIRES)
    assert (await http.post(put_url, content=completion_xml(parts))).status_code == 403

    signed = await fs_driver.presign_post("form/key", expires=EXPIRES, content_length=4)
    wrong_key = {**signed.fields, "key": "form/other"}
    response = await http.post(signed.url, data=wrong_key, files={"file": ("f", b"data")})
    assert response.status_code == 403
    too_long = await http.post(signed.url, data=signed.fields, files={"file": ("f", b"data!")})
    assert too_long.status_code == 400
    assert await fs_driver.head("form/key") is None
    assert await fs_driver.head("form/other") is None


async def test_stored_sha256_of_the_filesystem_driver(fs_driver: FilesystemDriver, http: httpx.AsyncClient) -> None:
    data = os.urandom(MIN_PART_SIZE + 10)
    upload_id = await fs_driver.create_multipart("sha/mp")
    parts = await upload_parts(fs_driver, http, "sha/mp", upload_id, data[:MIN_PART_SIZE], data[MIN_PART_SIZE:])
    await fs_driver.complete_multipart("sha/mp", upload_id, parts)
    assert await fs_driver.stored_sha256("sha/mp") == hashlib.sha256(data).hexdigest()
    await fs_driver.put_bytes("sha/put", b"abc")
    assert await fs_driver.stored_sha256("sha/put") == hashlib.sha256(b"abc").hexdigest()
