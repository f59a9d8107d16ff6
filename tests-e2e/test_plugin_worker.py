"""A plug-in worker in its own process: the example in `examples/plugin_worker`, run with `shoebox worker`
against the whole system on its one port. Jobs of its task types go in through CL's job API, the worker
leases them over the bus with a credential the admin issued, reads its inputs and writes its outputs by
presigned URLs, and the results and files come back through the API. Killed with SIGKILL mid-job, its
lease runs out and another worker process finishes the job, once.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from PIL import Image

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem, clean_environment, running, tail
from shoebox.testing.cl_client import ClClient
from shoebox.testing.cl_compute_client import ClCompute

REPO = Path(__file__).resolve().parents[1]
MODULE = "examples.plugin_worker.tasks"
TEXT = b"the quick brown fox\njumps over\tthe lazy dog\n" * 15_000  # ~660 KiB: 11 ranges of 64 KiB


def words_lines(data: bytes) -> tuple[int, int]:
    return len(data.split()), data.count(b"\n")


async def admin_compute(system: RunningSystem) -> ClCompute:
    admin = ClClient(system.client)
    await admin.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    return ClCompute(admin)


def plugin_worker(system: RunningSystem, credential: str, worker_id: str, log: Path
                  ) -> AbstractContextManager[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "shoebox", "worker", "--module", MODULE, "--app-dir", str(REPO),
               "--nats", system.settings.nats_url, "--prefix", system.settings.bus_prefix, "--slots", "1",
               "--worker-id", worker_id]
    return running(command, log, clean_environment(SHOEBOX_WORKER_CREDENTIAL=credential))


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for log in sorted(tmp_path.glob("*.log")):
        print(f"--- {log.name}\n{tail(log)}")


async def test_the_example_plugin_runs_jobs_of_its_own_task_types_in_its_own_process(
        system: RunningSystem, logs: Path) -> None:
    compute = await admin_compute(system)
    credential = (await compute.issue_credential("example plug-in")).credential
    with plugin_worker(system, credential, "example-1", logs / "worker.log") as proc:
        found = await compute.wait_for_capability("word_count")
        assert found.capabilities.get("grayscale_preview") == 1, found
        assert proc.poll() is None

        counted = await compute.submit("word_count", files=[("fox.txt", TEXT, "text/plain")])
        photo = io.BytesIO()
        Image.new("RGB", (640, 480), (200, 30, 90)).save(photo, "JPEG", quality=90)
        previewed = await compute.submit("grayscale_preview", params={"size": 128},
                                         files=[("photo.jpg", photo.getvalue(), "image/jpeg")])
        not_an_image = await compute.submit("grayscale_preview", files=[("fake.jpg", b"not a jpeg", "image/jpeg")])

        words = await compute.wait(counted.job_id, within=120)
        preview = await compute.wait(previewed.job_id, within=120)
        refused = await compute.wait(not_an_image.job_id, within=120)

        assert words.status == "completed", words
        assert words.progress == 100
        expected_words, expected_lines = words_lines(TEXT)
        assert words.task_output is not None
        assert {k: words.task_output[k] for k in ("words", "lines", "bytes", "attempt", "worker")} == {
            "words": expected_words, "lines": expected_lines, "bytes": len(TEXT), "attempt": 1,
            "worker": "example-1"}
        counts = await compute.download(counted.job_id, "output/counts.json")
        assert b'"words": %d' % expected_words in counts

        assert preview.status == "completed", preview
        assert preview.task_output is not None
        assert (preview.task_output["width"], preview.task_output["height"]) == (128, 96)
        assert (preview.task_output["source_width"], preview.task_output["source_height"]) == (640, 480)
        with Image.open(io.BytesIO(await compute.download(previewed.job_id, "output/preview.png"))) as made:
            assert (made.format, made.mode, made.size) == ("PNG", "L", (128, 96))

        assert refused.status == "failed", refused
        assert "fake.jpg is not an image we can read" in (refused.error_message or "")

    # A stopped worker says it leaves: the registry forgets it without waiting for its heartbeats to lapse.
    assert proc.returncode == 0, tail(logs / "worker.log")
    deadline = time.monotonic() + 10
    while "word_count" in (await compute.capabilities()).capabilities:
        assert time.monotonic() < deadline, "the leaving worker is still counted"
        await asyncio.sleep(0.1)


async def test_a_worker_killed_mid_job_loses_its_lease_and_another_finishes_the_job_once(
        api: RunningSystem, logs: Path) -> None:
    compute = await admin_compute(api)
    credential = (await compute.issue_credential("example plug-in")).credential
    # 0.5 s after each of its 11 ranges: the job runs long enough to be killed half way.
    job_id = ""
    with plugin_worker(api, credential, "doomed", logs / "doomed.log") as doomed:
        await compute.wait_for_capability("word_count")
        job_id = (await compute.submit("word_count", params={"pause": 0.5},
                                       files=[("fox.txt", TEXT, "text/plain")])).job_id
        deadline = time.monotonic() + 60
        while True:
            job = await compute.job(job_id)
            if job.status == "in_progress" and job.progress > 0:
                break
            assert time.monotonic() < deadline, job
            assert doomed.poll() is None, tail(logs / "doomed.log")
            await asyncio.sleep(0.1)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(30)
    assert doomed.returncode == -signal.SIGKILL
    assert (await compute.job(job_id)).status == "in_progress"  # its lease has not run out yet

    with plugin_worker(api, credential, "rescuer", logs / "rescuer.log") as rescuer:
        finished = await compute.wait(job_id, within=180)
        assert rescuer.poll() is None, tail(logs / "rescuer.log")

    assert finished.status == "completed", finished
    assert finished.task_output is not None
    expected_words, expected_lines = words_lines(TEXT)
    assert (finished.task_output["words"], finished.task_output["lines"]) == (expected_words, expected_lines)
    assert (finished.task_output["worker"], finished.task_output["attempt"]) == ("rescuer", 2)
    assert [f.path for f in finished.output_files] == ["output/counts.json"]
    counts = await compute.download(job_id, "output/counts.json")
    assert b'"worker": "rescuer"' in counts
    # Once: the killed worker never completed it, and the rescuer's was the one completion recorded.
    rescuer_log = (logs / "rescuer.log").read_text()
    assert rescuer_log.count(f"job {job_id} completed") == 1, rescuer_log[-2000:]
    assert f"job {job_id} completed" not in (logs / "doomed.log").read_text()
