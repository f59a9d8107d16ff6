"""PostgreSQL through async SQLAlchemy on asyncpg: one schema per service, migrations by command."""

from shoebox_lib.db.database import Database, asyncpg_url
from shoebox_lib.db.migrations import Migrations

__all__ = ["Database", "Migrations", "asyncpg_url"]
