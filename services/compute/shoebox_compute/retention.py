"""What jobs keep in storage, and removing old finished jobs with their files (CL's admin routes).

Only finished jobs go (completed, failed, cancelled): a queued or running job's files are still read or
written. Only a job's own files (under `j/<job>/`) count and are erased: an item's job writes its variants
among the item's derived objects (`d/…`), which stay with the item. Rows go first, in batches locked with
SKIP LOCKED (a job the broker holds at that moment is left for the next cleanup); each batch's objects are
erased after its commit, so no row ever names an object that is gone. An object whose deletion fails is
logged; it stays under `j/<job>/`, which no row names any more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, distinct, func, select

from shoebox_compute.models import Job, JobFile, JobStatus
from shoebox_lib import keys
from shoebox_lib.db import Database
from shoebox_lib.storage import Storage

log = logging.getLogger(__name__)

BATCH = 200
JOB_PREFIX = "j/"  # where every job's own files live (`keys.job_file`)
FINISHED = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]


@dataclass(frozen=True)
class StorageUse:
    total_size: int  # bytes of every job file, inputs and outputs
    job_count: int  # jobs that have files


@dataclass(frozen=True)
class Cleaned:
    deleted_count: int
    freed_space: int


class Retention:
    def __init__(self, db: Database, storage: Storage) -> None:
        self.db = db
        self.storage = storage

    async def usage(self) -> StorageUse:
        async with self.db.transaction() as session:
            total, jobs = (await session.execute(
                select(func.coalesce(func.sum(JobFile.size), 0), func.count(distinct(JobFile.job_id)))
                .where(JobFile.object_key.startswith(JOB_PREFIX, autoescape=True)))).one()
        return StorageUse(total_size=int(total), job_count=int(jobs))

    async def clean(self, days: int) -> Cleaned:
        """Delete the finished jobs created more than `days` days ago (0: every finished job) and their files."""
        cutoff = datetime.now(UTC) - timedelta(days=days)
        deleted = freed = 0
        while True:
            async with self.db.transaction() as session:
                ids = list((await session.execute(
                    select(Job.id).where(Job.status.in_(FINISHED), Job.created_at <= cutoff)
                    .order_by(Job.created_at, Job.id).limit(BATCH).with_for_update(skip_locked=True))).scalars())
                if not ids:
                    break
                files = (await session.execute(
                    delete(JobFile).where(JobFile.job_id.in_(ids))
                    .returning(JobFile.job_id, JobFile.object_key, JobFile.size))).all()
                await session.execute(delete(Job).where(Job.id.in_(ids)))
            for job_id, key, size in files:
                if not key.startswith(keys.job_file(job_id, "")):
                    continue  # an item's variant: the item's, not the job's
                try:
                    await self.storage.primary.delete(key)
                except Exception:  # the row is gone; the object is left under its job's prefix
                    log.warning("could not delete job file %s", key, exc_info=True)
                    continue
                freed += size
            deleted += len(ids)
            if len(ids) < BATCH:
                break
        return Cleaned(deleted_count=deleted, freed_space=freed)
