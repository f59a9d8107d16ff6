"""One ASGI app served as a long-running process (`shoebox serve`, `shoebox dev`): uvicorn's options, and the
garbage collector tuned once start-up is over."""

from __future__ import annotations

import gc
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoebox_lib.settings import Settings

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
    if settings.gc_tuning:
        app = HeapSettledAfterStartup(app)
    uvicorn.run(app, host=host, port=port, **uvicorn_options(settings) | options)
