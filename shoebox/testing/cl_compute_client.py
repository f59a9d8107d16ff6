"""CL's compute calls (the job API) for tests and benchmarks, over a `cl_client.ClClient` caller: what CL's
clients send to `/jobs/…`, `/capabilities` and `/admin/jobs/…` (or seed 004's `/compute/…` spelling),
written from reference/cl-api.md and seed 004, not from CL's SDK.

As CL's SDK does: a job is a multipart form with the file in `file` (seed 004: `upload_files`), `priority`
and every parameter as text (`str(value)`; booleans lower case), or a plain form without a file; the job
is then read back with `GET /jobs/{id}` and polled until `completed` or `failed`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from shoebox.testing import RunningSystem
from shoebox.testing.cl_client import ClCallers, ClClient, ClError, FileArg, cl_callers, expect

TERMINAL = frozenset({"completed", "failed"})


class Spelling(StrEnum):
    """CL's current routes, or seed 004's prefixed ones."""

    CURRENT = ""
    SEED = "/compute"

    @property
    def admin(self) -> str:
        return "/admin/compute" if self is Spelling.SEED else "/admin"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class ClJobCreated(_Lenient):
    job_id: str
    status: str
    task_type: str


class ClJobFile(_Lenient):
    filename: str
    path: str
    size: int


class ClJob(_Lenient):
    job_id: str
    task_type: str
    status: str
    progress: int = 0
    params: dict[str, Any] = {}
    task_output: dict[str, Any] | None = None
    error_message: str | None = None
    priority: int = 5
    created_at: int
    updated_at: int | None = None
    started_at: int | None = None
    completed_at: int | None = None
    input_files: list[ClJobFile] = []
    output_files: list[ClJobFile] = []


class ClCapabilities(_Lenient):
    num_workers: int
    capabilities: dict[str, int]


class ClStorageSize(_Lenient):
    total_size: int
    job_count: int


class ClCleanup(_Lenient):
    deleted_count: int
    freed_space: int


class ClCredential(_Lenient):
    credential_id: str
    credential: str


def form_value(value: object) -> str:
    """What CL's SDK sends for a parameter (`str(value)`), booleans lower case as its plugins write them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class ClCompute:
    """One caller's compute calls; `raw` calls answer the response, the others check it and parse."""

    def __init__(self, caller: ClClient, spelling: Spelling = Spelling.CURRENT) -> None:
        self.caller = caller
        self.spelling = spelling

    def seed(self) -> ClCompute:
        return ClCompute(self.caller, Spelling.SEED)

    def path(self, tail: str) -> str:
        return f"{self.spelling.value}{tail}"

    # ---- jobs

    async def post_job(self, task_type: str, *, files: Sequence[FileArg] = (), file_field: str | None = None,
                       params: Mapping[str, object] | None = None, priority: int | str | None = 5,
                       external_files: list[dict[str, Any]] | None = None, item_id: int | None = None,
                       headers: Mapping[str, str] | None = None) -> httpx.Response:
        data: dict[str, str] = {}
        if priority is not None:
            data["priority"] = str(priority)
        for name, value in (params or {}).items():
            data[name] = form_value(value)
        if external_files is not None:
            data["external_files"] = json.dumps(external_files)
        if item_id is not None:
            data["item_id"] = str(item_id)
        field = file_field or ("upload_files" if self.spelling is Spelling.SEED else "file")
        sent = {**await self.caller.headers(), **(headers or {})}
        if files:
            multipart = [(field, (name, content, kind or "application/octet-stream"))
                         for name, content, kind in files]
            return await self.caller.http.post(self.path(f"/jobs/{task_type}"), data=data, files=multipart,
                                               headers=sent)
        return await self.caller.http.post(self.path(f"/jobs/{task_type}"), data=data, headers=sent)

    async def submit(self, task_type: str, **kwargs: Any) -> ClJobCreated:
        codes = (201,) if self.spelling is Spelling.SEED else (200,)
        return expect(await self.post_job(task_type, **kwargs), ClJobCreated, *codes)

    async def get_job(self, job_id: str) -> httpx.Response:
        return await self.caller.send("GET", self.path(f"/jobs/{job_id}"))

    async def job(self, job_id: str) -> ClJob:
        return expect(await self.get_job(job_id), ClJob)

    async def delete_job(self, job_id: str) -> httpx.Response:
        return await self.caller.send("DELETE", self.path(f"/jobs/{job_id}"))

    async def cancel(self, job_id: str) -> None:
        response = await self.delete_job(job_id)
        if response.status_code != 204:
            raise ClError(response)

    async def get_file(self, job_id: str, path: str, *, byte_range: str | None = None) -> httpx.Response:
        headers = {"Range": byte_range} if byte_range else None
        return await self.caller.send("GET", self.path(f"/jobs/{job_id}/files/{path}"), headers=headers)

    async def download(self, job_id: str, path: str) -> bytes:
        response = await self.get_file(job_id, path)
        if response.status_code != 200:
            raise ClError(response)
        return response.content

    async def wait(self, job_id: str, *, within: float = 60.0, poll: float = 0.1) -> ClJob:
        """Poll until the job is completed or failed, as CL's `wait_for_job` does."""
        deadline = time.monotonic() + within
        while True:
            job = await self.job(job_id)
            if job.status in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {within}s")
            await asyncio.sleep(poll)

    async def wait_for(self, job_id: str, statuses: set[str], *, within: float = 60.0) -> ClJob:
        deadline = time.monotonic() + within
        while True:
            job = await self.job(job_id)
            if job.status in statuses:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {within}s")
            await asyncio.sleep(0.05)

    # ---- workers

    async def get_capabilities(self) -> httpx.Response:
        return await self.caller.send("GET", self.path("/capabilities"))

    async def capabilities(self) -> ClCapabilities:
        return expect(await self.get_capabilities(), ClCapabilities)

    async def wait_for_capability(self, task_type: str, *, within: float = 35.0) -> ClCapabilities:
        """As CL's client waits for a worker (about 35 s at most)."""
        deadline = time.monotonic() + within
        while True:
            found = await self.capabilities()
            if task_type in found.capabilities:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"no worker for {task_type} after {within}s")
            await asyncio.sleep(0.2)

    # ---- the admin's

    async def get_storage_size(self) -> httpx.Response:
        return await self.caller.send("GET", f"{self.spelling.admin}/jobs/storage/size")

    async def storage_size(self) -> ClStorageSize:
        return expect(await self.get_storage_size(), ClStorageSize)

    async def delete_cleanup(self, days: int | str | None = None) -> httpx.Response:
        return await self.caller.send("DELETE", f"{self.spelling.admin}/jobs/cleanup",
                                      params=None if days is None else {"days": days})

    async def cleanup(self, days: int) -> ClCleanup:
        return expect(await self.delete_cleanup(days), ClCleanup)

    async def post_credential(self, name: str, *, as_json: bool = False) -> httpx.Response:
        if as_json:
            return await self.caller.send("POST", "/admin/compute/workers/credentials", json_body={"name": name})
        return await self.caller.send("POST", "/admin/compute/workers/credentials", data={"name": name})

    async def issue_credential(self, name: str, *, as_json: bool = False) -> ClCredential:
        return expect(await self.post_credential(name, as_json=as_json), ClCredential, 201)

    async def delete_credential(self, credential_id: str) -> httpx.Response:
        return await self.caller.send("DELETE", f"/admin/compute/workers/credentials/{credential_id}")


