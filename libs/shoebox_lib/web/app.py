"""The FastAPI app every service is built from."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoebox_lib.auth.dependencies import require_admin
from shoebox_lib.web.access import FaceIndex, Mount, RouteInfo, mount, route_infos
from shoebox_lib.web.errors import install_error_handlers
from shoebox_lib.web.health import Health, HealthCheck
from shoebox_lib.web.request_id import RequestIdMiddleware, request_id_var

if TYPE_CHECKING:
    from shoebox_lib.runtime import Runtime

log = logging.getLogger(__name__)


MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # where workers of one service write their figures
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


class BodyLimitInFaceMiddleware:
    """Starlette's body limit answers a plain-text 413; answer it in the face of the route instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting = False

        async def send_in_face(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 413:
                headers = dict(message.get("headers", []))
                rewriting = headers.get(b"content-type", b"").startswith(b"text/plain")
            if not rewriting:
                await send(message)
                return
            if message["type"] == "http.response.body" and not message.get("more_body"):
                face = getattr(scope.get("route"), "face", None) or scope["app"].state.faces.face_for(scope["path"])
                body = json.dumps(face.render(413, "PAYLOAD_TOO_LARGE", "The request body is too large",
                                              request_id_var.get())).encode()
                await send({"type": "http.response.start", "status": 413, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_in_face)


def metrics_text() -> bytes:
    """The figures of this process; under `shoebox serve --workers N` (prometheus_client's multiprocess mode,
    `PROMETHEUS_MULTIPROC_DIR`), those of every worker of the service summed, whichever worker is asked."""
    if MULTIPROCESS_DIR not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # the library is untyped here
    return generate_latest(registry)


async def metrics_reader(request: Request) -> None:
    """Metrics tell an outsider more than they should (routes, rates, queue depths): a scraper presents
    the configured metrics token, a person an admin's token."""
    expected = request.app.state.runtime.settings.metrics_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if expected and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode()):
        return
    await require_admin(request)


@dataclass
class ServiceApp:
    """A service's FastAPI app plus what the all-in-one runner needs to know of it."""

    name: str
    app: FastAPI
    checks: dict[str, HealthCheck] = field(default_factory=dict)
    runtime: Runtime | None = None
    mounts: tuple[Mount, ...] = ()
    degrading: frozenset[str] = frozenset()  # checks whose failure degrades the service rather than fails it

    def routes(self) -> list[RouteInfo]:
        """Every route the service declares, with its face and access."""
        return route_infos(self.name, self.mounts)

    async def health(self) -> tuple[Health, dict[str, str]]:
        async def run(check: HealthCheck) -> str:
            try:
                await asyncio.wait_for(check(), timeout=3)
            except Exception as exc:  # a failing dependency is reported, not raised
                return f"failing: {type(exc).__name__}: {exc}"[:300]
            return "ok"

        names = list(self.checks)
        results = await asyncio.gather(*(run(self.checks[n]) for n in names))
        report = dict(zip(names, results, strict=True))
        return Health.worst(Health.OK if result == "ok" else Health.DEGRADED if name in self.degrading
                            else Health.FAILING for name, result in report.items()), report


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
    degrading: frozenset[str] = frozenset()
    if runtime is not None:
        lifespan = lifespan or runtime.lifespan
        if checks is None:
            checks, degrading = runtime.checks(), runtime.degrading_checks()

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        if lifespan is None:
            yield
            return
        async with lifespan(app):
            yield

    app = FastAPI(title=f"shoebox-{name}", version=version, lifespan=_lifespan)
    service = ServiceApp(name=name, app=app, checks=dict(checks or {}), runtime=runtime, mounts=tuple(mounts),
                         degrading=degrading)
    install_error_handlers(app)
    app.add_middleware(BodyLimitInFaceMiddleware)
    app.add_middleware(RequestIdMiddleware)

    app.add_middleware(MetricsMiddleware, service=name)

    @app.get("/ping", tags=["ops"])
    async def ping() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        health, report = await service.health()
        return JSONResponse({"status": health, "service": name, "checks": report},
                            status_code=200 if health.serving else 503)

    @app.get("/version", tags=["ops"])
    async def version_info() -> dict[str, str]:
        return {"service": name, "version": version}

    @app.get("/metrics", tags=["ops"], dependencies=[Depends(metrics_reader)])
    async def metrics() -> Response:
        return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)

    for mounted in mounts:
        mount(app, mounted)
    app.state.faces = FaceIndex(service.routes())
    return service
