"""Alembic, driven from code: `shoebox migrate` runs every service's migrations, never an import.

Each service keeps `migrations/` beside its models; its `env.py` is two lines that call `run_env`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shoebox_lib.db.database import asyncpg_url


@dataclass(frozen=True)
class Migrations:
    """Where a service's migrations live and which schema they own."""

    schema: str
    directory: Path

    def config(self, url: str) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(self.directory))
        cfg.set_main_option("sqlalchemy.url", asyncpg_url(url).replace("%", "%%"))
        cfg.attributes["schema"] = self.schema
        return cfg

    def upgrade(self, url: str, revision: str = "head") -> None:
        """Blocking: run it in a thread from async code (env.py starts its own event loop)."""
        command.upgrade(self.config(url), revision)

    async def upgrade_async(self, url: str, revision: str = "head") -> None:
        await asyncio.to_thread(self.upgrade, url, revision)

    def revision(self, url: str, message: str) -> None:
        command.revision(self.config(url), message=message, autogenerate=True)


def _include_object(schema: str):  # type: ignore[no-untyped-def]
    def include(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        if type_ == "table":
            return obj.schema == schema
        return True

    return include


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's `env.py`."""
    cfg = context.config
    schema: str = cfg.attributes["schema"]
    url = cfg.get_main_option("sqlalchemy.url")
    assert url

    def migrate(conn: Connection) -> None:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_object=_include_object(schema),
            compare_type=True,
        )
        with context.begin_transaction():
            # Two processes migrating at once (two replicas starting) take turns.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(migrate)
                await conn.commit()
        finally:
            await engine.dispose()

    asyncio.run(main())
