"""Waiting on an event with a timeout, in a way that never swallows a cancellation."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Whether the event was set within `seconds`.

    Not `asyncio.wait_for`: on Python 3.11 it can return the inner result and drop a cancellation that
    lands as the event is set. A background task that loops on it then ignores its cancel, and the
    process cannot stop. `asyncio.timeout` keeps the cancellation.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
            return True
    return False
