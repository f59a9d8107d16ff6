"""The worker runtime: write one function per task type, and the runtime does the rest of the protocol.

```python
worker = Worker(nats_url="nats://…", credential="…", slots=2)

@worker.task("word_count")
def word_count(job: JobContext) -> dict[str, Any]:
    with job.inputs[0].open() as f:           # seekable, read-only, over ranged GETs
        ...
        job.progress(50)                      # raises Cancelled once the broker says stop
    job.put_output("output/counts.json", data, "application/json")
    return {"words": n}                       # the job's result

asyncio.run(worker.run())
```

A plain function runs in a thread of its own (one per busy slot); an `async def` runs on the event loop
(and uses `aread_range` / `aput_output`). What the runtime does meanwhile:

- announces itself on `compute.workers` every `HEARTBEAT_SECONDS` (and whenever its idle slots change),
  and once more with `leaving=True` when it stops;
- leases jobs for its free slots when the broker wakes it (`compute.wake.<task>`), when a slot frees, and
  every `POLL_SECONDS` otherwise;
- reports each job's progress soon after it changes and at least every quarter of the lease on its own,
  so a function that never calls `progress` keeps its lease; when the broker answers `keep_going: false`
  (the job was cancelled or leased to another worker), or the lease could not be renewed for a whole
  lease period, the job is stopped: `progress()` and `check()` raise `Cancelled`, an async task is
  cancelled, and nothing is completed for it;
- completes the job: the returned dict is the result; `JobFailed` fails it for good, any other exception
  (a read or an upload that failed, a refused output) fails it as worth another try (`retryable`),
  which the broker bounds.

A job never holds an input whole unless the function asks (`read_bytes`); `open()` keeps a bounded
read-ahead buffer. A stopping worker asks its functions to stop, waits a bounded grace, and hands back
what did not finish as failed-retryable, so the broker re-queues it at once rather than after the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TypeVar, cast

import httpx
import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, ValidationError

from shoebox_lib.bus.connection import nats_servers
from shoebox_lib.waiting import wait_event
from shoebox_lib.worker import http
from shoebox_lib.worker.protocol import (
    HEARTBEAT_SECONDS,
    MAX_SLOTS,
    POLL_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    Completion,
    CompletionReply,
    ErrorReply,
    InputFile,
    LeasedJob,
    LeaseReply,
    LeaseRequest,
    Outcome,
    OutputFile,
    OutputReply,
    OutputRequest,
    ProgressReply,
    ProgressReport,
    Subject,
    WorkerStatus,
)

log = logging.getLogger("shoebox.worker")

TASK_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
WORKER_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ERROR_CHARS = 4000
MAX_OUTPUT_PATH = 512
# Progress goes out at most this often while it changes; the lease is renewed regardless.
PROGRESS_MIN_INTERVAL = 1.0
SHUTDOWN_GRACE_SECONDS = 10.0
_OPEN_BUFFER = 1024 * 1024
_READALL_STEP = 8 * 1024 * 1024

ReplyT = TypeVar("ReplyT", bound=BaseModel)
TaskResult = dict[str, Any] | None
SyncTask = Callable[["JobContext"], TaskResult]
AsyncTask = Callable[["JobContext"], Awaitable[TaskResult]]
TaskFunction = SyncTask | AsyncTask


class JobFailed(Exception):
    """Raise from a task to fail the job for good: the input is bad, another try would fail the same way."""


class Cancelled(Exception):
    """The broker said stop (the job was cancelled or leased elsewhere), or the lease was lost."""


class BrokerError(Exception):
    """The broker could not be reached, or answered something that is not the protocol."""


class BrokerRefused(BrokerError):
    """The broker answered with an `ErrorReply` (a bad credential, a path it will not sign, …)."""


class OutputRefused(BrokerRefused):
    """The broker would not sign an upload for this output. Retryable: its refusals do not tell a lost
    lease or a passing fault from a path it will never take, and paths are checked here first anyway."""


def default_worker_id() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64] or "worker"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def check_output_path(path: str) -> str:
    """A job-relative path under `output/` (`output/thumb.jpg`, `output/hls/0.ts`): no `.`/`..` or empty
    parts, no backslashes or control characters."""
    if not path or len(path) > MAX_OUTPUT_PATH:
        raise ValueError(f"an output path has 1 to {MAX_OUTPUT_PATH} characters: {path[:80]!r}")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or "\\" in path or any(ord(c) < 32 for c in path):
        raise ValueError(f"an output path is relative, without empty, '.' or '..' parts: {path!r}")
    if parts[0] != "output" or len(parts) < 2:
        raise ValueError(f"an output path starts with output/: {path!r}")
    return path


# Registration without a Worker object, for modules run by `shoebox worker --module`.
_REGISTERED: dict[str, TaskFunction] = {}


def task(name: str) -> Callable[[TaskFunction], TaskFunction]:
    """Register `fn` as the function for task type `name` in the module-level registry, which
    `shoebox worker --module` (and `Worker(tasks=registered_tasks())`) picks up."""

    def register(fn: TaskFunction) -> TaskFunction:
        _REGISTERED[_check_task_name(name)] = fn
        return fn

    return register


def registered_tasks() -> dict[str, TaskFunction]:
    return dict(_REGISTERED)


def _check_task_name(name: str) -> str:
    if not TASK_NAME.match(name):
        raise ValueError(f"a task type is 1 to 64 letters, digits, '_' or '-': {name!r}")
    return name


class _RangedRaw(io.RawIOBase):
    """The raw file under `JobInput.open()`: every read is one ranged GET of what it asks."""

    def __init__(self, source: JobInput) -> None:
        super().__init__()
        self._source = source
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._source.size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence {whence}")
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._source.read_range(self._pos, min(len(view), http.MAX_RANGE_BYTES))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        # RawIOBase's readall reads 8 KiB at a time: one GET each. Read what is left in big ranges instead.
        parts: list[bytes] = []
        while self._pos < self._source.size:
            data = self._source.read_range(self._pos, min(self._source.size - self._pos, _READALL_STEP))
            if not data:
                break
            parts.append(data)
            self._pos += len(data)
        return b"".join(parts)


@dataclass
class JobInput:
    """One input of a leased job: its name, size and type, read by ranges from its presigned URL."""

    name: str
    size: int
    content_type: str | None
    url: str
    _job: JobContext = field(repr=False)

    def read_range(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (fewer only at the end of the file), with one ranged GET."""
        want = http.check_range(offset, length, self.size)
        self._job._not_on_loop("read_range", "aread_range")
        return http.get_range(self._job._worker._http_client(), self.url, offset, want, self._what())

    async def aread_range(self, offset: int, length: int) -> bytes:
        want = http.check_range(offset, length, self.size)
        return await http.aget_range(self._job._worker._async_http_client(), self.url, offset, want,
                                     self._what())

    def open(self, buffer_size: int = _OPEN_BUFFER) -> BinaryIO:
        """A seekable, read-only file over ranged reads, holding at most `buffer_size` bytes ahead."""
        return cast(BinaryIO, io.BufferedReader(_RangedRaw(self), buffer_size=buffer_size))

    def read_bytes(self, *, max_bytes: int = 64 * 1024 * 1024) -> bytes:
        """The whole input in memory, when it is at most `max_bytes` (else ValueError): for small inputs."""
        if self.size > max_bytes:
            raise ValueError(f"input {self.name!r} has {self.size} bytes, more than max_bytes={max_bytes}")
        return self.read_range(0, self.size)

    def _what(self) -> str:
        return f"reading input {self.name!r} of job {self._job.job_id}"


