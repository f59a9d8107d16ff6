from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, MetaData, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shoebox_lib.bus import bus_tables

SCHEMA = "compute"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


BUS = bus_tables(Base.metadata)


class TaskType(StrEnum):
    """The task types compute's built-in workers offer. Plug-in workers bring task types of their own, so a
    job's `task_type` is any name; these are the ones Shoebox itself runs."""

    # CL's tasks, asked for through the job API
    MEDIA_THUMBNAIL = "media_thumbnail"
    IMAGE_CONVERSION = "image_conversion"
    EXIF = "exif"
    HASH = "hash"
    HLS_STREAMING = "hls_streaming"
    # what every upload gets, unasked: its variants (one job per variant), its metadata, a video's probe
    THUMBNAIL = "thumbnail"
    METADATA = "metadata"
    VIDEO_PROBE = "video_probe"


class JobStatus(StrEnum):
    """CL's job statuses (its client reads these four), and a job deleted while it was wanted."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class Lane(IntEnum):
    """Which work goes first, before priority is even looked at: what a person is waiting for (a new
    upload's variants, a job someone asked for), then bulk re-processing of what is stored already."""

    LIVE = 0
    BULK = 1


class FileRole(StrEnum):
    INPUT = "input"
    OUTPUT = "output"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_item_task", "item_id", "task_type"),
        # The dispatch order: lane, then priority (higher first), then age; only queued jobs are in it.
        Index("ix_jobs_dispatch", "task_type", "lane", text("priority DESC"), "created_at",
              postgresql_where=text("status = 'queued'")),
        Index("ix_jobs_lease", "lease_expires", postgresql_where=text("status = 'in_progress'")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    task_type: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)  # a JobStatus
    lane: Mapped[int] = mapped_column(Integer, default=Lane.LIVE, server_default="0")  # a Lane
    priority: Mapped[int] = mapped_column(Integer, default=5)
    # A library item the job is about (the automatic jobs, and API jobs on an item) …
    item_id: Mapped[int | None] = mapped_column(BigInteger)
    owner_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    object_key: Mapped[str | None] = mapped_column(String(1024))
    # its size, known when the job is made (None for jobs made before it was recorded)
    object_size: Mapped[int | None] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(255))
    # … and who asked for it through the job API (None for what compute queued itself).
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    lease_worker: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobFile(Base):
    """A job's input or output file in object storage (under the job's own prefix, `keys.job_file`)."""

    __tablename__ = "job_files"

    job_id: Mapped[str] = mapped_column(ForeignKey(Job.id, ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8), primary_key=True)  # a FileRole
    path: Mapped[str] = mapped_column(String(512), primary_key=True)
    object_key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    content_type: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Worker(Base):
    """A worker as its last heartbeat described it: the registry `/capabilities` answers from."""

    __tablename__ = "workers"
    __table_args__ = (Index("ix_compute_workers_last_seen", "last_seen"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    capabilities: Mapped[list[str]] = mapped_column(JSONB, default=list)
    idle: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    credential_id: Mapped[str | None] = mapped_column(String(40))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WorkerCredential(Base):
    """What an admin issued to let a plug-in worker take jobs; only a hash of its secret is kept."""

    __tablename__ = "worker_credentials"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
