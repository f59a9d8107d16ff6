"""A server settles its heap once started: what start-up built is frozen out of the collector's walks and
young collections are rarer; nothing of the kind happens before start-up has completed, or to requests."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from starlette.types import Message, Receive, Scope, Send

from shoebox.serving import GC_THRESHOLDS, HeapSettledAfterStartup


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process is no long-running server
    gc.set_threshold(*threshold)


async def test_the_heap_is_settled_once_start_up_completes_and_not_before(collector: None) -> None:
    seen: list[tuple[str, int, tuple[int, int, int]]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            assert (await receive())["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "http.response.start", "status": 204, "headers": []})

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        seen.append((message["type"], gc.get_freeze_count(), gc.get_threshold()))

    settled = HeapSettledAfterStartup(app)
    await settled({"type": "http"}, receive, send)
    assert seen[-1][1:] == (0, gc.get_threshold())
    assert gc.get_threshold() != GC_THRESHOLDS
    await settled({"type": "lifespan"}, receive, send)
    assert seen[-1][:2] == ("lifespan.startup.complete", 0)  # the server is told first, then it settles
    assert gc.get_freeze_count() > 1000
    assert gc.get_threshold() == GC_THRESHOLDS