class JobOutputs:
    """The job's output sink (`put` / `put_file`, as the media tasks' OutputSink has them)."""

    def __init__(self, job: JobContext) -> None:
        self._job = job

    def put(self, path: str, data: bytes, content_type: str) -> OutputFile:
        return self._job.put_output(path, data, content_type)

    def put_file(self, path: str, file: BinaryIO, content_type: str) -> OutputFile:
        return self._job.put_output_file(path, file, content_type)


class JobContext:
    """What a task function is given: the job, its inputs, progress, and where its outputs go."""

    def __init__(self, worker: Worker, leased: LeasedJob) -> None:
        self._worker = worker
        self.job_id = leased.job_id
        self.task_type = leased.task_type
        self.params: dict[str, Any] = leased.params
        self.priority = leased.priority
        self.attempt = leased.attempt
        self.lease_seconds = leased.lease_seconds
        self.inputs: list[JobInput] = [self._input(given) for given in leased.inputs]
        self.outputs = JobOutputs(self)
        self.log = logging.LoggerAdapter(log, {"job_id": self.job_id})
        self._progress = 0
        self._stopped: str | None = None
        self._uploaded: dict[str, OutputFile] = {}
        self._lock = threading.Lock()

    def _input(self, given: InputFile) -> JobInput:
        return JobInput(name=given.name, size=given.size, content_type=given.content_type, url=given.url,
                        _job=self)

    @property
    def worker_id(self) -> str:
        return self._worker.worker_id

    @property
    def stopped(self) -> str | None:
        """Why the job must stop (cancelled, re-leased, lease lost, worker stopping), or None."""
        return self._stopped

    def check(self) -> None:
        """Raise Cancelled if the job must stop; cheap, call it as often as you like."""
        if self._stopped is not None:
            raise Cancelled(self._stopped)

    def progress(self, percent: int) -> None:
        """Record progress (0..100); it is sent to the broker soon. Raises Cancelled if the job must stop.
        Cheap: it never waits for the network, so it may be called for every row or frame."""
        if not 0 <= percent <= 100:
            raise ValueError(f"progress is a percent from 0 to 100, not {percent}")
        self._progress = int(percent)
        self.check()

    def put_output(self, path: str, data: bytes, content_type: str) -> OutputFile:
        """Store one output file: asks the broker for an upload URL, then PUTs `data` to it."""
        self._not_on_loop("put_output", "aput_output")
        self.check()
        path = check_output_path(path)
        reply = self._worker._call_from_thread(self._ask_output(path, content_type, len(data)))
        http.put(self._worker._http_client(), reply.url, reply.headers, data, len(data), self._what(path))
        return self._record(path, content_type, len(data))

    def put_output_file(self, path: str, file: BinaryIO, content_type: str) -> OutputFile:
        """Store an output streamed from a seekable `file`, from its current position to its end."""
        self._not_on_loop("put_output_file", "aput_output")
        self.check()
        path = check_output_path(path)
        _, size = http.remaining_size(file)
        reply = self._worker._call_from_thread(self._ask_output(path, content_type, size))
        http.put(self._worker._http_client(), reply.url, reply.headers, file, size, self._what(path))
        return self._record(path, content_type, size)

    async def aput_output(self, path: str, data: bytes, content_type: str) -> OutputFile:
        self.check()
        path = check_output_path(path)
        reply = await self._ask_output(path, content_type, len(data))
        await http.aput(self._worker._async_http_client(), reply.url, reply.headers, data, self._what(path))
        return self._record(path, content_type, len(data))

    async def _ask_output(self, path: str, content_type: str, size: int) -> OutputReply:
        request = OutputRequest(worker_id=self._worker.worker_id, credential=self._worker._require_credential(),
                                job_id=self.job_id, path=path, content_type=content_type, size=size)
        try:
            return await self._worker._request(Subject.OUTPUT, request, OutputReply)
        except BrokerRefused as refused:
            raise OutputRefused(f"the broker will not take output {path!r}: {refused}") from refused

    def _record(self, path: str, content_type: str, size: int) -> OutputFile:
        stored = OutputFile(path=path, content_type=content_type, size=size)
        with self._lock:
            self._uploaded[path] = stored
        return stored

    def _what(self, path: str) -> str:
        return f"storing output {path!r} of job {self.job_id}"

    def _not_on_loop(self, name: str, instead: str) -> None:
        if self._worker._on_loop_thread():
            raise RuntimeError(f"{name}() blocks: an async task uses `await …{instead}(…)` instead")

    def _stop(self, reason: str) -> None:
        if self._stopped is None:
            self._stopped = reason


