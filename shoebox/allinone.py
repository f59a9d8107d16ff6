"""The whole system in one ASGI app: every service's app behind one port, routed by the table derived from
their declared routes (`routing.RouteTable`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from shoebox import routing
from shoebox_lib.web import ServiceApp
from shoebox_lib.web.access import Access, FaceIndex
from shoebox_lib.web.health import Health
from shoebox_lib.web.request_id import RequestIdMiddleware, request_id_var

log = logging.getLogger(__name__)


def connect_in_process(services: Mapping[str, ServiceApp]) -> None:
    """Internal calls between services in this process go straight to the other app: never out to the
    network, never through the one port (which refuses `/internal/` anyway)."""
    apps: dict[str, ASGIApp] = {name: service.app for name, service in services.items()}
    for service in services.values():
        if service.runtime is not None:
            service.runtime.in_process.update(apps)


async def _json(send: Send, status: int, body: object) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class AllInOne:
    def __init__(self, services: dict[str, ServiceApp], dataplane: ASGIApp | None = None) -> None:
        self.services = services
        self.apps: dict[str, ASGIApp] = {name: s.app for name, s in services.items()}
        self._with_request_id = RequestIdMiddleware(self._route)
        if dataplane is not None:
            self.apps[routing.DATAPLANE] = dataplane
        self.table = routing.RouteTable.of(services, dataplane=dataplane is not None)
        # The face of a path nobody serves: that of the public routes nearest it (internal ones are
        # nobody's from outside, so they lend no face either).
        self.faces = FaceIndex(route for service in services.values() for route in service.routes()
                               if route.access is not Access.INTERNAL)
        connect_in_process(services)

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        # auth first: the others verify tokens against its keys.
        async with AsyncExitStack() as stack:
            for name, service in self.services.items():
                try:
                    await stack.enter_async_context(service.app.router.lifespan_context(service.app))
                except Exception as exc:
                    exc.add_note(f"while starting {name}")
                    raise
            yield

    async def health(self) -> tuple[Health, dict[str, Any]]:
        names = list(self.services)
        results = await asyncio.gather(*(self.services[n].health() for n in names))
        report = {n: {"status": health, "checks": checks} for n, (health, checks) in zip(names, results, strict=True)}
        return Health.worst(health for health, _ in results), report

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._with_request_id(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path in ("/healthz", "/ping"):
            health, report = await self.health() if path == "/healthz" else (Health.OK, {})
            await _json(send, 200 if health.serving else 503, {"status": health, "services": report})
            return
        target = routing.split_service_path(path)
        if target is not None:
            name, rest = target
            scope = {**scope, "path": rest, "raw_path": rest.encode()}
            await self.apps[name](scope, receive, send)
            return
        owner = self.table.owner_of(path)  # None for /internal/...: services reach those directly
        if owner is None:
            body = self.faces.face_for(path).render(404, "NOT_FOUND", f"No route for {path}", request_id_var.get())
            await _json(send, 404, body)
            return
        await self.apps[owner](scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        stack = AsyncExitStack()
        try:
            await stack.enter_async_context(self.lifespan())
        except BaseException as exc:
            # With its stack: "TimeoutError()" alone does not say which service's start it was.
            log.exception("the system did not start")
            await send({"type": "lifespan.startup.failed", "message": repr(exc)})
            raise
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        await stack.aclose()
        await send({"type": "lifespan.shutdown.complete"})
