"""What CL's job API refuses, and that a refused or broken submission leaves nothing behind: a priority
out of range, an item the caller may not read or that does not exist, a local path, an upload past the
limit (by its Content-Length, and by counting a chunked body), a body that stops half way; on both
storage drivers where the bytes are streamed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from shoebox.testing import RunningSystem, run_system
from shoebox.testing.cl_client import detail_of
from shoebox.testing.cl_compute_client import ComputeCallers, compute_callers
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage

TASK = "cl_inputs_probe"  # nobody offers it: its jobs wait, queued
LIMIT = 4 * 1024 * 1024
LIMIT_ENV = "SHOEBOX_COMPUTE_JOB_MAX_UPLOAD_BYTES"
TEN_GIB = 10 * 1024**3


@pytest.fixture
async def limited(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                  system_settings: Callable[..., Settings]) -> AsyncIterator[RunningSystem]:
    """The whole system with a small job upload limit, on each storage driver."""
    monkeypatch.setenv(LIMIT_ENV, str(LIMIT))
    overrides: dict[str, Any] = {}
    if request.param == "s3":
        overrides = request.getfixturevalue("s3_settings")
    async with run_system(system_settings(**overrides)) as running:
        yield running


DRIVERS = pytest.mark.parametrize("limited", ["filesystem", "s3"], indirect=True)


@pytest.fixture
async def cl(api: RunningSystem) -> ComputeCallers:
    return await compute_callers(api)


def compute_storage(system: RunningSystem) -> Storage:
    storage: Storage = system.services["compute"].app.state.runtime.storage
    return storage


async def job_keys(system: RunningSystem) -> set[str]:
    return {o.key async for o in compute_storage(system).primary.list_objects("j/")}


async def nothing_left(system: RunningSystem, before: set[str]) -> None:
    """Poll (bounded) until the job prefix holds what it held before and no multipart upload is open: the
    server notices a broken body only when it reads it."""
    async with asyncio.timeout(60):
        while await job_keys(system) != before or await compute_storage(system).primary.list_multipart_uploads(
                initiated_before=datetime.now(UTC) + timedelta(days=1)):
            await asyncio.sleep(0.1)


async def test_priority_out_of_range_is_fastapis_422(cl: ComputeCallers, api: RunningSystem) -> None:
    before = await job_keys(api)
    for priority in ("11", "-1", "high"):
        response = await cl.runner.post_job(TASK, files=[("p.txt", b"prio", None)], priority=priority)
        assert response.status_code == 422, response.text
        errors = detail_of(response)
        assert isinstance(errors, list)
        assert errors[0]["loc"] == ["body", "priority"]
    for priority in ("0", "10"):
        assert (await cl.runner.submit(TASK, priority=priority)).status == "queued"
    assert await job_keys(api) == before  # the refused ones left no file; the accepted ones had none


async def test_local_paths_are_never_read(cl: ComputeCallers, api: RunningSystem) -> None:
    before = await job_keys(api)
    for kwargs in ({"external_files": [{"path": "/etc/passwd", "metadata": {}}]},
                   {"external_files": [{"path": "file:///etc/passwd"}]},
                   {"external_files": {"path": "item:1"}},
                   {"params": {"input_absolute_path": "/etc/passwd"}}):
        response = await cl.runner.post_job(TASK, files=[("x.txt", b"x", None)], **kwargs)
        assert response.status_code == 422, response.text
        assert isinstance(detail_of(response), str)
    assert await job_keys(api) == before


async def test_an_item_the_caller_may_not_read_is_not_found(cl: ComputeCallers, api: RunningSystem) -> None:
    entity = await cl.store.editor.upload(b"store bytes", filename="s.bin")
    before = await job_keys(api)
    # `other` has ai_inference_support but may not read the store (it is private by default).
    for caller, item in ((cl.other, entity.id), (cl.runner, 999_999_999), (cl.runner, 1)):
        for kwargs in ({"item_id": item}, {"external_files": [{"path": f"item:{item}"}]}):
            response = await caller.post_job(TASK, files=[("keep.txt", b"not kept", None)], **kwargs)
            assert (response.status_code, detail_of(response)) == (404, "Item not found"), response.text
    assert await job_keys(api) == before
    # Guest mode opens the store's reads, so its entities become everyone's inputs.
    await cl.store.admin.set_guest_mode(True)
    async with asyncio.timeout(30):  # compute follows the mode within its cache's two seconds
        while (await cl.other.post_job(TASK, item_id=entity.id)).status_code != 200:
            await asyncio.sleep(0.2)
    two = await cl.runner.post_job(TASK, external_files=[{"path": f"item:{entity.id}"}, {"path": "item:2"}])
    assert two.status_code == 422, two.text


async def test_a_job_without_a_worker_waits_queued(cl: ComputeCallers) -> None:
    created = await cl.runner.submit("nobody_offers_this", files=[("w.txt", b"wait", None)])
    job = await cl.runner.job(created.job_id)
    assert job.status == "queued"
    assert "nobody_offers_this" not in (await cl.runner.capabilities()).capabilities
    bad = await cl.runner.post_job("not a task!", files=[("w.txt", b"wait", None)])
    assert bad.status_code in (404, 422), bad.text


async def test_files_of_one_name_are_all_kept(cl: ComputeCallers) -> None:
    created = await cl.runner.seed().submit(TASK, files=[("same.txt", b"one", None), ("same.txt", b"two", None),
                                                         ("dir/same.txt", b"three", None)])
    job = await cl.runner.job(created.job_id)
    assert [f.path for f in job.input_files] == ["input/1_same.txt", "input/2_same.txt", "input/same.txt"]
    assert {await cl.runner.download(created.job_id, f.path) for f in job.input_files} == {b"one", b"two", b"three"}
    empty = await cl.runner.post_job(TASK, files=[("e.txt", b"", None)])
    assert empty.status_code == 400, empty.text


def _head(system: RunningSystem, token: str, boundary: str, length: int) -> bytes:
    host = urlsplit(system.settings.public_url).netloc
    return (f"POST /jobs/{TASK} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n"
            f"Connection: close\r\n\r\n").encode()


def _form_start(boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"priority\"\r\n\r\n5\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()


async def _exchange(system: RunningSystem, data: bytes, *, close_after: bool = False) -> bytes:
    url = urlsplit(system.settings.public_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(data)
        await writer.drain()
        if close_after:
            return b""
        async with asyncio.timeout(30):
            return await reader.read(65536)
    finally:
        writer.close()


@DRIVERS
async def test_uploads_past_the_limit_are_refused_with_nothing_left(limited: RunningSystem) -> None:
    cl = await compute_callers(limited)
    token = cl.runner.caller.token
    assert token is not None
    before = await job_keys(limited)
    answer = await _exchange(limited, _head(limited, token, "tenboundary", TEN_GIB))
    assert answer.split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 413"), answer[:300]
    # Chunked: the limit is known only by counting, the files together.
    boundary = "chunkedboundary"
    chunk = os.urandom(1024 * 1024)

    async def body() -> AsyncIterator[bytes]:
        yield _form_start(boundary)
        yield chunk * 3
        yield (f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"upload_files\"; "
               f"filename=\"second.bin\"\r\n\r\n").encode()
        for _ in range(LIMIT // len(chunk) + 2):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await cl.runner.caller.http.post(f"/jobs/{TASK}", content=body(), headers={
        **await cl.runner.caller.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413, response.text
    await nothing_left(limited, before)
    # Within the limit, the same upload is taken.
    created = await cl.runner.submit(TASK, files=[("fits.bin", chunk * 3, None)])
    assert (await cl.runner.download(created.job_id, "input/fits.bin")) == chunk * 3


@DRIVERS
async def test_a_body_that_stops_half_way_leaves_nothing(limited: RunningSystem) -> None:
    cl = await compute_callers(limited)
    token = cl.runner.caller.token
    assert token is not None
    before = await job_keys(limited)
    boundary = "halfwayboundary"
    start, end = _form_start(boundary), f"\r\n--{boundary}--\r\n".encode()
    size = LIMIT - 1024
    await _exchange(limited, _head(limited, token, boundary, len(start) + size + len(end))
                    + start + os.urandom(size // 2), close_after=True)
    await nothing_left(limited, before)
    # A form whose body is all there but stops inside the file: a 400, and nothing kept.
    response = await cl.runner.caller.http.post(f"/jobs/{TASK}", content=start + os.urandom(size // 2), headers={
        **await cl.runner.caller.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert (response.status_code, detail_of(response)) == (400, "The upload ended before the form was complete")
    await nothing_left(limited, before)
    assert (await cl.admin.storage_size()).total_size == 0
