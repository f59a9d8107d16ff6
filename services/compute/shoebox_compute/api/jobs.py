"""CL's compute face: the job API, in CL's current spelling (`/jobs/…`, `/capabilities`, `/admin/jobs/…`)
and seed 004's (`/compute/jobs/…`, `/compute/capabilities`, `/admin/compute/jobs/…`), plus the admin's
credentials for plug-in workers.

Who may call: see `api.deps` (CL's auth mode; `ai_inference_support`). A caller sees their own jobs; any
other job is a 404, as a missing one; an admin sees all. Creating answers 200 on `/jobs/…` (CL's current
server, what its SDK reads) and 201 on `/compute/jobs/…` (seed 004).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from shoebox_compute.api.deps import BrokerDep, FaceDep, JobCaller, JobCallerDep
from shoebox_compute.api.job_forms import read_job_form
from shoebox_compute.api.job_shapes import (
    CapabilitiesShape,
    CleanupResult,
    CredentialRequest,
    JobCreated,
    JobShape,
    NewCredential,
    Reprocessed,
    StorageSize,
)
from shoebox_compute.broker import Broker, ItemRef, NewJob, new_job_id
from shoebox_compute.models import Job, JobFile, JobStatus, Lane
from shoebox_compute.submissions import Staging
from shoebox_lib.auth import CurrentUser
from shoebox_lib.errors import NotFound, Unprocessable
from shoebox_lib.storage.dataplane import byte_range
from shoebox_lib.web.plain_form import MULTIPART, form_kind, read_plain_form

ADMIN_REFUSAL = "Insufficient permissions. Admin access required"
CURRENT = ""
SEED = "/compute"
JOB_NOT_FOUND = "Job not found"

# A task type is a word a bus subject can carry (`compute.wake.<task_type>`).
TaskTypePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
JobIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
FilePath = Annotated[str, Path(min_length=1, max_length=512)]

public_router = APIRouter(tags=["cl-compute"])
router = APIRouter(tags=["cl-compute"])
# Creating a job streams its body (the files) itself, up to compute's own limit.
upload_router = APIRouter(tags=["cl-compute"])
admin_router = APIRouter(tags=["cl-compute"])


# --- creating ------------------------------------------------------------------------------------------

async def _create(task_type: str, request: Request, caller: JobCaller, face: FaceDep, broker: Broker) -> Job:
    job_id = new_job_id()
    staging = Staging(face.storage, job_id, limit=face.settings.job_max_upload_bytes,
                      max_files=face.settings.job_max_files)
    form = await read_job_form(request, staging)
    try:
        priority = form.priority()
        params = form.params()
        external = form.external_files()
        if external:
            params["external_files"] = external
        item_ids = form.item_ids()
        if len(item_ids) > 1:
            raise Unprocessable("A job takes at most one library item")
        item = None
        if item_ids:
            source = await face.library.item_source(item_ids[0], reader_id=caller.user_id,
                                                    store=caller.store_readable)
            item = ItemRef(source.item_id, source.owner_id, source.object_key, source.content_type, source.size)
        return await broker.submit(NewJob(
            job_id=job_id, task_type=task_type, params=params, priority=priority, lane=Lane.LIVE,
            created_by=caller.user_id, item=item, inputs=tuple(staging.staged)))
    except BaseException:
        await staging.discard()
        raise


def _job_form(file_field: str) -> dict[str, object]:
    """The submission the route reads itself (streaming its files), declared for the OpenAPI: the known
    fields; a task's own fields are any others."""
    fields: dict[str, object] = {"priority": {"type": "integer", "minimum": 0, "maximum": 10},
                                 "item_id": {"type": "string"}, "external_files": {"type": "string"}}
    files = {file_field: {"type": "array", "items": {"type": "string", "format": "binary"}}}
    return {"requestBody": {"content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {**fields, **files}}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": fields}}}}}


@upload_router.post(CURRENT + "/jobs/{task_type}", response_model=JobCreated, openapi_extra=_job_form("file"))
async def create_job(task_type: TaskTypePath, request: Request, caller: JobCallerDep, face: FaceDep,
                     broker: BrokerDep) -> JobCreated:
    """CL's current server: multipart `file` (or a plain form), `priority`, the task's own fields."""
    job = await _create(task_type, request, caller, face, broker)
    return JobCreated(job_id=job.id, status=JobStatus.QUEUED.value, task_type=job.task_type)


@upload_router.post(SEED + "/jobs/{task_type}", response_model=JobCreated, status_code=201,
                    openapi_extra=_job_form("upload_files"))
async def create_job_seed(task_type: TaskTypePath, request: Request, caller: JobCallerDep, face: FaceDep,
                          broker: BrokerDep) -> JobCreated:
    """Seed 004: `upload_files` (repeated) and `external_files`, 201."""
    job = await _create(task_type, request, caller, face, broker)
    return JobCreated(job_id=job.id, status=JobStatus.QUEUED.value, task_type=job.task_type)


# --- reading and cancelling ----------------------------------------------------------------------------

async def _visible(broker: Broker, caller: JobCaller, job_id: str) -> tuple[Job, list[JobFile]]:
    found = await broker.get(job_id)
    if found is None or not caller.sees(found[0]):
        raise NotFound(JOB_NOT_FOUND)
    return found


