from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shoebox_lib.bus import bus_tables

SCHEMA = "replicator"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


BUS = bus_tables(Base.metadata)


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
    # When a worker may take it next: now for a new one; later after a failure, or while a worker holds it.
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
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
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
