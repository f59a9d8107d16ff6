"""The JSON of CL's job API, as CL's SDK reads it (`JobResponse`, `WorkerCapabilitiesResponse`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shoebox_compute.broker import Capabilities
from shoebox_compute.models import FileRole, Job, JobFile, JobStatus, TaskType

# image_conversion's clients read these from the job's params, not its output (CL's SDK does).
PARAMS_FROM_OUTPUT = {TaskType.IMAGE_CONVERSION.value: ("output_path", "format")}


def ms(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at is not None else None


class JobCreated(BaseModel):
    job_id: str
    status: str
    task_type: str


class JobFileShape(BaseModel):
    """Seed 004's `input_files` / `output_files` entries; `path` is what `GET /jobs/{id}/files/{path}` takes."""

    filename: str
    path: str
    size: int
    content_type: str | None = None


class JobShape(BaseModel):
    job_id: str
    task_type: str
    status: str  # queued, in_progress, completed, failed
    progress: int
    params: dict[str, Any]
    task_output: dict[str, Any] | None
    error_message: str | None
    priority: int
    created_at: int  # ms
    updated_at: int | None
    started_at: int | None
    completed_at: int | None
    input_files: list[JobFileShape]
    output_files: list[JobFileShape]

    @classmethod
    def of(cls, job: Job, files: list[JobFile]) -> JobShape:
        status = JobStatus(job.status)
        params = dict(job.params or {})
        output = job.result if status is JobStatus.COMPLETED else None
        for name in PARAMS_FROM_OUTPUT.get(job.task_type, ()):
            if output is not None and name in output:
                params[name] = output[name]
        return cls(
            job_id=job.id, task_type=job.task_type, status=status.value,
            progress=100 if status is JobStatus.COMPLETED else max(0, min(100, job.progress or 0)),
            params=params, task_output=output, error_message=job.error if status is JobStatus.FAILED else None,
            priority=job.priority, created_at=ms(job.created_at) or 0, updated_at=ms(job.updated_at),
            started_at=ms(job.started_at), completed_at=ms(job.completed_at),
            input_files=[_file(f) for f in files if f.role == FileRole.INPUT],
            output_files=[_file(f) for f in files if f.role == FileRole.OUTPUT],
        )


def _file(row: JobFile) -> JobFileShape:
    return JobFileShape(filename=row.path.rsplit("/", 1)[-1], path=row.path, size=row.size,
                        content_type=row.content_type)


class CapabilitiesShape(BaseModel):
    num_workers: int
    capabilities: dict[str, int]  # task type → idle workers' free slots

    @classmethod
    def of(cls, found: Capabilities) -> CapabilitiesShape:
        return cls(num_workers=found.num_workers, capabilities=dict(sorted(found.idle.items())))


class StorageSize(BaseModel):
    total_size: int
    job_count: int


class CleanupResult(BaseModel):
    deleted_count: int
    freed_space: int


class Reprocessed(BaseModel):
    queued: int


class NewCredential(BaseModel):
    """A plug-in worker's credential, shown once: only a hash of its secret is kept."""

    credential_id: str
    credential: str
    name: str


class CredentialRequest(BaseModel):
    name: str
