"""What CL's job API asks metadata (through the internal contract, never a client face): the store's auth
mode, which the job API follows, and the original of a library item a job is to read."""

from __future__ import annotations

from shoebox_lib.contracts import ITEM_SOURCE_PATH, STORE_MODE_PATH, ItemSource, StoreMode
from shoebox_lib.internal import InternalClient
from shoebox_lib.ttl_cache import TtlCache

# The store reads its own mode through a cache of this age; the job API follows it as closely.
MODE_CACHE_SECONDS = 2.0


class Library:
    def __init__(self, metadata: InternalClient) -> None:
        self.metadata = metadata
        self._mode = TtlCache[StoreMode](MODE_CACHE_SECONDS)

    async def store_mode(self) -> StoreMode:
        if (cached := self._mode.get()) is not None:
            return cached
        return self._mode.put(await self.metadata.call("GET", STORE_MODE_PATH, StoreMode))

    async def item_source(self, item_id: int, *, reader_id: int | None, store: bool) -> ItemSource:
        """The item's original if `reader_id` may read it (`store`: the reader may read CL's store); a 404
        otherwise, as for a missing item."""
        params: dict[str, str | int] = {"store": "true" if store else "false"}
        if reader_id is not None:
            params["reader_id"] = reader_id
        return await self.metadata.call("GET", ITEM_SOURCE_PATH.format(item_id=item_id), ItemSource,
                                        params=params)
