"""A job's life through CL's job API and a real worker: queued, in progress, completed with its output
downloadable (whole and by ranges); failed with its error kept; cancelled while it runs (its worker stops,
the job and its files are gone); a library item as its input; a built-in task (image_conversion) as CL's
SDK reads it.

The plug-in worker is `shoebox_lib.worker.runtime.Worker` in this process, on the system's NATS, with a
credential issued through the admin's route: the broker sees what it sees from any plug-in."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image

from shoebox.testing import RunningSystem
from shoebox.testing.cl_client import detail_of
from shoebox.testing.cl_compute_client import ClCompute, ComputeCallers, compute_callers
from shoebox_lib.worker.runtime import Cancelled, JobContext, JobFailed, Worker

COUNT = "cl_life_count"  # counts an input's bytes, writes a report
FAIL = "cl_life_fail"
HOLD = "cl_life_hold"  # runs until the test lets it go, or it is cancelled


@dataclass
class Plugin:
    worker: Worker
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    seen: list[dict[str, Any]] = field(default_factory=list)


def _count(plugin: Plugin, job: JobContext) -> dict[str, Any]:
    data = job.inputs[0].read_bytes()
    plugin.seen.append(dict(job.params))
    job.progress(50)
    report = f"{job.inputs[0].name}: {len(data)} bytes\n".encode() * 1000
    job.put_output("output/report.txt", report, "text/plain")
    return {"bytes": len(data), "name": job.inputs[0].name}


def _fail(_plugin: Plugin, _job: JobContext) -> dict[str, Any]:
    raise JobFailed("this input can never be processed")


def _hold(plugin: Plugin, job: JobContext) -> dict[str, Any]:
    plugin.started.set()
    try:
        while not plugin.release.wait(0.05):
            job.progress(10)
    except Cancelled:
        plugin.stopped.set()
        raise
    return {"held": True}


@pytest.fixture
async def cl(api: RunningSystem) -> ComputeCallers:
    return await compute_callers(api)


@pytest.fixture
async def plugin(api: RunningSystem, cl: ComputeCallers) -> AsyncIterator[Plugin]:
    credential = await cl.admin.issue_credential("lifecycle test worker")
    worker = Worker(nats_url=api.settings.nats_url, prefix=api.settings.bus_prefix,
                    credential=credential.credential, worker_id="cl-lifecycle-worker", slots=2)
    found = Plugin(worker)
    worker.add_task(COUNT, lambda job: _count(found, job))
    worker.add_task(FAIL, lambda job: _fail(found, job))
    worker.add_task(HOLD, lambda job: _hold(found, job))
    running = asyncio.create_task(worker.run())
    try:
        await cl.runner.wait_for_capability(COUNT)
        yield found
    finally:
        found.release.set()
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, 30)


async def test_a_job_runs_to_completion_and_its_output_downloads(cl: ComputeCallers, plugin: Plugin) -> None:
    content = b"0123456789" * 5000
    capabilities = await cl.anonymous.capabilities()
    assert capabilities.num_workers >= 1
    assert capabilities.capabilities[COUNT] >= 1
    for caller in (cl.runner, cl.runner.seed()):
        created = await caller.submit(COUNT, files=[("../../etc/data.bin", content, "application/octet-stream")],
                                      params={"quality": 90, "include_original": True, "label": "x", "ratio": 0.5},
                                      priority=9)
        job = await caller.wait(created.job_id)
        assert job.status == "completed", job
        assert job.progress == 100
        assert job.task_output == {"bytes": len(content), "name": "data.bin"}  # the path is the job's, not the client's
        assert job.error_message is None
        assert job.started_at is not None
        assert job.completed_at is not None
        assert job.params == {"quality": 90, "include_original": True, "label": "x", "ratio": 0.5}
        assert [f.path for f in job.input_files] == ["input/data.bin"]
        assert [f.path for f in job.output_files] == ["output/report.txt"]
        report = await caller.download(created.job_id, "output/report.txt")
        assert report == b"data.bin: 50000 bytes\n" * 1000
        ranged = await caller.get_file(created.job_id, "output/report.txt", byte_range="bytes=22-43")
        assert ranged.status_code == 206
        assert ranged.content == report[22:44]
        assert ranged.headers["content-range"] == f"bytes 22-43/{len(report)}"
        assert await caller.download(created.job_id, "input/data.bin") == content
        missing = await caller.get_file(created.job_id, "output/nothing.txt")
        assert (missing.status_code, detail_of(missing)) == (404, "File not found")
    # What the worker was handed: CL's text values as numbers and booleans.
    assert plugin.seen[0] == {"quality": 90, "include_original": True, "label": "x", "ratio": 0.5}


async def test_a_failing_job_ends_failed_with_its_error(cl: ComputeCallers, plugin: Plugin) -> None:
    created = await cl.runner.submit(FAIL, files=[("f.bin", b"anything", None)])
    job = await cl.runner.wait(created.job_id)
    assert job.status == "failed"
    assert job.error_message == "this input can never be processed"
    assert job.task_output is None
    assert plugin.worker.completed >= 1


async def test_deleting_a_running_job_stops_its_worker(cl: ComputeCallers, plugin: Plugin,
                                                      api: RunningSystem) -> None:
    created = await cl.runner.submit(HOLD, files=[("h.bin", b"held bytes", None)])
    running = await cl.runner.wait_for(created.job_id, {"in_progress"})
    assert running.started_at is not None
    assert await asyncio.to_thread(plugin.started.wait, 30)
    await cl.runner.cancel(created.job_id)
    # The worker hears it at its next progress report and stops.
    assert await asyncio.to_thread(plugin.stopped.wait, 30)
    gone = await cl.runner.get_job(created.job_id)
    assert (gone.status_code, detail_of(gone)) == (404, "Job not found")
    assert (await cl.runner.delete_job(created.job_id)).status_code == 404
    storage = api.services["compute"].app.state.runtime.storage
    assert [o.key async for o in storage.primary.list_objects(f"j/{created.job_id}/")] == []


async def test_a_library_item_is_an_input(cl: ComputeCallers, plugin: Plugin) -> None:
    entity = await cl.store.editor.upload(b"the entity's own bytes", filename="entity.bin")
    for how in ("item_id", "external_files"):
        kwargs: dict[str, Any] = {"item_id": entity.id} if how == "item_id" else {
            "external_files": [{"path": f"item:{entity.id}", "metadata": {"why": "test"}}]}
        created = await cl.runner.submit(COUNT, **kwargs)
        job = await cl.runner.wait(created.job_id)
        assert job.status == "completed", job
        assert job.task_output == {"bytes": len(b"the entity's own bytes"), "name": "original"}
        assert job.input_files == []  # the item's original is the item's; the job keeps no copy
    assert plugin.seen[-1]["external_files"] == [{"path": f"item:{entity.id}", "metadata": {"why": "test"}}]


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 30, 30, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_image_conversion_as_cls_sdk_reads_it(cl: ComputeCallers) -> None:
    """A built-in task: `output_path` and `format` in params, the converted file under `output/`."""
    await cl.runner.wait_for_capability("image_conversion")
    compute: ClCompute = cl.runner
    created = await compute.submit("image_conversion", files=[("photo.png", _png(64, 48), "image/png")],
                                   params={"format": "webp", "quality": 85})
    job = await compute.wait(created.job_id)
    assert job.status == "completed", job
    assert job.params["format"] == "webp"
    output_path = job.params["output_path"]
    assert isinstance(output_path, str)
    assert output_path.startswith("output/")
    converted = await compute.download(created.job_id, output_path)
    with Image.open(io.BytesIO(converted)) as image:
        assert (image.format, image.size) == ("WEBP", (64, 48))


async def test_media_thumbnail_through_the_seed_spelling(cl: ComputeCallers) -> None:
    """A built-in task from seed 004's `upload_files`, with CL's `width` and `height` as text."""
    await cl.runner.wait_for_capability("media_thumbnail")
    compute = cl.runner.seed()
    created = await compute.submit("media_thumbnail", files=[("big.png", _png(200, 100), "image/png")],
                                   params={"width": 50, "height": 50}, priority=9)
    job = await compute.wait(created.job_id)
    assert job.status == "completed", job
    assert job.task_output is not None
    path = job.task_output["thumbnail_path"]
    with Image.open(io.BytesIO(await compute.download(created.job_id, path))) as image:
        assert max(image.size) == 50
    assert [f.path for f in job.output_files] == [path]
