"""The broker over a real database and storage, without the bus: dispatch order, leases, bounded tries,
cancellation, credentials and the registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from shoebox_compute.app import MIGRATIONS
from shoebox_compute.broker import (
    Broker,
    CredentialRefused,
    ItemRef,
    JobEvent,
    NewJob,
    builtin_credential,
    new_job_id,
)
from shoebox_compute.models import Job, JobStatus, Lane
from shoebox_lib.db import Database
from shoebox_lib.events import ItemStored
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage
from shoebox_lib.worker.protocol import Completion, Outcome, OutputFile, OutputRequest, WorkerStatus

TASK = "word_count"


@pytest.fixture
async def broker(make_settings: Callable[..., Settings]) -> AsyncIterator[Broker]:
    settings = make_settings()
    await MIGRATIONS.upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    storage = Storage.from_settings(settings)
    await storage.start()
    try:
        yield Broker(db, storage, settings.secret_key, presign_seconds=300)
    finally:
        await storage.close()
        await db.close()


async def submit(broker: Broker, *, priority: int = 5, lane: Lane = Lane.LIVE, task: str = TASK) -> Job:
    return await broker.submit(NewJob(new_job_id(), task, {"n": 1}, priority=priority, lane=lane))


def done(worker: str, job_id: str, outcome: Outcome = Outcome.COMPLETED, *, retryable: bool = False,
         error: str | None = None) -> Completion:
    return Completion(worker_id=worker, credential="-", job_id=job_id, outcome=outcome, result={"ok": True},
                      retryable=retryable, error=error)


async def test_a_high_priority_job_starts_before_a_backlog_of_low_ones(broker: Broker) -> None:
    backlog = [await submit(broker, priority=1) for _ in range(200)]
    urgent = await submit(broker, priority=9)
    first = await broker.lease("w1", [TASK], 1)
    assert [j.job_id for j in first] == [urgent.id]
    # then the backlog, oldest first
    assert [j.job_id for j in await broker.lease("w1", [TASK], 3)] == [j.id for j in backlog[:3]]


async def test_live_work_goes_ahead_of_bulk_reprocessing_whatever_its_priority(broker: Broker) -> None:
    bulk = [await submit(broker, priority=10, lane=Lane.BULK) for _ in range(5)]
    live = await submit(broker, priority=0)
    leased = await broker.lease("w1", [TASK], 2)
    assert [j.job_id for j in leased] == [live.id, bulk[0].id]


async def test_a_job_is_leased_to_one_worker_and_only_its_result_counts(broker: Broker) -> None:
    job = await submit(broker)
    assert [j.job_id for j in await broker.lease("w1", [TASK], 5)] == [job.id]
    assert await broker.lease("w2", [TASK], 5) == []
    assert not await broker.complete(done("w2", job.id)), "a worker without the lease is refused"
    assert not await broker.progress("w2", job.id, 50)
    assert await broker.progress("w1", job.id, 40)
    assert await broker.complete(done("w1", job.id))
    assert not await broker.complete(done("w1", job.id)), "a second completion is dropped"
    found = await broker.get(job.id)
    assert found is not None
    assert (found[0].status, found[0].progress, found[0].result) == (JobStatus.COMPLETED, 100, {"ok": True})


async def expire(broker: Broker, job_id: str) -> None:
    async with broker.db.transaction() as session:
        await session.execute(update(Job).where(Job.id == job_id)
                              .values(lease_expires=datetime.now(UTC) - timedelta(seconds=1)))


async def test_a_silent_worker_loses_its_lease_and_the_job_runs_elsewhere_once(broker: Broker) -> None:
    job = await submit(broker)
    await broker.lease("dead", [TASK], 1)
    await expire(broker, job.id)
    assert await broker.expire_leases() == 1
    assert [j.attempt for j in await broker.lease("alive", [TASK], 1)] == [2]
    assert not await broker.progress("dead", job.id, 10), "the old worker is told to stop"
    assert not await broker.complete(done("dead", job.id)), "and its late result is dropped"
    assert await broker.complete(done("alive", job.id))


async def test_tries_are_bounded_and_the_last_error_is_kept(broker: Broker) -> None:
    job = await submit(broker)
    for attempt in range(1, 4):
        leased = await broker.lease("w", [TASK], 1)
        assert [j.attempt for j in leased] == [attempt]
        assert await broker.complete(done("w", job.id, Outcome.FAILED, retryable=True, error=f"flaky {attempt}"))
    found = await broker.get(job.id)
    assert found is not None
    assert (found[0].status, found[0].error) == (JobStatus.FAILED, "flaky 3")
    assert await broker.lease("w", [TASK], 1) == []


async def test_bad_input_fails_at_once_without_a_retry(broker: Broker) -> None:
    job = await submit(broker)
    await broker.lease("w", [TASK], 1)
    await broker.complete(done("w", job.id, Outcome.FAILED, error="not an image"))
    found = await broker.get(job.id)
    assert found is not None
    assert (found[0].status, found[0].attempts) == (JobStatus.FAILED, 1)


async def test_cancelling_tells_the_worker_to_stop_and_forgets_the_job(broker: Broker) -> None:
    events: list[JobEvent] = []

    async def heard(event: JobEvent) -> None:
        events.append(event)

    broker.listeners.append(heard)
    job = await submit(broker)
    await broker.lease("w", [TASK], 1)
    assert await broker.cancel(job.id)
    assert not await broker.progress("w", job.id, 50)
    assert not await broker.complete(done("w", job.id))
    assert await broker.get(job.id) is None
    assert not await broker.cancel(job.id)
    assert [e.status for e in events] == [JobStatus.QUEUED, JobStatus.IN_PROGRESS, JobStatus.CANCELLED]


async def test_a_job_for_a_task_nobody_offers_waits_queued(broker: Broker) -> None:
    job = await submit(broker, task="clip_embedding")
    assert await broker.lease("w", [TASK], 1) == []
    assert await broker.expire_leases() == 0
    found = await broker.get(job.id)
    assert found is not None
    assert found[0].status == JobStatus.QUEUED
    assert "clip_embedding" not in (await broker.capabilities()).idle


async def test_outputs_go_under_the_job_or_among_an_items_variants(broker: Broker) -> None:
    api_job = await submit(broker)
    item_job = await broker.submit(NewJob(new_job_id(), "thumbnail", {"variant": "thumb"},
                                          item=ItemRef(7, 3, "u/3/i/7/s/original", "image/jpeg", 100)))
    await broker.lease("w", [TASK, "thumbnail"], 2)
    url, headers = await broker.output_url(OutputRequest(worker_id="w", credential="-", job_id=api_job.id,
                                                         path="output/a.json", content_type="application/json",
                                                         size=2))
    assert url
    assert headers["Content-Length"] == "2"
    assert broker.output_key(api_job, "output/a.json") == f"j/{api_job.id}/output/a.json"
    assert broker.output_key(item_job, "output/thumb.jpg") == "d/3/i/7/thumb.jpg"
    with pytest.raises(ValueError, match="output"):
        await broker.output_url(OutputRequest(worker_id="w", credential="-", job_id=api_job.id,
                                              path="output/../../x", content_type="a/b", size=1))
    with pytest.raises(LookupError):
        await broker.output_url(OutputRequest(worker_id="other", credential="-", job_id=api_job.id,
                                              path="output/a.json", content_type="a/b", size=1))
    completion = done("w", api_job.id)
    completion.outputs.append(OutputFile(path="output/a.json", content_type="application/json", size=2))
    assert await broker.complete(completion)
    found = await broker.get(api_job.id)
    assert found is not None
    assert [(f.role, f.path, f.object_key) for f in found[1]] == [
        ("output", "output/a.json", f"j/{api_job.id}/output/a.json")]


async def test_credentials_are_checked_and_can_be_revoked(broker: Broker) -> None:
    assert await broker.check_credential(builtin_credential(broker.secret)) == "builtin"
    issued = await broker.issue_credential("my gpu box", created_by=1)
    credential_id = issued.removeprefix("wk_").split(".")[0]
    assert await broker.check_credential(issued) == credential_id
    for bad in ("", "wk_", "nonsense", issued + "x", f"wk_{credential_id}.wrong", builtin_credential("other")):
        with pytest.raises(CredentialRefused):
            await broker.check_credential(bad)
    assert await broker.revoke_credential(credential_id)
    broker._credentials.clear()  # the short cache would otherwise keep it for a few seconds
    with pytest.raises(CredentialRefused):
        await broker.check_credential(issued)


async def test_the_registry_counts_live_workers_and_their_idle_slots(broker: Broker) -> None:
    await broker.heard(WorkerStatus(worker_id="a", credential="-", capabilities=["thumbnail", TASK],
                                    idle={"thumbnail": 2, TASK: 1}), "builtin")
    await broker.heard(WorkerStatus(worker_id="b", credential="-", capabilities=[TASK], idle={TASK: 3}), "x")
    capabilities = await broker.capabilities()
    assert (capabilities.num_workers, capabilities.idle) == (2, {"thumbnail": 2, TASK: 4})
    await broker.heard(WorkerStatus(worker_id="b", credential="-", capabilities=[TASK], leaving=True), "x")
    assert (await broker.capabilities()).num_workers == 1


async def test_a_backfill_never_delays_a_new_uploads_work(broker: Broker) -> None:
    """Re-processing a library queues its work in the bulk lane; an upload arriving during it goes first."""
    async with broker.db.transaction() as session:
        for item_id in range(1, 51):
            await broker.queue_item_work(session, ItemRef(item_id, 1, f"u/1/i/{item_id}/s/original", "image/jpeg",
                                                          10), lane=Lane.LIVE, priority=7)
    while leased := await broker.lease("w", ["thumbnail", "metadata"], 16):  # the library's first pass
        for job in leased:
            await broker.complete(done("w", job.job_id, Outcome.FAILED, error="not really an image"))
    assert await broker.reprocess() == 150  # thumb, medium and metadata of each of the 50 items
    async with broker.db.transaction() as session:
        await broker.on_item_stored(session, ItemStored(item_id=99, owner_id=2, object_key="u/2/i/99/s/original",
                                                        size=10, content_type="image/png"))
    first = await broker.lease("w", ["thumbnail", "metadata"], 3)
    async with broker.db.transaction() as session:
        items = {(await session.get(Job, job.job_id)).item_id for job in first}  # type: ignore[union-attr]
    assert items == {99}
    assert await broker.reprocess() == 0, "work already queued is not queued twice"


async def test_a_result_naming_outputs_not_its_own_is_refused(broker: Broker) -> None:
    job = await broker.submit(NewJob(new_job_id(), "thumbnail", {"variant": "thumb"},
                                     item=ItemRef(7, 3, "u/3/i/7/s/original", "image/jpeg", 100)))
    await broker.lease("w", ["thumbnail"], 1)
    completion = done("w", job.id)
    completion.outputs.append(OutputFile(path="../elsewhere", content_type="image/jpeg", size=3))
    assert await broker.complete(completion)
    found = await broker.get(job.id)
    assert found is not None
    assert found[0].status == JobStatus.FAILED
    assert "refused" in (found[0].error or "")
    assert found[1] == []


async def test_an_items_size_travels_with_its_job_from_item_stored(broker: Broker) -> None:
    """Leasing asks storage nothing: the original here was never written, yet its size is the event's."""
    async with broker.db.transaction() as session:
        await broker.on_item_stored(session, ItemStored(item_id=5, owner_id=2, object_key="u/2/i/5/s/original",
                                                        size=123_456, content_type="image/jpeg"))
    leased = await broker.lease("w", ["thumbnail", "metadata"], 5)
    assert len(leased) == 3
    assert {(i.name, i.size) for job in leased for i in job.inputs} == {("original", 123_456)}