# ---- the callers a job API test tells apart, on a running system

JOB_PERMISSION = "ai_inference_support"


@dataclass(frozen=True)
class ComputeCallers:
    admin: ClCompute
    runner: ClCompute  # ai_inference_support
    other: ClCompute  # ai_inference_support too: someone else's jobs are not the runner's
    reader: ClCompute  # media_store_read only
    nobody: ClCompute  # a valid token with no permission the job API knows ("read:jobs")
    anonymous: ClCompute
    expired: ClCompute
    forged: ClCompute
    garbage: ClCompute
    store: ClCallers  # the same people as store callers (uploads for item inputs)


async def compute_callers(system: RunningSystem, prefix: str = "job") -> ComputeCallers:
    store = await cl_callers(system, prefix)
    people: dict[str, ClClient] = {}
    for name, permissions in (("runner", [JOB_PERMISSION, "media_store_read"]), ("other", [JOB_PERMISSION])):
        username, password = f"{prefix}-{name}", f"{prefix}-{name}-password"
        await store.admin.create_user(username, password, permissions=permissions)
        person = ClClient(system.client)
        await person.login(username, password)
        people[name] = person
    return ComputeCallers(
        admin=ClCompute(store.admin), runner=ClCompute(people["runner"]), other=ClCompute(people["other"]),
        reader=ClCompute(store.reader), nobody=ClCompute(store.nobody), anonymous=ClCompute(store.anonymous),
        expired=ClCompute(store.expired), forged=ClCompute(store.forged), garbage=ClCompute(store.garbage),
        store=store)
