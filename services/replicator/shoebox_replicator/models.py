from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, MetaData, String, Text, false, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shoebox_lib.bus import bus_tables

SCHEMA = "replicator"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


BUS = bus_tables(Base.metadata)


class KnownObject(Base):
    """An object the replicator keeps copies of, with the SHA-256 every copy must hash to: the one the event
    brought (the client declared it and the upload was verified against it), else the one PRIMARY's bytes
    hashed to while they streamed to the first copy. It stays until the object is deleted for good."""

    __tablename__ = "objects"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    item_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # When the scrubber last found PRIMARY's copy right (the other tiers' are in `object_copies`).
    primary_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when no tier held a copy that hashes right: never served, reported until restored.
    damaged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ScrubProgress(Base):
    """Where the scrub pass is (one row): a pass walks the objects in key order, so a restart goes on after
    `cursor` rather than starting over."""

    __tablename__ = "scrub_progress"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(1024))  # the last key checked; None between passes
    pass_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_pass_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    passes: Mapped[int] = mapped_column(Integer, default=0)


class BackfillProgress(Base):
    """How far the objects that existed before a tier was configured have been queued for it: `cursor` is the
    last key queued, so a restart goes on from there; `done_at` once every object is."""

    __tablename__ = "backfills"

    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(1024))
    queued: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ObjectCopy(Base):
    """A verified copy of an object in a tier other than PRIMARY."""

    __tablename__ = "object_copies"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))  # of the copy's own bytes, read back; None before 0003
    item_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    owner_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    copied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Tombstone(Base):
    """An object deleted for good: a copy that arrives late (a redelivered or slow event) must not bring
    it back."""

    __tablename__ = "tombstones"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PendingCopy(Base):
    """An object a tier still lacks a verified copy of: queued in the transaction that learns of the object,
    copied by the copy worker outside any transaction, and gone once the copy is verified. A failed try
    comes due again later (backoff), however long the tier stays down; nothing is dead-lettered."""

    __tablename__ = "pending_copies"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_id: Mapped[int | None] = mapped_column(BigInteger)
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Queued by a backfill (the object predates the tier): moved at the backfill's rate, after new objects.
    backfill: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When a worker may take it next: now for a new one; later after a failure, or while a worker holds it.
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # The worker that took it last (`CopyWorker.name`): a worker that stops gives back what it holds.
    held_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PendingDelete(Base):
    """An object deleted for good that a tier may still hold: queued with its tombstone, removed from the
    tier by the copy worker, retried with backoff while the tier is down, so the delete reaches it once it
    is back."""

    __tablename__ = "pending_deletes"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # The worker that took it last (`CopyWorker.name`): a worker that stops gives back what it holds.
    held_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
