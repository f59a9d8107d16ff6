"""How much a user stores: only metadata knows, so `GET /users/details/v2` asks its internal route."""

from __future__ import annotations

import logging

from shoebox_lib.contracts import USAGE_PATH, Usage
from shoebox_lib.errors import UpstreamUnavailable
from shoebox_lib.internal import InternalClient

log = logging.getLogger(__name__)


class MetadataUsage:
    def __init__(self, metadata: InternalClient) -> None:
        self.metadata = metadata

    async def usage_of(self, owner_id: int) -> Usage:
        """What the owner stores, from metadata's `USAGE_PATH`; an unreachable metadata is a 503."""
        try:
            return await self.metadata.call("GET", USAGE_PATH.format(owner_id=owner_id), Usage)
        except UpstreamUnavailable:
            log.warning("metadata did not answer for usage")
            raise UpstreamUnavailable("Storage usage is unavailable; try again later") from None
