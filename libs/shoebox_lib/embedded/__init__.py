"""Throwaway or long-lived local servers started from wheels: PostgreSQL and NATS (and moto for tests)."""

from shoebox_lib.embedded.nats import EmbeddedNats
from shoebox_lib.embedded.ports import free_port
from shoebox_lib.embedded.postgres import EmbeddedPostgres

__all__ = ["EmbeddedNats", "EmbeddedPostgres", "free_port"]
