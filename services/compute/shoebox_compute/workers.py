"""Built-in workers: each takes work of one task type off its queue, runs it off the event loop, and
reports the result as an event."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
from prometheus_client import Counter

from shoebox_compute.models import BUS, Job, JobStatus, TaskType
from shoebox_compute.tasks.images import UnreadableMedia, extract_metadata, make_thumbnail
from shoebox_lib.bus import emit
from shoebox_lib.bus.topology import WORK_METADATA, WORK_THUMBNAIL, ConsumerSpec
from shoebox_lib.db import Database
from shoebox_lib.events import Envelope, JobCompleted, WorkRequested
from shoebox_lib.keys import derived
from shoebox_lib.storage import StorageDriver

log = logging.getLogger(__name__)

JOBS = Counter("shoebox_compute_jobs_total", "Jobs finished by built-in workers", ["task_type", "status"])

# The largest original a built-in worker loads; larger ones fail cleanly instead of exhausting memory.
MAX_INPUT_BYTES = 256 * 1024 * 1024

TaskFn = Callable[[Job, bytes, StorageDriver], Awaitable[dict[str, Any]]]


async def run_thumbnail(job: Job, data: bytes, storage: StorageDriver) -> dict[str, Any]:
    rendered = await anyio.to_thread.run_sync(make_thumbnail, data)
    # The broker queues jobs only for items, which have both.
    assert job.owner_id is not None
    assert job.item_id is not None
    key = derived(job.owner_id, job.item_id, "thumb", "jpg")
    info = await storage.put_bytes(key, rendered.data, content_type=rendered.content_type)
    return {"variant": "thumb", "object_key": key, "content_type": rendered.content_type,
            "width": rendered.width, "height": rendered.height, "size": info.size}


async def run_metadata(job: Job, data: bytes, storage: StorageDriver) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(extract_metadata, data)


BUILT_IN: dict[TaskType, TaskFn] = {TaskType.THUMBNAIL: run_thumbnail, TaskType.METADATA: run_metadata}
# The work queue each built-in task type is taken from.
QUEUES: dict[TaskType, ConsumerSpec] = {TaskType.THUMBNAIL: WORK_THUMBNAIL, TaskType.METADATA: WORK_METADATA}


class BuiltInWorker:
    def __init__(self, db: Database, storage: StorageDriver, task_type: TaskType) -> None:
        self.db = db
        self.storage = storage
        self.task_type = task_type
        self.task = BUILT_IN[task_type]

    async def _claim(self, job_id: str) -> Job | None:
        async with self.db.transaction() as session:
            job = await session.get(Job, job_id, with_for_update=True)
            if job is None or JobStatus(job.status).finished:
                return None  # a redelivered message for finished work
            job.status = JobStatus.PROCESSING
            job.attempts += 1
            job.started_at = job.started_at or datetime.now(UTC)
            return job

    async def _finish(self, job_id: str, *, result: dict[str, Any] | None, error: str | None) -> None:
        async with self.db.transaction() as session:
            job = await session.get(Job, job_id, with_for_update=True)
            assert job is not None
            job.status = JobStatus.ERROR if error else JobStatus.COMPLETED
            job.result, job.error = result, error
            job.completed_at = datetime.now(UTC)
            await emit(session, BUS, JobCompleted(
                job_id=job.id, task_type=job.task_type, status="failed" if error else "completed",
                item_id=job.item_id, owner_id=job.owner_id, result=result or {}, error=error,
            ))
        JOBS.labels(self.task_type, JobStatus.ERROR if error else JobStatus.COMPLETED).inc()

    async def handle(self, envelope: Envelope, work: WorkRequested) -> None:
        job = await self._claim(work.job_id)
        if job is None:
            return
        head = await self.storage.head(job.object_key)
        if head is not None and head.size > MAX_INPUT_BYTES:
            await self._finish(job.id, result=None, error=f"input of {head.size} bytes is too large")
            return
        data = await self.storage.get_bytes(job.object_key)
        try:
            result = await self.task(job, data, self.storage)
        except UnreadableMedia as exc:
            await self._finish(job.id, result=None, error=str(exc))
            return
        await self._finish(job.id, result=result, error=None)
