"""Each service's migrations build exactly the tables its models describe, in its own schema only."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from shoebox import routing
from shoebox.services import migrate_all, migrations
from shoebox_lib.db import Database
from shoebox_lib.settings import Settings


def _models(name: str) -> Any:
    return importlib.import_module(f"shoebox_{name}.models").Base.metadata


async def test_migrations_match_the_models_and_can_run_twice(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    await migrate_all(settings)
    await migrate_all(settings)  # a restart migrates again: nothing to do, nothing breaks
    db = Database(settings.database_url)
    try:
        for name in routing.SERVICES:
            schema = migrations(name).schema
            metadata = _models(name)

            def diff(conn: Connection, schema: str = schema, metadata: Any = metadata) -> list[Any]:
                context = MigrationContext.configure(conn, opts={
                    "include_schemas": True, "compare_type": True,
                    "include_name": lambda n, t, _: (t != "schema" or n == schema) and n != "alembic_version",
                })
                return list(compare_metadata(context, metadata))

            async with db.engine.connect() as conn:
                assert await conn.run_sync(diff) == [], f"{name}: models and migrations differ"
                tables = (await conn.execute(text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema}
                )).scalars().all()
            assert {"outbox", "inbox", "alembic_version"} <= set(tables), name
    finally:
        await db.close()
