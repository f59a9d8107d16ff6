"""The job broker: jobs queued in the database, dispatched best first to workers that lease them.

JetStream has no priority queue, so the queue is the jobs table: a worker asking for work is given the
queued jobs of its task types in the order lane (what a person waits for before bulk re-processing),
priority (higher first), age — `FOR UPDATE SKIP LOCKED`, so concurrent leases never hand out one job
twice. A lease lasts `LEASE_SECONDS` past the worker's last progress report; the sweeper puts a job whose
lease lapsed back in the queue (a worker that died) until its tries run out, then fails it with the last
error. A worker whose lease was lost is told to stop at its next report, and its completion is dropped:
a job never runs to completion twice, nor twice at once.

Workers never touch the database: the dispatcher (`dispatcher.py`) answers their bus requests with
these functions, and inputs and outputs travel as presigned URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_compute.models import BUS, FileRole, Job, JobFile, JobStatus, Lane, TaskType, Worker, WorkerCredential
from shoebox_lib.bus import emit
from shoebox_lib.db import Database, after_commit
from shoebox_lib.events import ItemStored, JobCompleted
from shoebox_lib.keys import derived, job_file
from shoebox_lib.storage import Storage
from shoebox_lib.storage.base import check_key
from shoebox_lib.worker.protocol import (
    LEASE_SECONDS,
    WORKER_TTL_SECONDS,
    Completion,
    InputFile,
    LeasedJob,
    Outcome,
    OutputRequest,
    WorkerStatus,
)

log = logging.getLogger(__name__)

DEFAULT_PRIORITY = 5
MAX_PRIORITY = 10
UPLOAD_PRIORITY = 7  # a new upload's own work, above a default API job
BUILTIN_CREDENTIAL_ID = "builtin"
ORIGINAL = "original"  # the input name of a library item's file
# The variants compute makes of every image (and of a video's poster frame): name → longest side.
VARIANTS = {"thumb": 256, "medium": 1280}


class CredentialRefused(Exception):
    """A worker's request without a valid credential."""


def new_job_id() -> str:
    return "job_" + secrets.token_urlsafe(12)


def builtin_credential(secret: str) -> str:
    """What the built-in workers present: derived from the installation secret, never stored."""
    digest = hmac.new(secret.encode(), b"shoebox-builtin-worker", hashlib.sha256).hexdigest()
    return f"wk_{BUILTIN_CREDENTIAL_ID}.{digest}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _ms(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at is not None else None


@dataclass(frozen=True)
class ItemRef:
    item_id: int
    owner_id: int
    object_key: str
    content_type: str | None
    size: int | None  # the original's bytes; None when not known (jobs recorded before sizes were)

    @classmethod
    def stored(cls, event: ItemStored) -> ItemRef:
        return cls(event.item_id, event.owner_id, event.object_key, event.content_type, event.size)


@dataclass(frozen=True)
class StagedInput:
    path: str
    object_key: str
    size: int
    content_type: str | None


@dataclass(frozen=True)
class _Input:
    """A leased job's input as recorded: a size of None is not known yet."""

    name: str
    object_key: str
    size: int | None
    content_type: str | None


