"""The resources of one service process (database, bus, storage, token verifier, HTTP client) and the
background tasks it supervises (outbox relay, consumers, sweepers)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp

from shoebox_lib.auth.key_cache import KeyCache
from shoebox_lib.auth.verifier import JwksSource, TokenVerifier
from shoebox_lib.bus import Bus, BusTables, Consumer, Handler, OutboxRelay, handle_once
from shoebox_lib.bus.topology import ConsumerSpec
from shoebox_lib.db import Database
from shoebox_lib.events import Envelope
from shoebox_lib.internal import InternalClient
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage
from shoebox_lib.web.health import HealthCheck

log = logging.getLogger(__name__)

Task = Callable[[], Awaitable[None]]
STOP_SECONDS = 10.0


async def every(seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run a periodic job forever (a background task; the runtime restarts it if it crashes)."""
    while True:
        await job()
        await asyncio.sleep(seconds)


class _InternalTransport(httpx.AsyncBaseTransport):
    """HTTP to another service, unless the all-in-one has put that service's app in this process."""

    def __init__(self, in_process: dict[str, ASGIApp], target: str) -> None:
        self.in_process = in_process
        self.target = target
        self.http = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self.in_process.get(self.target)
        if app is not None:
            return await httpx.ASGITransport(app=app).handle_async_request(request)
        return await self.http.handle_async_request(request)

    async def aclose(self) -> None:
        await self.http.aclose()


class Runtime:
    def __init__(self, settings: Settings, name: str, tables: BusTables, *, storage: bool = True) -> None:
        settings.check_production()
        self.settings = settings
        self.name = name
        self.db = Database(settings.database_url, pool_size=settings.database_pool_size)
        self.tables = tables
        self.bus = Bus(settings)
        self.storage = Storage.from_settings(settings) if storage else None
        self.http = httpx.AsyncClient(timeout=settings.internal_timeout_seconds)
        # Other services' apps in this process (the all-in-one): internal calls to them stay in-process.
        self.in_process: dict[str, ASGIApp] = {}
        self._internal_clients: list[httpx.AsyncClient] = []
        self.verifier = TokenVerifier(settings, JwksSource(f"{settings.auth_url}/.well-known/jwks.json", self.http),
                                      cache=KeyCache(settings.jwks_cache_path))
        self._tasks: dict[str, Task] = {"outbox-relay": self._relay, "revocations": self._follow_revocations}
        self._running: list[asyncio.Task[None]] = []
        # The service's typed container (its cores), which its `deps` module hands to routes, and what
        # runs once everything is connected.
        self.container: object | None = None
        self.on_start: list[Task] = []
        self.on_stop: list[Task] = []  # run first when stopping, each bounded (publishers flushing, say)

    def internal(self, target: str, base_url: str) -> InternalClient:
        """A client of another service's internal routes: over HTTP to `base_url`, or in-process when the
        all-in-one runs that service beside this one."""
        http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=self.settings.internal_timeout_seconds,
                                 transport=_InternalTransport(self.in_process, target))
        self._internal_clients.append(http)
        return InternalClient(self.name, target, http, self.settings.secret_key)

    async def _follow_revocations(self) -> None:
        await self.verifier.revocations.follow(self.bus)

    async def _relay(self) -> None:
        await OutboxRelay(self.db, self.bus, self.tables, self.settings.database_url).run()

    def background(self, name: str, task: Task) -> None:
        self._tasks[name] = task

    def consume(self, spec: ConsumerSpec, handler: Handler) -> None:
        self.background(spec.durable, lambda: Consumer(self.bus, spec, handler).run())

    def apply_once(self, spec: ConsumerSpec, apply: Callable[[AsyncSession, Any], Awaitable[None]]) -> None:
        """Consume events, applying each one once, in one transaction with the events it causes."""

        async def handler(envelope: Envelope, payload: Any) -> None:
            async with handle_once(self.db, self.tables, spec.durable, envelope.id) as session:
                if session is not None:
                    await apply(session, payload)

        self.consume(spec, handler)

    def checks(self) -> dict[str, HealthCheck]:
        checks: dict[str, HealthCheck] = {"database": self.db.ping, "bus": self.bus.ping}
        if self.storage is not None:
            for tier, driver in self.storage.tiers.items():
                checks[f"storage.{tier}"] = driver.ping
        return checks

    def degrading_checks(self) -> frozenset[str]:
        """The replica tiers: while one is down, uploads and reads go on (reads fall back across tiers, and
        copies wait until it is back), so the service is degraded, not failing."""
        if self.storage is None:
            return frozenset()
        return frozenset(f"storage.{tier}" for tier in self.storage.tiers if tier != "primary")

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
        for hook in self.on_stop:
            try:
                await asyncio.wait_for(hook(), STOP_SECONDS)
            except Exception:
                log.warning("%s: a stop hook failed", self.name, exc_info=True)
        for task in self._running:
            task.cancel()
        # Bounded: a task that does not end when cancelled (a library swallowing the cancellation) must
        # not keep the process from stopping; it is named so it can be found.
        _, stuck = await asyncio.wait(self._running, timeout=STOP_SECONDS) if self._running else (set(), set())
        for task in stuck:
            log.warning("%s: %s did not stop within %ss of being cancelled", self.name, task.get_name(),
                        STOP_SECONDS)
        for task in self._running:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so asyncio does not report it again at exit
        self._running.clear()
        with suppress(Exception):
            await asyncio.wait_for(self.bus.close(), STOP_SECONDS)
        if self.storage is not None:
            await self.storage.close()
        await self.http.aclose()
        for client in self._internal_clients:
            await client.aclose()
        try:
            await asyncio.wait_for(self.db.close(), STOP_SECONDS)
        except TimeoutError:
            log.warning("%s: the database pool did not close within %ss", self.name, STOP_SECONDS)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = self
        app.state.container = self.container
        await self.start()
        try:
            for hook in self.on_start:
                await hook()
            yield
        finally:
            await self.stop()
