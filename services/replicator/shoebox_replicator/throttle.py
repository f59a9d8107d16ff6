"""A byte-rate limit shared by whatever moves bytes on the replicator's behalf in the background (scrub reads,
backfill copies), so they stay below a set share of the disks and the network."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator


class Throttle:
    """A token bucket of `rate` bytes per second holding at most one second's worth: spending more than is
    there waits until it has been earned."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._tokens = float(rate)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def spend(self, count: int) -> None:
        async with self._lock:  # one spender at a time, so the bucket is shared fairly rather than raced
            now = time.monotonic()
            self._tokens = min(float(self.rate), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= count
            if self._tokens < 0:
                await asyncio.sleep(-self._tokens / self.rate)

    async def through(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            await self.spend(len(chunk))
            yield chunk
