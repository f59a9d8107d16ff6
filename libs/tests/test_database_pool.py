"""What a request costs the database: a read runs its queries and nothing else (no BEGIN, no COMMIT, no ping
while the connection is in use), and a pooled connection that sat idle is pinged, so one PostgreSQL cut
meanwhile is replaced before anyone sees it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.db import Database
from shoebox_lib.db import database as database_module
from shoebox_lib.settings import Settings


@pytest.fixture
def url(make_settings: Callable[..., Settings]) -> str:
    return make_settings().database_url


@pytest.fixture
async def db(url: str) -> AsyncIterator[Database]:
    database = Database(url)
    yield database
    await database.close()


async def statements_sent(session: AsyncSession, sent: list[str]) -> None:
    """Every statement the session's connection sends from now on: queries (as SQLAlchemy sends them,
    prepared) and what asyncpg runs for a transaction (BEGIN, COMMIT, ROLLBACK)."""
    conn = await session.connection()
    event.listen(conn.sync_connection, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_: sent.append(statement.strip().upper()))
    driver: asyncpg.Connection = (await conn.get_raw_connection()).driver_connection  # type: ignore[assignment]
    driver.add_query_logger(lambda record: sent.append(record.query.split()[0].upper().rstrip(";")))


async def backend_of(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def cut(url: str, pid: int) -> None:
    """As a PostgreSQL restart or a proxy's timeout would, from outside the pool."""
    other = await asyncpg.connect(url)
    try:
        assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await other.close()


async def test_a_read_sends_its_queries_only_where_a_transaction_adds_begin_and_commit(db: Database) -> None:
    await backend_of(db)  # the connection made, and the dialect's first-connect queries behind us
    read: list[str] = []
    async with db.read() as session:
        await statements_sent(session, read)
        await session.execute(text("SELECT 1"))
        await session.execute(text("SELECT 2"))
    assert read == ["SELECT 1", "SELECT 2"]
    written: list[str] = []
    async with db.transaction() as session:
        await statements_sent(session, written)
        await session.execute(text("SELECT 3"))
    assert sorted(written) == ["BEGIN", "COMMIT", "SELECT 3"]  # BEGIN goes out with the first query


async def test_a_connection_idle_past_the_ping_time_is_pinged_and_one_cut_meanwhile_replaced(
        db: Database, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_module, "IDLE_PING_SECONDS", 0.2)
    first = await backend_of(db)
    await cut(url, first)
    await asyncio.sleep(0.3)
    second = await backend_of(db)  # no error: the ping found it gone and the pool connected anew
    assert second != first


async def test_a_connection_in_use_is_not_pinged_and_a_cut_one_fails_one_request_only(
        db: Database, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_module, "IDLE_PING_SECONDS", 3600.0)
    first = await backend_of(db)
    await cut(url, first)
    await asyncio.sleep(0.2)  # the termination reaches the client's socket
    with pytest.raises(DBAPIError) as failed:
        await backend_of(db)
    assert failed.value.connection_invalidated  # what faces answer 503 with Retry-After
    assert await backend_of(db) not in (first, None)
