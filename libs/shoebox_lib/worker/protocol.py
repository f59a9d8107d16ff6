"""The compute broker's protocol, spoken over NATS (core request/reply, not JetStream) by every worker,
built-in or plug-in. A worker never touches a database: it is handed jobs with presigned URLs for its
inputs, asks for a presigned URL per output, reports progress (which keeps its lease) and completion.

Subjects are below the installation's bus prefix (`shoebox.compute.lease`…):

- `compute.workers` (published every `HEARTBEAT_SECONDS`): `WorkerStatus`, its capabilities and idle
  slots, `leaving` when it stops;
- `compute.lease` (request): `LeaseRequest` → `LeaseReply`, at most `slots` jobs, best first;
- `compute.output` (request): `OutputRequest` → `OutputReply`, a URL to PUT one output file to;
- `compute.progress` (request): `ProgressReport` → `ProgressReply`; `keep_going` false means stop (the job
  was cancelled, or leased again to another worker);
- `compute.complete` (request): `Completion` → `CompletionReply`; `accepted` false means the lease was
  lost and the result is dropped;
- `compute.wake.<task>` (published by the broker, empty): a job of that task type was queued; workers
  lease now instead of at their next poll.

Every request carries the worker's credential (issued by an admin; built-in workers use one derived from
the installation secret). An answer to a bad credential is `ErrorReply`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

HEARTBEAT_SECONDS = 5.0
# A worker missing this long is gone from the registry (and `/capabilities`).
WORKER_TTL_SECONDS = 20.0
# A lease lasts this long past the last progress report; a worker reports at least every third of it.
LEASE_SECONDS = 30
POLL_SECONDS = 2.0
REQUEST_TIMEOUT_SECONDS = 10.0
MAX_SLOTS = 16


class Subject(StrEnum):
    WORKERS = "compute.workers"
    LEASE = "compute.lease"
    OUTPUT = "compute.output"
    PROGRESS = "compute.progress"
    COMPLETE = "compute.complete"
    WAKE = "compute.wake"  # + ".<task_type>"


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


class Signed(BaseModel):
    worker_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    credential: str = Field(min_length=1, max_length=512)


class WorkerStatus(Signed):
    capabilities: list[str] = Field(max_length=256)
    idle: dict[str, int] = Field(default_factory=dict)  # free slots per task type
    leaving: bool = False


class LeaseRequest(Signed):
    task_types: list[str] = Field(min_length=1, max_length=256)
    slots: int = Field(default=1, ge=1, le=MAX_SLOTS)


class InputFile(BaseModel):
    name: str  # as the job was given it (a file's name, or `original` for a library item)
    url: str  # presigned GET; supports Range
    size: int
    content_type: str | None = None


class LeasedJob(BaseModel):
    job_id: str
    task_type: str
    params: dict[str, Any]
    priority: int
    attempt: int  # 1 for the first run
    inputs: list[InputFile]
    lease_seconds: int = LEASE_SECONDS


class LeaseReply(BaseModel):
    jobs: list[LeasedJob]


class OutputRequest(Signed):
    job_id: str
    path: str = Field(min_length=1, max_length=512)  # relative to the job: `output/thumb.jpg`
    content_type: str = Field(max_length=255)
    size: int = Field(ge=0)


class OutputReply(BaseModel):
    url: str  # presigned PUT of exactly `size` bytes
    headers: dict[str, str] = Field(default_factory=dict)  # to send with the PUT


class ProgressReport(Signed):
    job_id: str
    progress: int = Field(ge=0, le=100)


class ProgressReply(BaseModel):
    keep_going: bool


class OutputFile(BaseModel):
    path: str
    content_type: str
    size: int


class Completion(Signed):
    job_id: str
    outcome: Outcome
    result: dict[str, Any] = Field(default_factory=dict)
    outputs: list[OutputFile] = Field(default_factory=list)
    error: str | None = Field(default=None, max_length=4000)
    retryable: bool = False  # a failure worth another try (storage unreachable), not bad input


class CompletionReply(BaseModel):
    accepted: bool


class ErrorReply(BaseModel):
    error: str