@dataclass
class _Running:
    job: JobContext
    future: asyncio.Future[TaskResult]
    task: asyncio.Task[Any] | None = None  # for async functions, so a stop can cancel them
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Worker:
    """A process's worker: the task functions it offers and the protocol it speaks for them."""

    def __init__(self, nats_url: str | None = None, prefix: str = "shoebox", credential: str | None = None,
                 worker_id: str | None = None, slots: int = 2,
                 tasks: dict[str, TaskFunction] | None = None) -> None:
        self.nats_url = nats_url
        self.prefix = prefix
        self.credential = credential
        self.worker_id = worker_id or default_worker_id()
        self.slots = slots
        self._tasks: dict[str, TaskFunction] = {}
        for name, fn in (tasks or {}).items():
            self.add_task(name, fn)
        self._nc: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._sync_http: httpx.Client | None = None
        self._async_http: httpx.AsyncClient | None = None
        self._completing: set[asyncio.Task[None]] = set()
        self._last_idle: dict[str, int] | None = None
        self.completed = 0  # jobs whose completion the broker accepted, for tests and logs

    # Configuration

    def task(self, name: str) -> Callable[[TaskFunction], TaskFunction]:
        """Decorator: `fn` runs every job of task type `name`."""

        def register(fn: TaskFunction) -> TaskFunction:
            self.add_task(name, fn)
            return fn

        return register

    def add_task(self, name: str, fn: TaskFunction) -> None:
        if not callable(fn):
            raise TypeError(f"the function for task {name!r} is not callable")
        self._tasks[_check_task_name(name)] = fn

    @property
    def task_types(self) -> list[str]:
        return sorted(self._tasks)

    def _check(self) -> None:
        if not self._tasks:
            raise ValueError("a worker needs at least one task: decorate a function with @worker.task(name)")
        if not self.nats_url:
            raise ValueError("a worker needs the NATS URL of the installation (nats_url)")
        self._require_credential()
        if not PREFIX.match(self.prefix):
            raise ValueError(f"the bus prefix is 1 to 64 letters, digits, '_' or '-': {self.prefix!r}")
        if not WORKER_ID.match(self.worker_id):
            raise ValueError(f"a worker id is 1 to 128 letters, digits, '.', '_' or '-': {self.worker_id!r}")
        if not 1 <= self.slots <= MAX_SLOTS:
            raise ValueError(f"slots is from 1 to {MAX_SLOTS}, not {self.slots}")

    def _require_credential(self) -> str:
        if not self.credential:
            raise ValueError("a worker needs a credential: an admin issues one (SHOEBOX_WORKER_CREDENTIAL)")
        return self.credential

    def subject(self, subject: Subject | str) -> str:
        return f"{self.prefix}.{subject}"

    # Running

    async def run(self) -> None:
        """Serve jobs until cancelled (or `stop()`); then stop cleanly and announce leaving."""
        self._check()
        self._loop = asyncio.get_running_loop()
        await self._connect()
        assert self._nc is not None
        subscriptions: list[Subscription] = []
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"worker-heartbeat-{self.worker_id}")
        try:
            for name in self._tasks:
                subscriptions.append(await self._nc.subscribe(self.subject(f"{Subject.WAKE}.{name}"),
                                                              cb=self._on_wake))
            log.info("worker %s serving %s with %d slots", self.worker_id, ", ".join(self.task_types), self.slots)
            await self._lease_loop()
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await asyncio.shield(self._shutdown(subscriptions))

    def stop(self) -> None:
        """Ask `run()` to finish: no more leases; running jobs are stopped and handed back."""
        self._stopping.set()
        self._wake.set()

    async def _connect(self) -> None:
        url = self.nats_url
        assert url is not None  # _check() said so
        delay = 0.5
        while True:
            try:
                self._nc = await nats.connect(
                    nats_servers(url), name=self.worker_id, connect_timeout=5, allow_reconnect=True,
                    max_reconnect_attempts=-1, reconnect_time_wait=1,
                )
                return
            except (OSError, nats.errors.NoServersError, TimeoutError) as error:
                log.warning("worker %s cannot reach NATS at %s (%s); trying again in %.1f s",
                            self.worker_id, self.nats_url, error or type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _on_wake(self, _msg: Msg) -> None:
        self._wake.set()

    def _free(self) -> int:
        return max(0, self.slots - len(self._running))

    async def _lease_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            free = self._free()
            got = 0
            if free:
                try:
                    got = await self._lease(free)
                    failures = 0
                except BrokerError as error:
                    failures += 1
                    # Every failure while the broker is away would flood the log; the first and then
                    # every tenth say so.
                    if failures == 1 or failures % 10 == 0:
                        log.warning("worker %s cannot lease: %s", self.worker_id, error)
            if got and got >= free:
                continue  # the queue may hold more for slots that free up: ask again straight away
            await wait_event(self._wake, POLL_SECONDS)

    async def _lease(self, free: int) -> int:
        request = LeaseRequest(worker_id=self.worker_id, credential=self._require_credential(),
                               task_types=self.task_types, slots=free)
        reply = await self._request(Subject.LEASE, request, LeaseReply)
        for extra in reply.jobs[free:]:
            log.error("the broker leased %d jobs for %d free slots; job %s waits for its lease to end",
                      len(reply.jobs), free, extra.job_id)
        for leased in reply.jobs[:free]:
            self._start(leased)
        if reply.jobs:
            await self._publish_status()
        return min(len(reply.jobs), free)

    def _start(self, leased: LeasedJob) -> None:
        assert self._loop is not None
        job = JobContext(self, leased)
        fn = self._tasks.get(leased.task_type)
        future: asyncio.Future[TaskResult] = self._loop.create_future()
        running = _Running(job=job, future=future)
        self._running[job.job_id] = running
        log.info("job %s (%s, attempt %d) started", job.job_id, job.task_type, job.attempt)
        if fn is None:
            future.set_exception(JobFailed(f"worker {self.worker_id} has no function for task {leased.task_type!r}"))
        elif inspect.iscoroutinefunction(fn):
            running.task = asyncio.create_task(self._run_async(cast(AsyncTask, fn), job, future),
                                               name=f"job-{job.job_id}")
        else:
            thread = threading.Thread(target=self._run_sync, args=(cast(SyncTask, fn), job, future),
                                      name=f"job-{job.job_id}", daemon=True)
            # Daemon threads: a function that ignores Cancelled must not keep the process from exiting.
            thread.start()
        keeper = asyncio.create_task(self._keep(running), name=f"job-keeper-{job.job_id}")
        self._completing.add(keeper)
        keeper.add_done_callback(self._completing.discard)

    def _run_sync(self, fn: SyncTask, job: JobContext, future: asyncio.Future[TaskResult]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            result = fn(job)
        except BaseException as error:  # everything is handed to the loop, nothing lost
            outcome: BaseException | None = error
            result = None
        else:
            outcome = None

        def settle() -> None:
            if future.done():
                return
            if outcome is not None:
                future.set_exception(outcome)
            else:
                future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is gone: the process is exiting
            loop.call_soon_threadsafe(settle)

    async def _run_async(self, fn: AsyncTask, job: JobContext, future: asyncio.Future[TaskResult]) -> None:
        try:
            result = await fn(job)
        except asyncio.CancelledError:
            if not future.done():
                future.set_exception(Cancelled(job.stopped or "cancelled"))
        except Exception as error:
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(result)

    async def _keep(self, running: _Running) -> None:
        """One job: keep its lease while it runs, stop it when told, then complete it."""
        try:
            await self._renew_until_done(running)
            await self._finish(running)
        finally:
            self._running.pop(running.job.job_id, None)
            running.done.set()
            self._wake.set()  # a slot is free
            if not self._stopping.is_set():
                with contextlib.suppress(BrokerError):
                    await self._publish_status()

    async def _renew_until_done(self, running: _Running) -> None:
        job = running.job
        renew_every = max(0.5, job.lease_seconds / 4)
        last_ok = last_sent = time.monotonic()
        sent_value = job._progress
        while not running.future.done():
            await asyncio.wait({running.future}, timeout=min(PROGRESS_MIN_INTERVAL, renew_every))
            if running.future.done() or job.stopped is not None:
                continue
            now = time.monotonic()
            value = job._progress
            if not (value != sent_value or now - last_sent >= renew_every):
                continue
            last_sent = now
            try:
                reply = await self._request(Subject.PROGRESS, ProgressReport(
                    worker_id=self.worker_id, credential=self._require_credential(), job_id=job.job_id,
                    progress=value), ProgressReply)
            except BrokerError as error:
                log.warning("job %s: progress not reported: %s", job.job_id, error)
                if time.monotonic() - last_ok > job.lease_seconds:
                    self._stop_job(running, "the lease was lost: the broker did not answer for a whole lease")
                continue
            sent_value = value
            last_ok = time.monotonic()
            if not reply.keep_going:
                self._stop_job(running, "the broker said stop: the job was cancelled or leased elsewhere")

    def _stop_job(self, running: _Running, reason: str) -> None:
        log.info("job %s stops: %s", running.job.job_id, reason)
        running.job._stop(reason)
        if running.task is not None:
            running.task.cancel()

    async def _finish(self, running: _Running) -> None:
        job = running.job
        try:
            result = running.future.result()
        except Cancelled as cancelled:
            if job.stopped is None:
                await self._complete(job, failed=f"Cancelled: {cancelled}", retryable=True)
            elif self._stopping.is_set():
                await self._complete(job, failed="the worker stopped before the job finished", retryable=True)
            else:
                log.info("job %s dropped: %s", job.job_id, job.stopped)
            return
        except JobFailed as failed:
            await self._complete(job, failed=str(failed) or type(failed).__name__, retryable=False)
            return
        except Exception as error:
            log.warning("job %s raised %s", job.job_id, type(error).__name__, exc_info=error)
            await self._complete(job, failed=f"{type(error).__name__}: {error}", retryable=True)
            return
        except BaseException as error:  # SystemExit, KeyboardInterrupt in a task: still hand the job back
            await self._complete(job, failed=f"{type(error).__name__}: {error}", retryable=True)
            return
        if result is None:
            result = {}
        if not isinstance(result, dict):
            await self._complete(job, failed=f"task {job.task_type!r} returned {type(result).__name__}, not a dict",
                                 retryable=False)
            return
        try:
            json.dumps(result)
        except (TypeError, ValueError) as error:
            await self._complete(job, failed=f"task {job.task_type!r} returned a result that is not JSON: {error}",
                                 retryable=False)
            return
        await self._complete(job, result=result)

    async def _complete(self, job: JobContext, *, result: dict[str, Any] | None = None, failed: str | None = None,
                        retryable: bool = False) -> None:
        with job._lock:
            outputs = list(job._uploaded.values())
        completion = Completion(
            worker_id=self.worker_id, credential=self._require_credential(), job_id=job.job_id,
            outcome=Outcome.FAILED if failed is not None else Outcome.COMPLETED, result=result or {},
            outputs=outputs, error=failed[:MAX_ERROR_CHARS] if failed is not None else None,
            retryable=retryable if failed is not None else False,
        )
        # The broker may be restarting: try for about one lease, after which the job is re-leased anyway.
        deadline = time.monotonic() + job.lease_seconds
        delay = 0.5
        while True:
            try:
                reply = await self._request(Subject.COMPLETE, completion, CompletionReply)
                break
            except BrokerRefused as refused:
                log.error("job %s: the broker refused its completion: %s", job.job_id, refused)
                return
            except BrokerError as error:
                if time.monotonic() + delay > deadline:
                    log.error("job %s: completion not delivered, the lease will run out: %s", job.job_id, error)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4.0)
        if reply.accepted:
            self.completed += 1
            log.info("job %s %s", job.job_id, completion.outcome.value if failed is None
                     else f"failed ({'retryable' if retryable else 'final'}): {failed}")
        else:
            log.warning("job %s: the broker dropped its completion (the lease was lost)", job.job_id)

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self._publish_status()
            except BrokerError as error:
                log.warning("worker %s: heartbeat not sent: %s", self.worker_id, error)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    def status(self, *, leaving: bool = False) -> WorkerStatus:
        free = 0 if leaving else self._free()
        return WorkerStatus(worker_id=self.worker_id, credential=self._require_credential(),
                            capabilities=self.task_types, idle={name: free for name in self.task_types},
                            leaving=leaving)

    async def _publish_status(self, *, leaving: bool = False) -> None:
        if self._nc is None or self._nc.is_closed:
            raise BrokerError("not connected to NATS")
        status = self.status(leaving=leaving)
        self._last_idle = status.idle
        try:
            await self._nc.publish(self.subject(Subject.WORKERS), status.model_dump_json().encode())
        except nats.errors.Error as error:
            raise BrokerError(f"{type(error).__name__}: {error}") from error

    async def _shutdown(self, subscriptions: list[Subscription]) -> None:
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        self._stopping.set()
        running = list(self._running.values())
        for each in running:
            self._stop_job(each, "the worker is stopping")
        if running:
            log.info("worker %s: waiting up to %.0f s for %d job(s) to stop", self.worker_id,
                     SHUTDOWN_GRACE_SECONDS, len(running))
            _, late = await asyncio.wait([asyncio.ensure_future(each.done.wait()) for each in running],
                                         timeout=SHUTDOWN_GRACE_SECONDS)
            for each in running:
                if not each.future.done():
                    # Its thread ignores Cancelled: hand the job back now; what the thread returns is dropped.
                    each.future.set_exception(Cancelled("the worker is stopping"))
            if late:
                _, late = await asyncio.wait(late, timeout=REQUEST_TIMEOUT_SECONDS * 2)
            for waiter in late:
                waiter.cancel()
        with contextlib.suppress(BrokerError):
            await self._publish_status(leaving=True)
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=2)
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._nc = None
        if self._async_http is not None:
            await self._async_http.aclose()
            self._async_http = None
        if self._sync_http is not None:
            self._sync_http.close()
            self._sync_http = None
        self._stopping.clear()
        log.info("worker %s stopped", self.worker_id)

    # The bus and HTTP

    async def _request(self, subject: Subject, body: BaseModel, reply_type: type[ReplyT]) -> ReplyT:
        if self._nc is None or self._nc.is_closed:
            raise BrokerError("not connected to NATS")
        try:
            msg = await self._nc.request(self.subject(subject), body.model_dump_json().encode(),
                                         timeout=REQUEST_TIMEOUT_SECONDS)
        except nats.errors.NoRespondersError as error:
            raise BrokerError(f"no broker answers on {self.subject(subject)}") from error
        except (nats.errors.TimeoutError, TimeoutError) as error:
            raise BrokerError(f"the broker did not answer {subject} within {REQUEST_TIMEOUT_SECONDS:.0f} s") from error
        except nats.errors.Error as error:
            raise BrokerError(f"{subject}: {type(error).__name__}: {error}") from error
        return _parse_reply(msg.data, reply_type, subject)

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _call_from_thread(self, coro: Coroutine[Any, Any, ReplyT]) -> ReplyT:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("the worker is not running")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        return future.result(timeout=REQUEST_TIMEOUT_SECONDS * 2)

    def _http_client(self) -> httpx.Client:
        if self._sync_http is None:
            # One client for every task thread (httpx's pool is thread-safe); connections bounded by slots.
            self._sync_http = httpx.Client(timeout=http.TIMEOUT, follow_redirects=False,
                                           limits=httpx.Limits(max_connections=4 * self.slots))
        return self._sync_http

    def _async_http_client(self) -> httpx.AsyncClient:
        if self._async_http is None:
            self._async_http = httpx.AsyncClient(timeout=http.TIMEOUT, follow_redirects=False,
                                                 limits=httpx.Limits(max_connections=4 * self.slots))
        return self._async_http


def _parse_reply(data: bytes, reply_type: type[ReplyT], subject: Subject) -> ReplyT:
    try:
        value = json.loads(data)
    except ValueError as error:
        raise BrokerError(f"the broker's answer to {subject} is not JSON") from error
    if isinstance(value, dict) and "error" in value and set(value) <= {"error"}:
        raise BrokerRefused(ErrorReply.model_validate(value).error)
    try:
        return reply_type.model_validate(value)
    except ValidationError as error:
        raise BrokerError(f"the broker's answer to {subject} is not a {reply_type.__name__}: "
                          f"{error.errors()[0].get('msg', error)}") from error
