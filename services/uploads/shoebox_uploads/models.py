"""The upload signer's tables (schema `uploads`): its sessions, and the outbox and inbox of its events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shoebox_lib.bus import bus_tables

SCHEMA = "uploads"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


BUS = bus_tables(Base.metadata)


class UploadKind(StrEnum):
    """What a session uploads, and so how it ends."""

    V1 = "v1"  # a resumable multipart upload of an item metadata already knows; ends in upload.completed
    UPPY = "uppy"  # a multipart upload through the Uppy face; the library item is created on complete
    # One browser form upload (Uppy's /s3/params): the item exists first, the finalizer notices the object.
    UPPY_FORM = "uppy-form"
    ENTE = "ente"  # one presigned PUT handed to an Ente client, which commits it with POST /files
    ENTE_MULTIPART = "ente-mp"  # one multipart upload handed to an Ente client (part URLs and a completeURL)


class SessionStatus(StrEnum):
    OPEN = "open"  # the client may sign parts and complete
    COMPLETING = "completing"  # a complete has claimed it and is talking to storage and metadata
    VERIFYING = "verifying"  # assembled; its declared SHA-256 is being checked off the request path
    COMPLETED = "completed"
    COMMITTED = "committed"  # an Ente object that POST /files took (item.stored said so)
    ABORTED = "aborted"
    FAILED = "failed"
    EXPIRED = "expired"
    SWEPT = "swept"  # an Ente object never committed, removed by the sweeper


# Sessions whose multipart upload in storage is still theirs.
LIVE = (SessionStatus.OPEN, SessionStatus.COMPLETING, SessionStatus.VERIFYING)
# Sessions that can still take writes (while not past their expiry): what an owner's open uploads are.
WRITABLE = (SessionStatus.OPEN, SessionStatus.COMPLETING)


class _Stored(TypeDecorator[StrEnum]):
    """A StrEnum kept as its value in a VARCHAR, so the stored values stay the plain strings they were."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class UploadSession(Base):
    """One object being uploaded straight to storage, under a key the server chose.

    It records facts (what was declared, what storage holds, how it ended); each face renders its own
    answer from them. Quota holds live at metadata alone, named by the session's id.
    """

    __tablename__ = "upload_sessions"
    __table_args__ = (
        Index("ix_upload_sessions_status_expires", "status", "expires_at"),
        # Counting an owner's open sessions (`limits`) without reading their whole history.
        Index("ix_upload_sessions_owner_status", "owner_id", "status"),
        # The completions metadata has not been seen to apply yet (`reconciler`): few among all sessions.
        Index("ix_upload_sessions_unconfirmed", "completed_at",
              postgresql_where=text("status = 'completed' AND committed_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[UploadKind] = mapped_column(_Stored(UploadKind), default=UploadKind.V1, server_default="v1")
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
    status: Mapped[SessionStatus] = mapped_column(_Stored(SessionStatus), default=SessionStatus.OPEN)
    error: Mapped[str | None] = mapped_column(Text)
    # What storage holds once the parts are assembled (or the form upload arrived).
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    etag: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When a complete claimed the session (status `completing`); a claim this old is taken over by a retry.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When metadata was seen to record the object (its item.stored, or the reconciler's check): for an Ente
    # object, POST /files committed it; for a library upload, metadata applied its upload.completed.
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the reconciler last sent a completion again that metadata had not applied.
    resent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
