"""`after_commit`: what a transaction registers runs once it has committed (others can see its rows),
never when it rolls back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text

from shoebox_lib.db import Database, after_commit
from shoebox_lib.settings import Settings


@pytest.fixture
async def db(make_settings: Callable[..., Settings]) -> AsyncIterator[Database]:
    database = Database(make_settings().database_url)
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE after_commit_rows (n int)"))
    yield database
    await database.close()


async def rows(db: Database) -> int:
    """Counted from a transaction of its own: only what is committed."""
    async with db.transaction() as session:
        return int((await session.execute(text("SELECT count(*) FROM after_commit_rows"))).scalar_one())


async def test_a_callback_runs_after_the_commit_and_sees_what_was_written(db: Database) -> None:
    seen: list[int] = []

    async def count() -> None:
        seen.append(await rows(db))

    async with db.transaction() as session:
        await session.execute(text("INSERT INTO after_commit_rows VALUES (1)"))
        after_commit(session, count)
        after_commit(session, count)
        await session.flush()
        assert seen == [], "nothing runs before the commit"
    assert seen == [1, 1]


async def test_nothing_runs_when_the_transaction_rolls_back(db: Database) -> None:
    ran: list[str] = []

    async def note() -> None:
        ran.append("ran")

    async def write_then_fail() -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO after_commit_rows VALUES (1)"))
            after_commit(session, note)
            raise LookupError("the work failed")

    with pytest.raises(LookupError):
        await write_then_fail()
    assert ran == []
    assert await rows(db) == 0


async def test_a_failing_callback_leaves_the_commit_and_the_others_alone(db: Database) -> None:
    ran: list[str] = []

    async def fail() -> None:
        raise ConnectionError("the bus is away")

    async def note() -> None:
        ran.append("ran")

    async with db.transaction() as session:
        await session.execute(text("INSERT INTO after_commit_rows VALUES (1)"))
        after_commit(session, fail)
        after_commit(session, note)
    assert ran == ["ran"]
    assert await rows(db) == 1


async def test_a_session_of_no_transaction_of_ours_is_refused(db: Database) -> None:
    async def nothing() -> None:
        return None

    async with db.sessions() as session:
        with pytest.raises(RuntimeError, match=r"Database\.transaction"):
            after_commit(session, nothing)
