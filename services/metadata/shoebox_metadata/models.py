from __future__ import annotations

from datetime import datetime
from typing import Any

from shoebox_lib.bus import bus_tables
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "metadata"


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


BUS = bus_tables(Base.metadata)


class Item(Base):
    """A file in the library: a photo, a video, or an end-to-end-encrypted blob."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(BigInteger, Identity(start=10000), primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    filename: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str | None] = mapped_column(String(255))
    declared_size: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int | None] = mapped_column(BigInteger)
    client_sha256: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    title: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(24), default="upload_pending")
    object_key: Mapped[str | None] = mapped_column(String(1024))
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(32))
    extracted: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())
    stored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Variant(Base):
    """A derived rendition of an item (a thumbnail), made by compute."""

    __tablename__ = "variants"

    item_id: Mapped[int] = mapped_column(ForeignKey(Item.id, ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="processing")
    object_key: Mapped[str | None] = mapped_column(String(1024))
    content_type: Mapped[str | None] = mapped_column(String(255))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class Copy(Base):
    """Where an item's objects have verified copies, as the replicator reports them."""

    __tablename__ = "copies"

    object_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey(Item.id, ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Account(Base):
    """One owner's storage accounting. Quota checks are single conditional UPDATEs on this row, so
    concurrent commits and reservations can never together pass the quota."""

    __tablename__ = "accounts"

    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    quota_bytes: Mapped[int] = mapped_column(BigInteger)
    bonus_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    used_bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # PRIMARY copies only; replicas are free
    reserved_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class Reservation(Base):
    """Bytes held for an upload in progress (the upload signer asks when a session starts)."""

    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger, index=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
