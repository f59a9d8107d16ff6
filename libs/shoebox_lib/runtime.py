"""The resources of one service process (database, bus, storage, token verifier, HTTP client) and the
background tasks it supervises (outbox relay, consumers, sweepers)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

import httpx
from fastapi import FastAPI
from sqlalchemy import MetaData

from shoebox_lib.auth.verifier import JwksSource, KeySource, TokenVerifier
from shoebox_lib.bus import Bus, BusTables, Consumer, Handler, OutboxRelay, bus_tables
from shoebox_lib.bus.topology import CONSUMERS
from shoebox_lib.db import Database
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage
from shoebox_lib.web.app import HealthCheck

log = logging.getLogger(__name__)

Task = Callable[[], Awaitable[None]]


class Runtime:
    def __init__(self, settings: Settings, name: str, metadata: MetaData, *, storage: bool = True,
                 key_source: KeySource | None = None) -> None:
        settings.check_production()
        self.settings = settings
        self.name = name
        self.db = Database(settings.database_url, pool_size=settings.database_pool_size)
        self.tables: BusTables = bus_tables(metadata)
        self.bus = Bus(settings)
        self.storage = Storage.from_settings(settings) if storage else None
        self.http = httpx.AsyncClient(timeout=settings.internal_timeout_seconds)
        source = key_source or JwksSource(f"{settings.auth_url}/.well-known/jwks.json", self.http)
        self.verifier = TokenVerifier(settings, source)
        self._tasks: dict[str, Task] = {"outbox-relay": self._relay}
        self._running: list[asyncio.Task[None]] = []

    async def _relay(self) -> None:
        await OutboxRelay(self.db, self.bus, self.tables, self.settings.database_url).run()

    def background(self, name: str, task: Task) -> None:
        self._tasks[name] = task

    def consume(self, durable: str, handler: Handler) -> None:
        spec = CONSUMERS[durable]
        self.background(durable, lambda: Consumer(self.bus, spec, handler).run())

    def checks(self) -> dict[str, HealthCheck]:
        checks: dict[str, HealthCheck] = {"database": self.db.ping, "bus": self.bus.ping}
        if self.storage is not None:
            checks["storage"] = self.storage.ping
        return checks

    async def _supervise(self, name: str, task: Task) -> None:
        """Keep a background task alive: a crash is logged and the task restarted after a pause."""
        while True:
            try:
                await task()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s/%s crashed; restarting in 1s", self.name, name)
                await asyncio.sleep(1)

    async def start(self) -> None:
        await self.bus.connect()
        if self.storage is not None:
            await self.storage.start()
        for name, task in self._tasks.items():
            self._running.append(asyncio.create_task(self._supervise(name, task), name=f"{self.name}:{name}"))

    async def stop(self) -> None:
        for task in self._running:
            task.cancel()
        for task in self._running:
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._running.clear()
        with suppress(Exception):
            await self.bus.close()
        if self.storage is not None:
            await self.storage.close()
        await self.http.aclose()
        await self.db.close()

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = self
        await self.start()
        try:
            yield
        finally:
            await self.stop()
