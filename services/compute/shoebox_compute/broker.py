"""The job broker: turns stored media into queued jobs, one work message per job."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_compute.models import BUS, Job, JobStatus, TaskType
from shoebox_lib.bus import emit
from shoebox_lib.events import ItemStored, WorkRequested

# What compute does, unasked, for every image it can read.
AUTOMATIC_TASKS = (TaskType.METADATA, TaskType.THUMBNAIL)


def new_job_id() -> str:
    return "job_" + secrets.token_urlsafe(12)


def wants_processing(event: ItemStored) -> bool:
    """Never for end-to-end-encrypted files: their bytes mean nothing to us."""
    return not event.encrypted and (event.content_type or "").startswith("image/")


class Broker:
    async def enqueue(self, session: AsyncSession, job: Job) -> Job:
        session.add(job)
        await session.flush()
        await emit(session, BUS, WorkRequested(
            job_id=job.id, task_type=job.task_type, item_id=job.item_id, owner_id=job.owner_id,
            object_key=job.object_key, content_type=job.content_type, params=job.params,
        ))
        return job

    async def on_item_stored(self, session: AsyncSession, event: ItemStored) -> None:
        if not wants_processing(event):
            return
        existing = set((await session.execute(
            select(Job.task_type).where(Job.item_id == event.item_id)
        )).scalars())
        for task_type in AUTOMATIC_TASKS:
            if task_type in existing:
                continue
            await self.enqueue(session, Job(
                id=new_job_id(), task_type=task_type, status=JobStatus.QUEUED, priority=5, item_id=event.item_id,
                owner_id=event.owner_id, object_key=event.object_key, content_type=event.content_type,
                params={}, attempts=0,
            ))
