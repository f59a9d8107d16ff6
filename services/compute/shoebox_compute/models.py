from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, MetaData, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shoebox_lib.bus import bus_tables

SCHEMA = "compute"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


BUS = bus_tables(Base.metadata)


class TaskType(StrEnum):
    """What a job does; each has its own work queue (`shoebox_lib.bus.topology`)."""

    THUMBNAIL = "thumbnail"
    METADATA = "metadata"


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ERROR = "error"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.ERROR)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_item_task", "item_id", "task_type"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # A TaskType for the built-in workers; plug-in workers will bring task types of their own.
    task_type: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)  # a JobStatus
    priority: Mapped[int] = mapped_column(Integer, default=5)
    item_id: Mapped[int | None] = mapped_column(BigInteger)
    owner_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    object_key: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str | None] = mapped_column(String(255))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
