"""One ASGI app served as a long-running process (`shoebox serve`, `shoebox dev`): uvicorn's options, and the
garbage collector tuned once start-up is over."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoebox import routing
from shoebox_lib.logs import configure_logging
from shoebox_lib.settings import Settings, get_settings
from shoebox_lib.web.app import MULTIPROCESS_DIR

# Young collections ten times rarer than Python's default (700 allocations): a request allocates thousands of
# short-lived objects that reference counting frees, so most young collections find nothing to do.
GC_THRESHOLDS = (7000, 10, 10)


def settle_heap() -> None:
    """What start-up built (modules, routes, models, settings) lives as long as the process: moved out of the
    collector's sight, full collections no longer walk it, which is most of what made them long pauses."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class HeapSettledAfterStartup:
    """The app, with `settle_heap` run as soon as its start-up has completed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                settle_heap()

        await self.app(scope, receive, sending)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What every server of ours runs uvicorn with, the test harness's included."""
    # forwarded_allow_ips="": no X-Forwarded-For is believed by uvicorn; auth decides whom to trust.
    return {"log_config": None, "access_log": False, "forwarded_allow_ips": "",
            "timeout_keep_alive": settings.keep_alive_seconds}


def serve(app: ASGIApp, settings: Settings, host: str, port: int, **options: Any) -> None:
    uvicorn.run(settled(app, settings), host=host, port=port, **uvicorn_options(settings) | options)


SERVING = "SHOEBOX_SERVING"  # tells each worker process of `shoebox serve --workers N` which service it is


def service_app(service: str, settings: Settings) -> ASGIApp:
    """One service's app (or the filesystem data plane), as `shoebox serve` runs it."""
    if service == routing.DATAPLANE:
        from shoebox_lib.storage.dataplane import dataplane_app

        return dataplane_app(settings)
    from shoebox.services import factory

    return factory(service)(settings).app


def worker_app() -> ASGIApp:
    """What each worker of `shoebox serve SERVICE --workers N` serves: uvicorn imports it by name in every
    process it starts, so each builds its own app, pools and bus connection."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return settled(service_app(os.environ[SERVING], settings), settings)


def serve_workers(target: str, settings: Settings, host: str, port: int, workers: int, **options: Any) -> None:
    """`workers` processes accepting on one port, each serving what the factory `target` (an import string)
    builds. Their Prometheus figures go to one directory and every worker's /metrics sums them: a fresh
    directory per start, unless the operator names one."""
    made = None
    if MULTIPROCESS_DIR not in os.environ:
        made = os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="shoebox-metrics-")
    try:
        uvicorn.run(target, factory=True, workers=workers, host=host, port=port,
                    **uvicorn_options(settings) | options)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def serve_service(service: str, settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """`shoebox serve SERVICE [--workers N]`."""
    if workers == 1:
        serve(service_app(service, settings), settings, host, port)
        return
    os.environ[SERVING] = service
    serve_workers("shoebox.serving:worker_app", settings, host, port, workers)


def settled(app: ASGIApp, settings: Settings) -> ASGIApp:
    return HeapSettledAfterStartup(app) if settings.gc_tuning else app