@dataclass(frozen=True)
class NewJob:
    job_id: str
    task_type: str
    params: dict[str, Any]
    priority: int = DEFAULT_PRIORITY
    lane: Lane = Lane.LIVE
    created_by: int | None = None
    item: ItemRef | None = None
    inputs: tuple[StagedInput, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    num_workers: int
    idle: dict[str, int]


@dataclass(frozen=True)
class JobEvent:
    """A job's state changed: what CL's clients see on MQTT's `inference/events`."""

    job_id: str
    task_type: str
    status: JobStatus
    progress: int
    at_ms: int


JobListener = Callable[[JobEvent], Awaitable[None]]
WorkerListener = Callable[[WorkerStatus | None, str], Awaitable[None]]
Waker = Callable[[str], Awaitable[None]]


def wants_processing(event: ItemStored) -> bool:
    """Never for end-to-end-encrypted files: their bytes mean nothing to us."""
    kind = (event.content_type or "").split("/", 1)[0]
    return not event.encrypted and kind in ("image", "video")


def automatic_jobs() -> list[tuple[TaskType, dict[str, Any]]]:
    """What every readable upload gets: its variants (a video's from its poster frame), and its metadata."""
    jobs: list[tuple[TaskType, dict[str, Any]]] = [
        (TaskType.THUMBNAIL, {"variant": name, "max_side": side}) for name, side in VARIANTS.items()]
    jobs.append((TaskType.METADATA, {}))
    return jobs


@dataclass
class Broker:
    db: Database
    storage: Storage
    secret: str
    presign_seconds: int
    wake: Waker | None = None
    listeners: list[JobListener] = field(default_factory=list)
    worker_listeners: list[WorkerListener] = field(default_factory=list)
    _credentials: dict[str, tuple[str, float]] = field(default_factory=dict)

    # --- queueing -----------------------------------------------------------------------------------------

    async def submit(self, new: NewJob) -> Job:
        async with self.db.transaction() as session:
            job = self._job(new)
            session.add(job)
            for staged in new.inputs:
                session.add(JobFile(job_id=job.id, role=FileRole.INPUT, path=staged.path,
                                    object_key=staged.object_key, size=staged.size, content_type=staged.content_type))
            await session.flush()
        await self._announce([job])
        return job

    @staticmethod
    def _job(new: NewJob) -> Job:
        item = new.item
        return Job(
            id=new.job_id, task_type=new.task_type, status=JobStatus.QUEUED, lane=new.lane,
            priority=max(0, min(MAX_PRIORITY, new.priority)), params=new.params, created_by=new.created_by,
            item_id=item.item_id if item else None, owner_id=item.owner_id if item else None,
            object_key=item.object_key if item else None, object_size=item.size if item else None,
            content_type=item.content_type if item else None, attempts=0, progress=0,
        )

    async def on_item_stored(self, session: AsyncSession, event: ItemStored) -> None:
        """A new upload's own work, queued in the live lane (a backfill goes in the bulk lane)."""
        if not wants_processing(event):
            return
        await self.queue_item_work(session, ItemRef.stored(event), lane=Lane.LIVE, priority=UPLOAD_PRIORITY)

    async def queue_item_work(self, session: AsyncSession, item: ItemRef, *, lane: Lane, priority: int,
                              announce: bool = True) -> list[Job]:
        existing = {(t, (p or {}).get("variant")) for t, p in (await session.execute(
            select(Job.task_type, Job.params).where(
                Job.item_id == item.item_id, Job.object_key == item.object_key,
                Job.status.in_([JobStatus.QUEUED, JobStatus.IN_PROGRESS])))).all()}
        queued: list[Job] = []
        for task_type, params in automatic_jobs():
            if (task_type, params.get("variant")) in existing:
                continue  # a redelivered event, or one already queued by a backfill
            job = self._job(NewJob(new_job_id(), task_type, params, priority, lane, item=item))
            session.add(job)
            queued.append(job)
        await session.flush()
        if announce and queued:
            # Once the caller's transaction commits: a worker woken before it would find nothing yet.
            after_commit(session, partial(self._announce, queued))
        return queued

    async def reprocess(self) -> int:
        """Bulk re-processing: every item compute has worked on gets its automatic work again, in the bulk
        lane, behind whatever new uploads bring (theirs is live). Returns the number of jobs queued."""
        async with self.db.transaction() as session:
            latest = (await session.execute(
                select(Job.item_id, Job.owner_id, Job.object_key, Job.content_type, Job.object_size)
                .where(Job.item_id.is_not(None), Job.owner_id.is_not(None), Job.object_key.is_not(None),
                       Job.task_type == TaskType.METADATA)
                .ext(distinct_on(Job.item_id)).order_by(Job.item_id, Job.created_at.desc()))).all()
            queued: list[Job] = []
            for item_id, owner_id, object_key, content_type, size in latest:
                if item_id is None or owner_id is None or object_key is None:
                    continue  # none is: the query leaves them out (said again for the type checker)
                item = ItemRef(item_id, owner_id, object_key, content_type, size)
                queued += await self.queue_item_work(session, item, lane=Lane.BULK, priority=DEFAULT_PRIORITY,
                                                     announce=False)
        for task_type in dict.fromkeys(job.task_type for job in queued):
            await self._wake(task_type)
        return len(queued)

    async def _announce(self, jobs: Sequence[Job]) -> None:
        """Committed jobs: their events, and their task types' workers woken (once each)."""
        for job in jobs:
            await self._emit_event(job)
        for task_type in dict.fromkeys(job.task_type for job in jobs):
            await self._wake(task_type)

    async def _wake(self, task_type: str) -> None:
        if self.wake is None:
            return
        try:
            await self.wake(task_type)
        except Exception:  # they find the work at their next poll
            log.warning("could not wake workers for %s", task_type, exc_info=True)

    # --- reading and cancelling ---------------------------------------------------------------------------

    async def get(self, job_id: str) -> tuple[Job, list[JobFile]] | None:
        async with self.db.transaction() as session:
            job = await session.get(Job, job_id)
            if job is None or job.status == JobStatus.CANCELLED:
                return None
            files = list((await session.execute(select(JobFile).where(JobFile.job_id == job_id)
                                                .order_by(JobFile.role, JobFile.path))).scalars())
            return job, files

    async def cancel(self, job_id: str) -> bool:
        """Cancel (and forget) a job: its worker is told to stop at its next report; its files go."""
        async with self.db.transaction() as session:
            job = await session.get(Job, job_id, with_for_update=True)
            if job is None or job.status == JobStatus.CANCELLED:
                return False
            job.status, job.completed_at = JobStatus.CANCELLED, datetime.now(UTC)
            keys = list((await session.execute(
                delete(JobFile).where(JobFile.job_id == job_id).returning(JobFile.object_key))).scalars())
        await self._erase(keys)
        await self._emit_event(job)
        return True

    async def _erase(self, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                await self.storage.primary.delete(key)
            except Exception:
                log.warning("could not delete %s", key, exc_info=True)

    # --- the worker registry ------------------------------------------------------------------------------

    async def check_credential(self, credential: str) -> str:
        """The credential's id, or CredentialRefused."""
        if hmac.compare_digest(credential, builtin_credential(self.secret)):
            return BUILTIN_CREDENTIAL_ID
        credential_id, _, secret = credential.removeprefix("wk_").partition(".")
        if not credential.startswith("wk_") or not credential_id or not secret:
            raise CredentialRefused("malformed credential")
        cached = self._credentials.get(credential_id)
        now = datetime.now(UTC).timestamp()
        if cached is None or now - cached[1] > 5.0:
            async with self.db.transaction() as session:
                row = await session.get(WorkerCredential, credential_id)
            if row is None or row.revoked_at is not None:
                self._credentials.pop(credential_id, None)
                raise CredentialRefused("unknown or revoked credential")
            cached = (row.secret_hash, now)
            self._credentials[credential_id] = cached
        if not hmac.compare_digest(cached[0], _hash(secret)):
            raise CredentialRefused("wrong credential")
        return credential_id

    async def issue_credential(self, name: str, created_by: int | None) -> str:
        credential_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        async with self.db.transaction() as session:
            session.add(WorkerCredential(id=credential_id, name=name[:128], secret_hash=_hash(secret),
                                         created_by=created_by))
        return f"wk_{credential_id}.{secret}"

    async def revoke_credential(self, credential_id: str) -> bool:
        async with self.db.transaction() as session:
            revoked = (await session.execute(
                update(WorkerCredential).where(WorkerCredential.id == credential_id,
                                               WorkerCredential.revoked_at.is_(None))
                .values(revoked_at=func.now()).returning(WorkerCredential.id))).scalar_one_or_none()
        self._credentials.pop(credential_id, None)
        return revoked is not None

    async def heard(self, status: WorkerStatus, credential_id: str) -> None:
        """A worker's heartbeat (or goodbye): the registry `/capabilities` answers from."""
        async with self.db.transaction() as session:
            if status.leaving:
                await session.execute(delete(Worker).where(Worker.id == status.worker_id))
            else:
                values = dict(capabilities=list(status.capabilities), idle=dict(status.idle),
                              credential_id=credential_id, last_seen=datetime.now(UTC))
                await session.execute(insert(Worker).values(id=status.worker_id, **values)
                                      .on_conflict_do_update(index_elements=[Worker.id], set_=values))
        for listener in self.worker_listeners:
            await listener(None if status.leaving else status, status.worker_id)

    async def capabilities(self) -> Capabilities:
        alive = datetime.now(UTC) - timedelta(seconds=WORKER_TTL_SECONDS)
        async with self.db.transaction() as session:
            workers = list((await session.execute(select(Worker).where(Worker.last_seen >= alive))).scalars())
        idle: dict[str, int] = {}
        for worker in workers:
            for task in worker.capabilities:
                idle[task] = idle.get(task, 0) + max(0, int(worker.idle.get(task, 0)))
        return Capabilities(num_workers=len(workers), idle=idle)

    async def forget_silent_workers(self) -> int:
        alive = datetime.now(UTC) - timedelta(seconds=WORKER_TTL_SECONDS)
        async with self.db.transaction() as session:
            gone = list((await session.execute(
                delete(Worker).where(Worker.last_seen < alive).returning(Worker.id))).scalars())
        for worker_id in gone:
            for listener in self.worker_listeners:
                await listener(None, worker_id)
        return len(gone)

    # --- leases -------------------------------------------------------------------------------------------

    async def lease(self, worker_id: str, task_types: Sequence[str], slots: int) -> list[LeasedJob]:
        """The best queued jobs of these task types, leased to the worker."""
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            jobs = list((await session.execute(
                select(Job).where(Job.status == JobStatus.QUEUED, Job.task_type.in_(list(task_types)))
                .order_by(Job.lane, Job.priority.desc(), Job.created_at, Job.id)
                .limit(slots).with_for_update(skip_locked=True))).scalars())
            files: list[list[_Input]] = []
            for job in jobs:
                job.status, job.lease_worker = JobStatus.IN_PROGRESS, worker_id
                job.lease_expires = now + timedelta(seconds=LEASE_SECONDS)
                job.attempts += 1
                job.started_at = job.started_at or now
                job.progress = 0
                files.append(await self._inputs(session, job))
        # Storage is asked nothing while the rows are locked: the sizes travel with the job.
        leased = [LeasedJob(job_id=job.id, task_type=job.task_type, params=dict(job.params), priority=job.priority,
                            attempt=job.attempts, inputs=[await self._signed(found) for found in inputs])
                  for job, inputs in zip(jobs, files, strict=True)]
        for job in jobs:
            await self._emit_event(job)
        return leased

    @staticmethod
    async def _inputs(session: AsyncSession, job: Job) -> list[_Input]:
        found: list[_Input] = []
        if job.object_key is not None:
            found.append(_Input(ORIGINAL, job.object_key, job.object_size, job.content_type))
        for row in (await session.execute(select(JobFile).where(
                JobFile.job_id == job.id, JobFile.role == FileRole.INPUT).order_by(JobFile.path))).scalars():
            found.append(_Input(row.path.removeprefix("input/"), row.object_key, row.size, row.content_type))
        return found

    async def _signed(self, found: _Input) -> InputFile:
        size = found.size
        if size is None:  # a job made before sizes were recorded
            head = await self.storage.primary.head(found.object_key)
            size = head.size if head else 0
        return InputFile(name=found.name, url=await self.storage.primary.presign_get(
            found.object_key, expires=self.presign_seconds), size=size, content_type=found.content_type)

    async def _held(self, session: AsyncSession, job_id: str, worker_id: str) -> Job | None:
        job = await session.get(Job, job_id, with_for_update=True)
        if job is None or job.status != JobStatus.IN_PROGRESS or job.lease_worker != worker_id:
            return None
        return job

    async def progress(self, worker_id: str, job_id: str, progress: int) -> bool:
        """Record progress and renew the lease; False: the worker must stop (cancelled, or re-leased)."""
        async with self.db.transaction() as session:
            job = await self._held(session, job_id, worker_id)
            if job is None:
                return False
            job.progress = max(job.progress, min(progress, 99))
            job.lease_expires = datetime.now(UTC) + timedelta(seconds=LEASE_SECONDS)
        await self._emit_event(job)
        return True

    def output_key(self, job: Job, path: str) -> str:
        """Where an output goes: an item's variant among its derived objects, anything else under the job."""
        name = path.removeprefix("output/")
        if job.item_id is not None and job.owner_id is not None and job.task_type == TaskType.THUMBNAIL \
                and "/" not in name and "." in name:
            stem, extension = name.rsplit(".", 1)
            return check_key(derived(job.owner_id, job.item_id, stem, extension))
        return check_key(job_file(job.id, path))

    async def output_url(self, request: OutputRequest) -> tuple[str, dict[str, str]]:
        if not request.path.startswith("output/") or ".." in request.path.split("/"):
            raise ValueError("an output's path is output/<name>")
        async with self.db.transaction() as session:
            job = await self._held(session, request.job_id, request.worker_id)
            if job is None:
                raise LookupError("the job is not leased to this worker")
            key = self.output_key(job, request.path)
        url = await self.storage.primary.presign_put(key, expires=self.presign_seconds,
                                                     content_type=request.content_type,
                                                     content_length=request.size)
        return url, {"Content-Type": request.content_type, "Content-Length": str(request.size)}

    async def complete(self, completion: Completion) -> bool:
        """Record a worker's result, once: False when its lease was lost (the result is dropped)."""
        async with self.db.transaction() as session:
            job = await self._held(session, completion.job_id, completion.worker_id)
            if job is None:
                return False
            now = datetime.now(UTC)
            completion = self._checked(job, completion)
            if completion.outcome is Outcome.FAILED and completion.retryable and job.attempts < job.max_attempts:
                job.status, job.lease_worker, job.lease_expires = JobStatus.QUEUED, None, None
                job.error = completion.error
            else:
                await self._finish(session, job, completion, now)
        await self._emit_event(job)
        if job.status == JobStatus.QUEUED and self.wake is not None:
            await self.wake(job.task_type)
        return True

    def _checked(self, job: Job, completion: Completion) -> Completion:
        """A completion whose outputs are not the job's to name, or a variant whose result names none of
        them, is a failure of the worker's (not retried): nothing of it is recorded."""
        if completion.outcome is Outcome.FAILED:
            return completion
        try:
            for output in completion.outputs:
                if not output.path.startswith("output/"):
                    raise ValueError(f"{output.path!r} is not an output path")
                self.output_key(job, output.path)
            if job.task_type == TaskType.THUMBNAIL and \
                    completion.result.get("path") not in {o.path for o in completion.outputs}:
                raise ValueError("the variant's result names none of its outputs")
        except ValueError as exc:
            return completion.model_copy(update={"outcome": Outcome.FAILED, "retryable": False,
                                                 "error": f"the worker's result was refused: {exc}"})
        return completion

    async def _finish(self, session: AsyncSession, job: Job, completion: Completion, now: datetime) -> None:
        failed = completion.outcome is Outcome.FAILED
        job.status = JobStatus.FAILED if failed else JobStatus.COMPLETED
        job.result, job.error = (None if failed else completion.result), completion.error if failed else None
        job.progress = job.progress if failed else 100
        job.completed_at, job.lease_worker, job.lease_expires = now, None, None
        for output in ([] if failed else completion.outputs):
            key = self.output_key(job, output.path)
            values = dict(object_key=key, size=output.size, content_type=output.content_type)
            await session.execute(insert(JobFile).values(job_id=job.id, role=FileRole.OUTPUT, path=output.path,
                                                         **values)
                                  .on_conflict_do_update(index_elements=[JobFile.job_id, JobFile.role, JobFile.path],
                                                         set_=values))
        if job.item_id is not None:
            await emit(session, BUS, JobCompleted(
                job_id=job.id, task_type=job.task_type, status="failed" if failed else "completed",
                item_id=job.item_id, owner_id=job.owner_id, result=self._item_result(job, completion),
                error=job.error,
            ))

    def _item_result(self, job: Job, completion: Completion) -> dict[str, Any]:
        """What metadata records of an item's job: a variant with its object's key, or what was measured."""
        result = dict(completion.result)
        if job.task_type == TaskType.THUMBNAIL and completion.outcome is Outcome.COMPLETED:
            path = str(result.get("path", ""))
            result["object_key"] = self.output_key(job, path)
        result.setdefault("variant", job.params.get("variant"))
        return result

    async def expire_leases(self) -> int:
        """Jobs whose worker went silent go back in the queue, or fail once their tries are spent."""
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            lapsed = list((await session.execute(
                select(Job).where(Job.status == JobStatus.IN_PROGRESS, Job.lease_expires < now)
                .with_for_update(skip_locked=True))).scalars())
            for job in lapsed:
                job.lease_worker, job.lease_expires = None, None
                if job.attempts >= job.max_attempts:
                    await self._finish(session, job, Completion(
                        worker_id="broker", credential="-", job_id=job.id, outcome=Outcome.FAILED,
                        error=job.error or f"the worker stopped answering, {job.attempts} times"), now)
                else:
                    job.status = JobStatus.QUEUED
        for job in lapsed:
            await self._emit_event(job)
            if job.status == JobStatus.QUEUED and self.wake is not None:
                await self.wake(job.task_type)
        return len(lapsed)

    async def _emit_event(self, job: Job) -> None:
        if not self.listeners:
            return
        event = JobEvent(job.id, job.task_type, JobStatus(job.status), job.progress,
                         _ms(datetime.now(UTC)) or 0)
        for listener in self.listeners:
            try:
                await listener(event)
            except Exception:
                log.warning("job listener failed", exc_info=True)
