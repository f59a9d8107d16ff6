"""CL's job API through the one port: both spellings, who may call each route (CL's 401/403 messages),
the auth mode it follows (the store's), and that one caller's jobs are another's 404."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from shoebox.testing import RunningSystem, run_system
from shoebox.testing.cl_client import detail_of
from shoebox.testing.cl_compute_client import ClCompute, ComputeCallers, compute_callers
from shoebox_lib.settings import Settings

NO_TOKEN = "Authentication required"
BAD_TOKEN = "Could not validate credentials"
EXPIRED = "JWT token has expired"
NEED_JOBS = "Insufficient permissions. Required: ai_inference_support"
NEED_ADMIN = "Insufficient permissions. Admin access required"
AUTH_DISABLED_ENV = "SHOEBOX_METADATA_STORE_AUTH_DISABLED"
READ_AUTH_ENV = "SHOEBOX_METADATA_STORE_READ_AUTH_ENABLED"
TASK = "cl_access_probe"  # a task type no worker offers: its jobs wait, queued


@pytest.fixture(autouse=True)
def _mode_from_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(READ_AUTH_ENV, raising=False)
    monkeypatch.delenv(AUTH_DISABLED_ENV, raising=False)


@pytest.fixture
async def cl(api: RunningSystem) -> ComputeCallers:
    return await compute_callers(api)


def refused(response: httpx.Response, status: int, message: str) -> None:
    assert (response.status_code, detail_of(response)) == (status, message), response.text


Call = Callable[[ClCompute], Awaitable[httpx.Response]]


def _spellings() -> list[tuple[str, Callable[[ClCompute], ClCompute]]]:
    return [("", lambda c: c), ("/compute", lambda c: c.seed())]


async def job_routes(cl: ComputeCallers) -> dict[str, Call]:
    """Every job route in both spellings, over a job the runner made (a refused call must change nothing)."""
    job = await cl.runner.submit(TASK, files=[("a.txt", b"hello", "text/plain")])
    routes: dict[str, Call] = {}
    for label, spell in _spellings():
        routes.update(_job_calls(label, spell, job.job_id))
    return routes


def _job_calls(label: str, spell: Callable[[ClCompute], ClCompute], job_id: str) -> dict[str, Call]:
    return {
        f"POST {label}/jobs/{{task}}": lambda c: spell(c).post_job(TASK, files=[("b.txt", b"bytes", "text/plain")]),
        f"POST {label}/jobs/{{task}} (form)": lambda c: spell(c).post_job(TASK, params={"x": 1}),
        f"GET {label}/jobs/{{id}}": lambda c: spell(c).get_job(job_id),
        f"GET {label}/jobs/{{id}}/files/{{path}}": lambda c: spell(c).get_file(job_id, "input/a.txt"),
        f"DELETE {label}/jobs/{{id}}": lambda c: spell(c).delete_job(job_id),
    }


def admin_routes() -> dict[str, Call]:
    routes: dict[str, Call] = {}
    for label, spell in (("/admin", _spellings()[0][1]), ("/admin/compute", _spellings()[1][1])):
        routes.update(_admin_calls(label, spell))
    routes["POST /admin/compute/workers/credentials"] = lambda c: c.post_credential("probe")
    routes["DELETE /admin/compute/workers/credentials/{id}"] = lambda c: c.delete_credential("nosuchcredential")
    return routes


def _admin_calls(label: str, spell: Callable[[ClCompute], ClCompute]) -> dict[str, Call]:
    return {
        f"GET {label}/jobs/storage/size": lambda c: spell(c).get_storage_size(),
        f"DELETE {label}/jobs/cleanup": lambda c: spell(c).delete_cleanup(100000),
    }


async def test_job_routes_need_ai_inference_support(cl: ComputeCallers) -> None:
    for name, call in (await job_routes(cl)).items():
        refused(await call(cl.anonymous), 401, NO_TOKEN)
        refused(await call(cl.garbage), 401, BAD_TOKEN)
        refused(await call(cl.forged), 401, BAD_TOKEN)
        refused(await call(cl.expired), 401, EXPIRED)
        refused(await call(cl.nobody), 403, NEED_JOBS)
        refused(await call(cl.reader), 403, NEED_JOBS)
        assert name


async def test_guest_mode_opens_store_reads_not_the_job_api(cl: ComputeCallers) -> None:
    await cl.store.admin.set_guest_mode(True)
    assert (await cl.store.anonymous.get_entities()).status_code == 200
    for _name, call in (await job_routes(cl)).items():
        refused(await call(cl.anonymous), 401, NO_TOKEN)
        refused(await call(cl.nobody), 403, NEED_JOBS)


async def test_admin_routes_are_the_admins(cl: ComputeCallers) -> None:
    for _name, call in admin_routes().items():
        refused(await call(cl.anonymous), 401, NO_TOKEN)
        refused(await call(cl.garbage), 401, BAD_TOKEN)
        refused(await call(cl.expired), 401, EXPIRED)
        refused(await call(cl.runner), 403, NEED_ADMIN)
        refused(await call(cl.nobody), 403, NEED_ADMIN)


async def test_capabilities_are_public_in_both_spellings(cl: ComputeCallers) -> None:
    for caller in (cl.anonymous, cl.anonymous.seed(), cl.nobody):
        response = await caller.get_capabilities()
        assert response.status_code == 200, response.text
        body = response.json()
        assert isinstance(body["num_workers"], int)
        assert isinstance(body["capabilities"], dict)
        assert TASK not in body["capabilities"]  # nobody offers it


async def test_both_spellings_create_and_read_one_job(cl: ComputeCallers) -> None:
    current = await cl.runner.post_job(TASK, files=[("c.txt", b"current", "text/plain")], priority=3)
    assert current.status_code == 200, current.text  # CL's current server
    assert set(current.json()) == {"job_id", "status", "task_type"}
    assert current.json()["status"] == "queued"
    assert current.json()["task_type"] == TASK
    seed = await cl.runner.seed().post_job(TASK, files=[("s.txt", b"seed", "text/plain")], priority=8)
    assert seed.status_code == 201, seed.text  # seed 004
    for job_id, priority, name in ((current.json()["job_id"], 3, "c.txt"), (seed.json()["job_id"], 8, "s.txt")):
        for caller in (cl.runner, cl.runner.seed()):
            job = await caller.job(job_id)
            assert (job.status, job.task_type, job.priority, job.progress) == ("queued", TASK, priority, 0)
            assert job.task_output is None
            assert job.error_message is None
            assert job.started_at is None
            assert job.completed_at is None
            assert isinstance(job.created_at, int)
            assert [(f.filename, f.path) for f in job.input_files] == [(name, f"input/{name}")]


async def test_a_job_is_its_creators_and_the_admins(cl: ComputeCallers) -> None:
    job = await cl.runner.submit(TASK, files=[("mine.txt", b"mine", "text/plain")])
    refused(await cl.other.get_job(job.job_id), 404, "Job not found")
    refused(await cl.other.get_file(job.job_id, "input/mine.txt"), 404, "Job not found")
    refused(await cl.other.delete_job(job.job_id), 404, "Job not found")
    refused(await cl.other.get_job("job_nosuchjobatall"), 404, "Job not found")
    assert (await cl.runner.job(job.job_id)).status == "queued"  # the other's DELETE did nothing
    assert (await cl.admin.job(job.job_id)).job_id == job.job_id
    assert await cl.admin.download(job.job_id, "input/mine.txt") == b"mine"


@pytest.fixture
async def open_system(monkeypatch: pytest.MonkeyPatch, system_settings: Callable[..., Settings]
                      ) -> AsyncIterator[RunningSystem]:
    monkeypatch.setenv(AUTH_DISABLED_ENV, "true")
    async with run_system(system_settings()) as running:
        yield running


async def test_with_auth_disabled_the_job_api_is_open(open_system: RunningSystem) -> None:
    cl = await compute_callers(open_system)
    created = await cl.anonymous.submit(TASK, files=[("open.txt", b"open", "text/plain")])
    job = await cl.anonymous.job(created.job_id)
    assert job.status == "queued"
    assert await cl.nobody.download(created.job_id, "input/open.txt") == b"open"
    # A token that is sent is still verified.
    refused(await cl.garbage.get_job(created.job_id), 401, BAD_TOKEN)
    # The admin's routes stay the admin's.
    refused(await cl.anonymous.get_storage_size(), 401, NO_TOKEN)
    await cl.anonymous.cancel(created.job_id)
    refused(await cl.anonymous.get_job(created.job_id), 404, "Job not found")
