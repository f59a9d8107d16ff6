"""How much a user stores: only metadata knows, so `GET /users/details/v2` asks it, as the caller."""

from __future__ import annotations

import logging

import httpx

from shoebox_lib.auth import Principal
from shoebox_lib.calls import call_service
from shoebox_lib.errors import UpstreamUnavailable

log = logging.getLogger(__name__)


class MetadataUsage:
    def __init__(self, metadata_url: str, http: httpx.AsyncClient) -> None:
        self.url = f"{metadata_url.rstrip('/')}/storage/usage"
        self.http = http

    async def usage_of(self, principal: Principal) -> tuple[int, int]:
        """(bytes, file count) from metadata's `GET /storage/usage`, called with the caller's own token.

        A 404 means a metadata without that route: nothing is counted there yet, so (0, 0).
        """
        try:
            response = await call_service(self.http, "GET", self.url, service="library", token=principal.token)
        except UpstreamUnavailable:
            log.warning("metadata did not answer for usage")
            raise UpstreamUnavailable("Storage usage is unavailable; try again later") from None
        if response.status_code == 404:
            return 0, 0
        if response.status_code != 200:
            log.warning("metadata answered %d for usage", response.status_code)
            raise UpstreamUnavailable("Storage usage is unavailable; try again later")
        body = response.json()
        return int(body.get("usage", body.get("used", 0))), int(body.get("fileCount", 0))
