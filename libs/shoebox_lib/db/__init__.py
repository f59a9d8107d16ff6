"""PostgreSQL through async SQLAlchemy on asyncpg: one schema per service, migrations by command."""

from shoebox_lib.db.database import AfterCommit, Database, after_commit, asyncpg_url
from shoebox_lib.db.migrations import Migrations

__all__ = ["AfterCommit", "Database", "Migrations", "after_commit", "asyncpg_url"]
