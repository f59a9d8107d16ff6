"""The worker runtime (`shoebox_lib.worker.runtime`) against a real NATS and real presigned URLs (moto's S3).

The broker here is a small one written for the test: it answers the protocol's subjects from a list of
jobs, so the runtime's side of the protocol is what is under test — leasing, ranged inputs, outputs PUT
to their URLs, progress and the lease kept without it, cancellation, completion and failures, heartbeats.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from shoebox_lib.storage.s3 import S3Driver
from shoebox_lib.worker import runtime
from shoebox_lib.worker.protocol import (
    Completion,
    CompletionReply,
    ErrorReply,
    InputFile,
    LeasedJob,
    LeaseReply,
    LeaseRequest,
    Outcome,
    OutputReply,
    OutputRequest,
    ProgressReply,
    ProgressReport,
    Subject,
    WorkerStatus,
)
from shoebox_lib.worker.runtime import Cancelled, JobContext, JobFailed, Worker

CREDENTIAL = "test-credential"
WAIT = 30.0


async def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.05)


@dataclass
class FakeBroker:
    """The broker's side of the protocol, from memory."""

    nc: Client
    prefix: str
    storage: S3Driver
    queued: list[LeasedJob] = field(default_factory=list)
    leased: dict[str, str] = field(default_factory=dict)  # job id -> worker id
    stop: set[str] = field(default_factory=set)  # job ids whose next progress answer is keep_going=False
    progress: dict[str, list[int]] = field(default_factory=dict)
    completions: dict[str, list[Completion]] = field(default_factory=dict)
    statuses: list[WorkerStatus] = field(default_factory=list)
    lease_requests: list[LeaseRequest] = field(default_factory=list)
    output_requests: list[OutputRequest] = field(default_factory=list)
    refuse_outputs: bool = False

    async def start(self) -> None:
        handlers: dict[Subject, Callable[[Msg], Awaitable[None]]] = {
            Subject.LEASE: self._lease, Subject.OUTPUT: self._output, Subject.PROGRESS: self._progress,
            Subject.COMPLETE: self._complete, Subject.WORKERS: self._status,
        }
        for subject, handler in handlers.items():
            await self.nc.subscribe(f"{self.prefix}.{subject}", cb=handler)
        await self.nc.flush()

    async def _answer(self, msg: Msg, body: Any) -> None:
        await msg.respond(body.model_dump_json().encode())

    def _signed(self, credential: str) -> bool:
        return credential == CREDENTIAL

    async def _lease(self, msg: Msg) -> None:
        request = LeaseRequest.model_validate_json(msg.data)
        self.lease_requests.append(request)
        if not self._signed(request.credential):
            await self._answer(msg, ErrorReply(error="unknown credential"))
            return
        jobs = [job for job in self.queued if job.task_type in request.task_types][: request.slots]
        for job in jobs:
            self.queued.remove(job)
            self.leased[job.job_id] = request.worker_id
        await self._answer(msg, LeaseReply(jobs=jobs))

    async def _output(self, msg: Msg) -> None:
        request = OutputRequest.model_validate_json(msg.data)
        self.output_requests.append(request)
        if self.refuse_outputs or self.leased.get(request.job_id) != request.worker_id:
            await self._answer(msg, ErrorReply(error=f"no output {request.path} for this job"))
            return
        url = await self.storage.presign_put(f"j/{request.job_id}/{request.path}", expires=300,
                                             content_type=request.content_type, content_length=request.size)
        await self._answer(msg, OutputReply(url=url, headers={"Content-Type": request.content_type}))

    async def _progress(self, msg: Msg) -> None:
        report = ProgressReport.model_validate_json(msg.data)
        self.progress.setdefault(report.job_id, []).append(report.progress)
        keep = report.job_id not in self.stop and self.leased.get(report.job_id) == report.worker_id
        await self._answer(msg, ProgressReply(keep_going=keep))

    async def _complete(self, msg: Msg) -> None:
        completion = Completion.model_validate_json(msg.data)
        self.completions.setdefault(completion.job_id, []).append(completion)
        accepted = self.leased.pop(completion.job_id, None) == completion.worker_id
        await self._answer(msg, CompletionReply(accepted=accepted))

    async def _status(self, msg: Msg) -> None:
        self.statuses.append(WorkerStatus.model_validate_json(msg.data))

    async def submit(self, task_type: str, *, params: dict[str, Any] | None = None,
                     inputs: list[InputFile] | None = None, lease_seconds: int = 30, wake: bool = True) -> str:
        job_id = f"job_{uuid.uuid4().hex[:12]}"
        self.queued.append(LeasedJob(job_id=job_id, task_type=task_type, params=params or {}, priority=5,
                                     attempt=1, inputs=inputs or [], lease_seconds=lease_seconds))
        if wake:
            await self.nc.publish(f"{self.prefix}.{Subject.WAKE}.{task_type}", b"")
        return job_id

    async def stage(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> InputFile:
        key = f"in/{uuid.uuid4().hex}/{name}"
        await self.storage.put_bytes(key, data, content_type=content_type)
        return InputFile(name=name, url=await self.storage.presign_get(key, expires=300), size=len(data),
                         content_type=content_type)

    async def completion(self, job_id: str) -> Completion:
        await eventually(lambda: job_id in self.completions, f"job {job_id} completed")
        return self.completions[job_id][0]


@pytest.fixture
async def broker(make_settings: Callable[..., Any], s3_settings: dict[str, Any], nats_url: str
                 ) -> AsyncIterator[FakeBroker]:
    settings = make_settings(**s3_settings)
    storage = S3Driver(settings, settings.bucket_primary)
    await storage.start()
    nc = await nats.connect(nats_url)
    fake = FakeBroker(nc=nc, prefix=f"w{uuid.uuid4().hex[:10]}", storage=storage)
    await fake.start()
    yield fake
    await nc.close()
    await storage.close()


@pytest.fixture
def make_worker(broker: FakeBroker, nats_url: str) -> Callable[..., Worker]:
    def make(**overrides: Any) -> Worker:
        values: dict[str, Any] = {"nats_url": nats_url, "prefix": broker.prefix, "credential": CREDENTIAL,
                                  "slots": 2}
        values.update(overrides)
        return Worker(**values)

    return make


class Running:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Worker:
        self.task = asyncio.create_task(self.worker.run())
        return self.worker

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.worker.stop()
        await asyncio.wait_for(self.task, WAIT)


async def test_a_job_reads_its_input_by_ranges_puts_its_output_and_completes(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    data = bytes(range(256)) * 12_000  # ~3 MiB: more than one read-ahead buffer
    staged = await broker.stage("blob.bin", data)
    worker = make_worker()
    seen: dict[str, Any] = {}

    @worker.task("digest")
    def digest(job: JobContext) -> dict[str, Any]:
        source = job.inputs[0]
        seen["input"] = (source.name, source.size, source.content_type)
        seen["head"] = source.read_range(0, 4)
        seen["tail"] = source.read_range(len(data) - 3, 100)  # fewer at the end
        seen["past"] = source.read_range(len(data) + 5, 10)
        with source.open(buffer_size=64 * 1024) as f:
            f.seek(-10, io.SEEK_END)
            seen["seek_end"] = f.read()
            f.seek(1_000_000)
            seen["middle"] = f.read(5)
            f.seek(0)
            whole = f.read()
        job.progress(50)
        stored = job.put_output("output/summary.json", json.dumps({"n": len(whole)}).encode(), "application/json")
        streamed = job.outputs.put_file("output/copy.bin", io.BytesIO(b"skip" + whole[:1000]), "application/x-test")
        return {"size": len(whole), "same": whole == data, "params": job.params, "stored": stored.size,
                "streamed": streamed.size}

    async with Running(worker):
        job_id = await broker.submit("digest", params={"x": 1}, inputs=[staged])
        done = await broker.completion(job_id)

    assert seen["input"] == ("blob.bin", len(data), "application/octet-stream")
    assert seen["head"] == data[:4]
    assert seen["tail"] == data[-3:]
    assert seen["past"] == b""
    assert seen["seek_end"] == data[-10:]
    assert seen["middle"] == data[1_000_000:1_000_005]
    assert done.outcome == Outcome.COMPLETED, done.error
    assert done.result == {"size": len(data), "same": True, "params": {"x": 1}, "stored": 14, "streamed": 1004}
    assert {(o.path, o.content_type, o.size) for o in done.outputs} == {
        ("output/summary.json", "application/json", 14), ("output/copy.bin", "application/x-test", 1004)}
    assert json.loads(await broker.storage.get_bytes(f"j/{job_id}/output/summary.json")) == {"n": len(data)}
    assert await broker.storage.get_bytes(f"j/{job_id}/output/copy.bin") == b"skip" + data[:1000]
    head = await broker.storage.head(f"j/{job_id}/output/summary.json")
    assert head is not None
    assert head.content_type == "application/json"
    assert len(broker.completions[job_id]) == 1


async def test_a_wake_leases_at_once_without_waiting_for_the_poll(
        broker: FakeBroker, make_worker: Callable[..., Worker], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "POLL_SECONDS", 3600.0)  # only a wake (or a freed slot) can lease now
    worker = make_worker()
    worker.add_task("noop", lambda job: {"ok": True})
    async with Running(worker):
        await eventually(lambda: len(broker.lease_requests) >= 1, "the first lease at start")
        await asyncio.sleep(0.2)
        job_id = await broker.submit("noop")
        done = await broker.completion(job_id)
    assert done.result == {"ok": True}


async def test_a_job_not_woken_for_is_leased_at_the_next_poll(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    worker = make_worker()
    worker.add_task("noop", lambda job: None)
    async with Running(worker):
        job_id = await broker.submit("noop", wake=False)
        done = await broker.completion(job_id)
    assert done.outcome == Outcome.COMPLETED
    assert done.result == {}


async def test_progress_is_reported_and_the_lease_is_renewed_by_a_function_that_never_reports(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    worker = make_worker()
    reported = asyncio.Event()

    @worker.task("steps")
    def steps(job: JobContext) -> dict[str, Any]:
        job.progress(30)
        deadline = time.monotonic() + WAIT
        while 30 not in broker.progress.get(job.job_id, []):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return {}

    @worker.task("quiet")
    def quiet(job: JobContext) -> dict[str, Any]:
        # Never calls progress: the runtime renews the lease itself (every quarter of a 2 s lease here).
        deadline = time.monotonic() + WAIT
        while len(broker.progress.get(job.job_id, [])) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        reported.set()
        return {"renewals": len(broker.progress[job.job_id])}

    async with Running(worker):
        first = await broker.submit("steps")
        second = await broker.submit("quiet", lease_seconds=2)
        assert (await broker.completion(first)).outcome == Outcome.COMPLETED
        assert (await broker.completion(second)).outcome == Outcome.COMPLETED
    assert reported.is_set()
    assert set(broker.progress[second]) == {0}


async def test_keep_going_false_stops_the_job_and_nothing_is_completed_for_it(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    worker = make_worker(slots=1)
    outcome: dict[str, str] = {}

    @worker.task("forever")
    def forever(job: JobContext) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        step = 0
        try:
            while time.monotonic() < deadline:
                step = (step + 1) % 100
                job.progress(step)
                time.sleep(0.05)
        except Cancelled as stop:
            outcome[job.job_id] = str(stop)
            raise
        return {"never": True}

    @worker.task("forever_async")
    async def forever_async(job: JobContext) -> dict[str, Any]:
        try:
            await asyncio.sleep(WAIT)
        except asyncio.CancelledError:
            outcome[job.job_id] = "cancelled"
            raise
        return {"never": True}

    worker.add_task("noop", lambda job: {"after": True})
    async with Running(worker):
        for task_type in ("forever", "forever_async"):
            job_id = await broker.submit(task_type, lease_seconds=2)
            reported = broker.progress.setdefault(job_id, [])
            await eventually(lambda: bool(reported), f"{task_type} reports")  # noqa: B023 - awaited here
            broker.stop.add(job_id)
            await eventually(lambda: job_id in outcome, f"{task_type} told to stop")  # noqa: B023
            # The one slot is free again, and the next job runs and completes.
            after = await broker.submit("noop")
            assert (await broker.completion(after)).result == {"after": True}
            assert job_id not in broker.completions
    assert all("stop" in reason or reason == "cancelled" for reason in outcome.values()), outcome


async def test_job_failed_is_final_and_any_other_exception_is_retryable(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    worker = make_worker()

    @worker.task("bad_input")
    def bad_input(job: JobContext) -> dict[str, Any]:
        raise JobFailed("the file is not an image")

    @worker.task("flaky")
    async def flaky(job: JobContext) -> dict[str, Any]:
        raise ConnectionError("storage went away")

    worker.add_task("wrong_type", lambda job: ["not", "a", "dict"])  # type: ignore[arg-type]
    worker.add_task("not_json", lambda job: {"when": object()})

    async with Running(worker):
        final = await broker.completion(await broker.submit("bad_input"))
        retry = await broker.completion(await broker.submit("flaky"))
        wrong = await broker.completion(await broker.submit("wrong_type"))
        not_json = await broker.completion(await broker.submit("not_json"))
    assert (final.outcome, final.error, final.retryable) == (Outcome.FAILED, "the file is not an image", False)
    assert (retry.outcome, retry.error, retry.retryable) == (Outcome.FAILED, "ConnectionError: storage went away",
                                                             True)
    assert (wrong.outcome, wrong.retryable) == (Outcome.FAILED, False)
    assert "returned list, not a dict" in (wrong.error or "")
    assert (not_json.outcome, not_json.retryable) == (Outcome.FAILED, False)
    assert "not JSON" in (not_json.error or "")


async def test_an_output_the_broker_refuses_fails_the_job_as_retryable(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    worker = make_worker()

    @worker.task("writer")
    def writer(job: JobContext) -> dict[str, Any]:
        with pytest.raises(ValueError, match="relative"):
            job.put_output("output/../escape", b"x", "text/plain")
        with pytest.raises(ValueError, match="starts with output/"):
            job.put_output("input/a.txt", b"x", "text/plain")
        job.put_output("output/a.txt", b"x", "text/plain")
        return {}

    broker.refuse_outputs = True
    async with Running(worker):
        done = await broker.completion(await broker.submit("writer"))
    assert (done.outcome, done.retryable) == (Outcome.FAILED, True)
    assert "will not take output 'output/a.txt'" in (done.error or "")
    assert [r.path for r in broker.output_requests] == ["output/a.txt"]


async def test_an_async_task_uses_the_async_calls_and_is_told_when_it_blocks(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    staged = await broker.stage("t.txt", b"hello world", "text/plain")
    worker = make_worker()

    @worker.task("shout")
    async def shout(job: JobContext) -> dict[str, Any]:
        with pytest.raises(RuntimeError, match="aread_range"):
            job.inputs[0].read_range(0, 5)
        text = (await job.inputs[0].aread_range(0, 100)).decode()
        await job.aput_output("output/loud.txt", text.upper().encode(), "text/plain")
        return {"text": text}

    async with Running(worker):
        job_id = await broker.submit("shout", inputs=[staged])
        done = await broker.completion(job_id)
    assert done.result == {"text": "hello world"}
    assert await broker.storage.get_bytes(f"j/{job_id}/output/loud.txt") == b"HELLO WORLD"


async def test_heartbeats_carry_capabilities_and_idle_slots_and_the_last_one_says_leaving(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    worker = make_worker(slots=3, worker_id="w-heartbeat.1")
    worker.add_task("a", lambda job: {})
    worker.add_task("b_2", lambda job: {})
    running = Running(worker)
    await running.__aenter__()
    await eventually(lambda: len(broker.statuses) >= 1, "a heartbeat")
    first = broker.statuses[0]
    assert (first.worker_id, first.capabilities, first.idle, first.leaving) == (
        "w-heartbeat.1", ["a", "b_2"], {"a": 3, "b_2": 3}, False)
    assert first.credential == CREDENTIAL
    await running.__aexit__()
    await eventually(lambda: broker.statuses[-1].leaving, "a leaving heartbeat")
    assert broker.statuses[-1].idle == {"a": 0, "b_2": 0}


async def test_a_stopping_worker_hands_its_running_job_back_as_retryable(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    worker = make_worker()
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    @worker.task("long")
    def long(job: JobContext) -> dict[str, Any]:
        loop.call_soon_threadsafe(started.set)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            job.progress(10)
            time.sleep(0.05)
        return {}

    running = Running(worker)
    await running.__aenter__()
    job_id = await broker.submit("long")
    await asyncio.wait_for(started.wait(), WAIT)
    await running.__aexit__()
    done = broker.completions[job_id][0]
    assert (done.outcome, done.retryable) == (Outcome.FAILED, True)
    assert done.error == "the worker stopped before the job finished"
    await eventually(lambda: broker.statuses[-1].leaving, "a leaving heartbeat")


async def test_a_refused_credential_leases_nothing_and_the_worker_keeps_trying(
        broker: FakeBroker, make_worker: Callable[..., Worker]) -> None:
    worker = make_worker(credential="not-the-credential")
    worker.add_task("noop", lambda job: {})
    async with Running(worker):
        await broker.submit("noop")
        await eventually(lambda: len(broker.lease_requests) >= 2, "two lease attempts")
    assert broker.queued
    assert not broker.completions


def test_a_worker_refuses_a_bad_configuration() -> None:
    with pytest.raises(ValueError, match="task type"):
        Worker().add_task("a.b", lambda job: {})
    for worker, message in [
        (Worker(nats_url="nats://x", credential="c"), "at least one task"),
        (Worker(credential="c", tasks={"a": lambda job: {}}), "NATS URL"),
        (Worker(nats_url="nats://x", tasks={"a": lambda job: {}}), "credential"),
        (Worker(nats_url="nats://x", credential="c", slots=0, tasks={"a": lambda job: {}}), "slots"),
        (Worker(nats_url="nats://x", credential="c", worker_id="a b", tasks={"a": lambda job: {}}), "worker id"),
    ]:
        with pytest.raises(ValueError, match=message):
            asyncio.run(worker.run())


def test_an_input_is_never_read_whole_past_the_limit_asked() -> None:
    job = LeasedJob(job_id="job_x", task_type="t", params={}, priority=5, attempt=1,
                    inputs=[InputFile(name="big", url="http://127.0.0.1:9/never", size=10**10)])
    context = JobContext(Worker(nats_url="nats://x", credential="c"), job)
    with pytest.raises(ValueError, match="max_bytes"):
        context.inputs[0].read_bytes(max_bytes=1024)
    with pytest.raises(ValueError, match="at most"):
        context.inputs[0].read_range(0, 10**9)
    with pytest.raises(ValueError, match="progress"):
        context.progress(101)