async def test_a_job_recorded_without_its_items_size_asks_storage_for_it(broker: Broker) -> None:
    key = "u/3/i/8/s/original"
    await broker.storage.primary.put_bytes(key, b"eleven byte", content_type="image/jpeg")
    await broker.submit(NewJob(new_job_id(), "metadata", {}, item=ItemRef(8, 3, key, "image/jpeg", None)))
    [job] = await broker.lease("w", ["metadata"], 1)
    assert [(i.name, i.size) for i in job.inputs] == [("original", 11)]


async def test_workers_are_woken_for_an_uploads_work_once_it_is_committed(broker: Broker) -> None:
    """A woken worker leases at once, from a transaction of its own: it finds the work only if the wake
    came after item.stored's transaction committed (before it, the new jobs are invisible)."""
    woken: list[str] = []
    found: list[str] = []

    async def wake(task_type: str) -> None:
        woken.append(task_type)
        found.extend(job.job_id for job in await broker.lease("w", [task_type], 5))

    broker.wake = wake
    async with broker.db.transaction() as session:
        await broker.on_item_stored(session, ItemStored(item_id=6, owner_id=2, object_key="u/2/i/6/s/original",
                                                        size=10, content_type="image/jpeg"))
        queued = list((await session.execute(select(Job.id).where(Job.item_id == 6))).scalars())
        assert woken == [], "no worker is woken before the commit"
    assert sorted(woken) == ["metadata", "thumbnail"], "one wake per task type"
    assert len(queued) == 3
    assert sorted(found) == sorted(queued)