@router.get(CURRENT + "/jobs/{job_id}", response_model=JobShape)
@router.get(SEED + "/jobs/{job_id}", response_model=JobShape)
async def get_job(job_id: JobIdPath, caller: JobCallerDep, broker: BrokerDep) -> JobShape:
    return JobShape.of(*await _visible(broker, caller, job_id))


@router.delete(CURRENT + "/jobs/{job_id}", status_code=204)
@router.delete(SEED + "/jobs/{job_id}", status_code=204)
async def delete_job(job_id: JobIdPath, caller: JobCallerDep, broker: BrokerDep) -> Response:
    """Cancel the job (its worker is told at its next report and stops) and erase its files."""
    await _visible(broker, caller, job_id)
    if not await broker.cancel(job_id):
        raise NotFound(JOB_NOT_FOUND)
    return Response(status_code=204)


@router.get(CURRENT + "/jobs/{job_id}/files/{file_path:path}", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "a byte range"}})
@router.get(SEED + "/jobs/{job_id}/files/{file_path:path}", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "a byte range"}})
async def get_job_file(job_id: JobIdPath, file_path: FilePath, request: Request, caller: JobCallerDep,
                       broker: BrokerDep, face: FaceDep) -> Response:
    """One of the job's files by its path (`output/…`, `input/…`), streamed from storage, ranges honoured."""
    _, files = await _visible(broker, caller, job_id)
    row = next((f for f in files if f.path == file_path), None)
    head = await face.storage.primary.head(row.object_key) if row is not None else None
    if row is None or head is None:
        raise NotFound("File not found")
    start, end = byte_range(request.headers.get("range"), head.size)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start)}
    partial = (start, end) != (0, head.size)
    if partial:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{head.size}"
    chunks = face.storage.primary.get_stream(row.object_key, start=start, end=end)
    return StreamingResponse(chunks, status_code=206 if partial else 200, headers=headers,
                             media_type=row.content_type or head.content_type or "application/octet-stream")


# --- the worker registry -------------------------------------------------------------------------------

@public_router.get(CURRENT + "/capabilities", response_model=CapabilitiesShape)
@public_router.get(SEED + "/capabilities", response_model=CapabilitiesShape)
async def capabilities(broker: BrokerDep) -> CapabilitiesShape:
    """Workers heard from lately, and the idle slots per task type (no token needed, as CL's)."""
    return CapabilitiesShape.of(await broker.capabilities())


# --- the admin's ---------------------------------------------------------------------------------------

@admin_router.get("/admin/jobs/storage/size", response_model=StorageSize)
@admin_router.get("/admin/compute/jobs/storage/size", response_model=StorageSize)
async def storage_size(face: FaceDep, _admin: CurrentUser) -> StorageSize:
    use = await face.retention.usage()
    return StorageSize(total_size=use.total_size, job_count=use.job_count)


@admin_router.delete("/admin/jobs/cleanup", response_model=CleanupResult)
@admin_router.delete("/admin/compute/jobs/cleanup", response_model=CleanupResult)
async def cleanup(face: FaceDep, _admin: CurrentUser,
                  days: Annotated[int, Query(ge=0, le=100_000)] = 7) -> CleanupResult:
    """Delete the finished jobs created more than `days` days ago (0: all finished jobs), with their files."""
    cleaned = await face.retention.clean(days)
    return CleanupResult(deleted_count=cleaned.deleted_count, freed_space=cleaned.freed_space)


@admin_router.post("/admin/compute/reprocess", response_model=Reprocessed)
async def reprocess(broker: BrokerDep, _admin: CurrentUser) -> Reprocessed:
    """Make every item's variants and metadata again (after an upgrade of the tasks, say), in the bulk lane:
    a new upload's work still goes first."""
    return Reprocessed(queued=await broker.reprocess())


@admin_router.post("/admin/compute/workers/credentials", response_model=NewCredential, status_code=201,
                   openapi_extra={"requestBody": {"content": {
                       "application/json": {"schema": CredentialRequest.model_json_schema()},
                       "application/x-www-form-urlencoded": {"schema": CredentialRequest.model_json_schema()}}}})
async def issue_credential(request: Request, broker: BrokerDep, admin: CurrentUser) -> NewCredential:
    """A credential for a plug-in worker (`shoebox worker --credential …`), shown this once."""
    name = await _credential_name(request)
    credential = await broker.issue_credential(name, admin.user_id)
    credential_id = credential.removeprefix("wk_").partition(".")[0]
    return NewCredential(credential_id=credential_id, credential=credential, name=name)


@admin_router.delete("/admin/compute/workers/credentials/{credential_id}", status_code=204)
async def revoke_credential(credential_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,40}$")],
                            broker: BrokerDep, _admin: CurrentUser) -> Response:
    """Workers holding it are refused from their next request."""
    if not await broker.revoke_credential(credential_id):
        raise NotFound("Credential not found")
    return Response(status_code=204)


NAME_MAX = 128


async def _credential_name(request: Request) -> str:
    kind = form_kind(request)
    if kind == "application/json":
        try:
            name = CredentialRequest.model_validate_json(await request.body() or b"{}").name
        except ValidationError:
            raise Unprocessable('Send {"name": "<a name for the worker>"}') from None
    elif kind == MULTIPART:
        form = await request.form(max_files=0, max_fields=10)
        value = form.get("name")
        name = value if isinstance(value, str) else ""
    else:
        name = (await read_plain_form(request)).get("name", "")
    name = name.strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise Unprocessable(f"name is required: printable, at most {NAME_MAX} characters")
    return name
