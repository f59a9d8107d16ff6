from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, MetaData, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shoebox_lib.bus import bus_tables

SCHEMA = "uploads"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


BUS = bus_tables(Base.metadata)

# What a session uploads, and so how it ends:
#   v1         a resumable multipart upload of an image metadata already knows; ends in upload.completed
#   uppy       a multipart upload through the Uppy face; the library item is created on complete
#   uppy-form  one browser form upload (Uppy's /s3/params); the item exists first, the finalizer notices
#              the object and completes it
#   ente       one presigned PUT handed to an Ente client; the client commits it with POST /files
#   ente-mp    one multipart upload handed to an Ente client (part URLs and a completeURL at once)
KINDS = ("v1", "uppy", "uppy-form", "ente", "ente-mp")
# Sessions the client may still write to or finish.
LIVE = ("open", "verifying")


class UploadSession(Base):
    """One object being uploaded straight to storage, under a key the server chose."""

    __tablename__ = "upload_sessions"
    __table_args__ = (Index("ix_upload_sessions_status_expires", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="v1", server_default="v1")
    owner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    item_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    object_key: Mapped[str] = mapped_column(String(1024), index=True)
    multipart_upload_id: Mapped[str | None] = mapped_column(Text)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger)  # None: not declared (sized on complete)
    part_size: Mapped[int | None] = mapped_column(BigInteger)
    part_count: Mapped[int | None] = mapped_column(Integer)  # the highest part number allowed
    content_type: Mapped[str | None] = mapped_column(String(255))
    filename: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    # open, verifying, completed, committed (Ente: POST /files took it), aborted, failed, expired, swept
    status: Mapped[str] = mapped_column(String(16), default="open")
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Bytes held at metadata under this session's id, and whether that hold may still be outstanding.
    reserved_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reservation_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
