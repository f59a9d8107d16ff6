from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "shoebox.after_commit"  # the session's `info` key: its transaction's callbacks
_RETURNED_AT = "shoebox.returned_at"  # a pooled connection's `info` key: when it was last given back
# A connection given back this recently is used without a ping: one busy serving requests has just shown it
# works. SQLAlchemy's pre-ping would cost every checkout three round trips (BEGIN, a ping, ROLLBACK).
IDLE_PING_SECONDS = 5.0
RECYCLE_SECONDS = 1800
DEFAULT_POOL_SIZE = 5


def asyncpg_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (what people paste) and use the asyncpg dialect."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url}")


class Database:
    """The engine and session factory of one service. Tables live in the service's own schema."""

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        # Connections beyond `pool_size` are closed when given back, so a pool smaller than the load would
        # open and close a PostgreSQL connection every few requests: size it to the concurrency served.
        self.engine: AsyncEngine = create_async_engine(
            asyncpg_url(url), pool_size=pool_size, max_overflow=pool_size, pool_recycle=RECYCLE_SECONDS,
        )
        event.listen(self.engine.sync_engine, "checkin", _given_back)
        event.listen(self.engine.sync_engine, "checkout", _ping_if_idle)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads, outside any transaction, so each query is one round trip. Under READ
        COMMITTED every statement takes its own snapshot anyway: BEGIN and COMMIT around reads add two round
        trips and no consistency."""
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=conn, expire_on_commit=False) as session:
                yield session

    @asynccontextmanager
    async def driver(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection as asyncpg's own, outside any transaction, for the hot reads that are one
        statement: rows come back typed by asyncpg, with no ORM object loading on the way."""
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            yield raw.driver_connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error. Once committed
        (and the connection given back), what `after_commit` registered runs, in order."""
        callbacks: list[AfterCommit] = []
        async with self.sessions() as session:
            session.info[_AFTER_COMMIT] = callbacks
            async with session.begin():
                yield session
        for callback in callbacks:
            try:
                await callback()
            except Exception:  # the transaction stands: a failed notification cannot undo it
                log.warning("an after-commit callback failed", exc_info=True)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the session's transaction has committed, never if it rolls back: for telling
    others of what it wrote (waking a worker), who would find nothing before the commit. The session must
    be a `Database.transaction`'s."""
    callbacks: list[AfterCommit] | None = session.info.get(_AFTER_COMMIT)
    if callbacks is None:
        raise RuntimeError("after_commit needs a session from Database.transaction")
    callbacks.append(callback)


def _given_back(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
    """A connection that sat idle may have been cut (PostgreSQL restarted, a proxy's timeout): pinged before
    use, and a dead one makes the pool connect anew, as pre-ping would."""
    returned_at = record.info.get(_RETURNED_AT)
    if returned_at is None or time.monotonic() - returned_at < IDLE_PING_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:
        idle = time.monotonic() - returned_at
        raise DisconnectionError(f"a pooled connection idle for {idle:.0f} s is gone") from exc
