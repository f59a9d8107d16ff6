"""The FastAPI app every service is built from."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoebox_lib.web.access import FaceIndex, Mount, RouteInfo, mount, route_infos
from shoebox_lib.web.errors import install_error_handlers
from shoebox_lib.web.request_id import RequestIdMiddleware

if TYPE_CHECKING:
    from shoebox_lib.runtime import Runtime

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[None]]

REQUESTS = Counter("shoebox_http_requests_total", "HTTP requests answered", ["service", "method", "status"])
LATENCY = Histogram("shoebox_http_request_seconds", "HTTP request latency", ["service", "method"])


class MetricsMiddleware:
    """Counts and times requests. Pure ASGI: Starlette's BaseHTTPMiddleware costs a task per request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            method = scope["method"]
            LATENCY.labels(self.service, method).observe(time.perf_counter() - started)
            REQUESTS.labels(self.service, method, str(status)).inc()


@dataclass
class ServiceApp:
    """A service's FastAPI app plus what the all-in-one runner needs to know of it."""

    name: str
    app: FastAPI
    checks: dict[str, HealthCheck] = field(default_factory=dict)
    runtime: Runtime | None = None
    mounts: tuple[Mount, ...] = ()

    def routes(self) -> list[RouteInfo]:
        """Every route the service declares, with its face and access."""
        return route_infos(self.name, self.mounts)

    async def health(self) -> tuple[bool, dict[str, str]]:
        async def run(check: HealthCheck) -> str:
            try:
                await asyncio.wait_for(check(), timeout=3)
            except Exception as exc:  # a failing dependency is reported, not raised
                return f"failing: {type(exc).__name__}: {exc}"[:300]
            return "ok"

        names = list(self.checks)
        results = await asyncio.gather(*(run(self.checks[n]) for n in names))
        report = dict(zip(names, results, strict=True))
        return all(r == "ok" for r in results), report


def create_app(
    name: str,
    version: str,
    mounts: Sequence[Mount],
    runtime: Runtime | None = None,
    lifespan: Callable[[FastAPI], Any] | None = None,
    checks: dict[str, HealthCheck] | None = None,
) -> ServiceApp:
    """A service app with request ids, face-shaped errors, /ping, /healthz, /version and /metrics.

    Each router is mounted with the face it speaks and who may call it (see `access.Mount`). With a
    `runtime`, its lifespan and health checks are the app's.
    """
    if runtime is not None:
        lifespan = lifespan or runtime.lifespan
        checks = checks if checks is not None else runtime.checks()

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        if lifespan is None:
            yield
            return
        async with lifespan(app):
            yield

    app = FastAPI(title=f"shoebox-{name}", version=version, lifespan=_lifespan)
    service = ServiceApp(name=name, app=app, checks=dict(checks or {}), runtime=runtime, mounts=tuple(mounts))
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)

    app.add_middleware(MetricsMiddleware, service=name)

    @app.get("/ping", tags=["ops"])
    async def ping() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        ok, report = await service.health()
        return JSONResponse({"status": "ok" if ok else "failing", "service": name, "checks": report},
                            status_code=200 if ok else 503)

    @app.get("/version", tags=["ops"])
    async def version_info() -> dict[str, str]:
        return {"service": name, "version": version}

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for mounted in mounts:
        mount(app, mounted)
    app.state.faces = FaceIndex(service.routes())
    return service
