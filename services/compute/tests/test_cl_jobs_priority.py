"""Priorities through CL's job API and a real worker on the bus: a backlog of 200 priority-1 jobs is
waiting when a priority-9 job arrives; the worker that then comes up runs the priority-9 job first."""

from __future__ import annotations

import asyncio
import threading

from shoebox.testing import RunningSystem
from shoebox.testing.cl_compute_client import compute_callers
from shoebox_lib.worker.runtime import JobContext, Worker

TASK = "cl_priority_probe"
BACKLOG = 200


async def test_a_priority_9_job_starts_before_a_backlog_of_priority_1(api: RunningSystem) -> None:
    cl = await compute_callers(api)
    backlog = [await cl.runner.submit(TASK, params={"n": n}, priority=1) for n in range(BACKLOG)]
    urgent = await cl.runner.submit(TASK, params={"n": "urgent"}, priority=9)

    order: list[str] = []
    lock = threading.Lock()

    def run(job: JobContext) -> dict[str, str]:
        with lock:
            order.append(job.job_id)
        return {"seen": job.job_id}

    credential = await cl.admin.issue_credential("priority test worker")
    worker = Worker(nats_url=api.settings.nats_url, prefix=api.settings.bus_prefix,
                    credential=credential.credential, worker_id="cl-priority-worker", slots=1)
    worker.add_task(TASK, run)
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(60):
            while len(order) < 3:
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 30)
    assert order[0] == urgent.job_id
    assert order[1:3] == [backlog[0].job_id, backlog[1].job_id], "then the backlog, oldest first"
    finished = await cl.runner.job(urgent.job_id)
    assert (finished.status, finished.progress, finished.task_output) == ("completed", 100,
                                                                          {"seen": urgent.job_id})
    waiting = await cl.runner.job(backlog[-1].job_id)
    assert waiting.status == "queued"
