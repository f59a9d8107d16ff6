"""The admin's job routes: storage size counts the jobs' files, cleanup deletes finished jobs older than
`days` with their files (never a queued one), both spellings; worker credentials issued (form or JSON,
shown once) and revoked."""

from __future__ import annotations

import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.cl_client import detail_of
from shoebox.testing.cl_compute_client import ComputeCallers, compute_callers
from shoebox_compute.broker import Broker, CredentialRefused
from shoebox_lib.storage import Storage

TASK = "cl_admin_probe"  # nobody offers it: its jobs wait, queued


@pytest.fixture
async def cl(api: RunningSystem) -> ComputeCallers:
    return await compute_callers(api)


async def job_keys(system: RunningSystem) -> set[str]:
    storage: Storage = system.services["compute"].app.state.runtime.storage
    return {o.key async for o in storage.primary.list_objects("j/")}


async def test_storage_size_and_cleanup(cl: ComputeCallers, api: RunningSystem) -> None:
    assert (await cl.admin.storage_size()).model_dump() == {"total_size": 0, "job_count": 0}
    kept = await cl.runner.submit(TASK, files=[("a.bin", b"a" * 1000, None), ("b.bin", b"b" * 24, None)])
    done = await cl.runner.submit(TASK, files=[("c.bin", b"c" * 500, None)])
    for spelling in (cl.admin, cl.admin.seed()):
        size = await spelling.storage_size()
        assert (size.total_size, size.job_count) == (1524, 2)
    # Cancelled is finished: cleanup takes it (its files went when it was cancelled).
    await cl.runner.cancel(done.job_id)
    assert (await cl.admin.storage_size()).total_size == 1024
    # Nothing finished is seven days old.
    assert (await cl.admin.cleanup(7)).model_dump() == {"deleted_count": 0, "freed_space": 0}
    # days=0: every finished job; the queued one stays, with its files.
    assert (await cl.admin.seed().cleanup(0)).deleted_count == 1
    assert (await cl.runner.job(kept.job_id)).status == "queued"
    assert await job_keys(api) == {f"j/{kept.job_id}/input/a.bin", f"j/{kept.job_id}/input/b.bin"}
    bad = await cl.admin.delete_cleanup(-1)
    assert bad.status_code == 422, bad.text
    assert isinstance(detail_of(bad), list)


async def test_worker_credentials(cl: ComputeCallers) -> None:
    issued = await cl.admin.issue_credential("a worker on the desk")
    as_json = await cl.admin.issue_credential("another", as_json=True)
    assert issued.credential_id != as_json.credential_id
    assert issued.credential != as_json.credential
    assert issued.credential_id in issued.credential
    assert (await cl.admin.delete_credential(issued.credential_id)).status_code == 204
    again = await cl.admin.delete_credential(issued.credential_id)
    assert (again.status_code, detail_of(again)) == (404, "Credential not found")
    empty = await cl.admin.post_credential("")
    assert empty.status_code == 422, empty.text


async def test_a_revoked_credential_takes_no_jobs(cl: ComputeCallers, api: RunningSystem) -> None:
    broker: Broker = api.services["compute"].app.state.container.broker
    issued = await cl.admin.issue_credential("to be revoked")
    assert await broker.check_credential(issued.credential) == issued.credential_id
    assert (await cl.admin.delete_credential(issued.credential_id)).status_code == 204
    with pytest.raises(CredentialRefused):
        await broker.check_credential(issued.credential)


async def test_other_callers_jobs_are_counted_for_the_admin(api: RunningSystem) -> None:
    cl = await compute_callers(api, prefix="jobsize")
    await cl.runner.submit(TASK, files=[("r.bin", b"r" * 10, None)])
    await cl.other.submit(TASK, files=[("o.bin", b"o" * 20, None)])
    size = await cl.admin.storage_size()
    assert (size.total_size, size.job_count) == (30, 2)
