"""The one synchronous question uploads asks metadata, on behalf of the person waiting: is this item
theirs, and what did they declare?"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shoebox_lib.auth import Principal
from shoebox_lib.errors import NotFound, UpstreamUnavailable


@dataclass(frozen=True)
class DeclaredItem:
    item_id: int
    status: str
    size: int
    content_type: str | None


class MetadataClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def item(self, caller: Principal, image_id: str) -> DeclaredItem:
        url = f"{self.base_url}/v1/images/{image_id}"
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.1, max=1),
                retry=retry_if_exception_type(httpx.TransportError), reraise=True,
            ):
                with attempt:
                    response = await self.http.get(url, headers={"Authorization": f"Bearer {caller.token}"})
        except httpx.TransportError as exc:
            raise UpstreamUnavailable("The library service cannot be reached; try again") from exc
        if response.status_code in (400, 401, 403, 404):
            raise NotFound("Image not found")
        if response.status_code != 200:
            raise UpstreamUnavailable(f"The library service answered {response.status_code}")
        body = response.json()
        return DeclaredItem(item_id=int(body["image_id"].removeprefix("img_")), status=body["status"],
                            size=int(body["size_bytes"]), content_type=body.get("content_type"))
