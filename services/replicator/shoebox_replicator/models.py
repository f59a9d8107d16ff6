from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, MetaData, String, func
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
