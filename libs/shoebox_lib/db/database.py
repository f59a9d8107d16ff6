from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "shoebox.after_commit"  # the session's `info` key: its transaction's callbacks


def asyncpg_url(url: str) -> str:
    """Accept plain `postgresql://` URLs (what people paste) and use the asyncpg dialect."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url}")


class Database:
    """The engine and session factory of one service. Tables live in the service's own schema."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.engine: AsyncEngine = create_async_engine(
            asyncpg_url(url), pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

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
