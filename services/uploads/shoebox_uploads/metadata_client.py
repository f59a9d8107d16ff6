"""The synchronous questions uploads asks metadata on behalf of the person waiting, with their token:
is this item theirs and what did they declare; hold, give back or look up quota; create a library item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from shoebox_lib.auth import Principal
from shoebox_lib.calls import call_service
from shoebox_lib.errors import Gone, InvalidInput, NotFound, QuotaExceeded, Unauthenticated, UpstreamUnavailable


@dataclass(frozen=True)
class DeclaredItem:
    item_id: int
    status: str
    size: int
    content_type: str | None


@dataclass(frozen=True)
class PublicLink:
    collection_id: int
    owner_id: int
    enable_collect: bool


class MetadataClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def _call(self, caller: Principal | None, method: str, path: str, json: Any = None,
                    headers: dict[str, str] | None = None) -> httpx.Response:
        return await call_service(self.http, method, f"{self.base_url}{path}", service="library",
                                  token=caller.token if caller else None, headers=headers, json=json)

    @staticmethod
    def _unexpected(response: httpx.Response) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"The library service answered {response.status_code}")

    async def link(self, access_token: str | None, access_jwt: str | None) -> PublicLink:
        """What a public link opens, as the library sees it: expired, revoked, or password-locked links fail."""
        headers = {name: value for name, value in (("X-Auth-Access-Token", access_token),
                                                   ("X-Auth-Access-Token-JWT", access_jwt)) if value}
        response = await self._call(None, "GET", "/public-collection/info", headers=headers)
        if response.status_code == 401:
            raise Unauthenticated(response.json().get("message", "Invalid link"))
        if response.status_code == 410:
            raise Gone("This link has expired")
        if response.status_code != 200:
            raise self._unexpected(response)
        collection = response.json()["collection"]
        urls = collection.get("publicURLs") or [{}]
        return PublicLink(collection_id=int(collection["id"]), owner_id=int(collection["owner"]["id"]),
                          enable_collect=bool(urls[0].get("enableCollect")))

    async def item(self, caller: Principal, image_id: str) -> DeclaredItem:
        response = await self._call(caller, "GET", f"/v1/images/{image_id}")
        if response.status_code in (400, 401, 403, 404):
            raise NotFound("Image not found")
        if response.status_code != 200:
            raise self._unexpected(response)
        body = response.json()
        return DeclaredItem(item_id=int(body["image_id"].removeprefix("img_")), status=body["status"],
                            size=int(body["size_bytes"]), content_type=body.get("content_type"))

    async def create_image(self, caller: Principal, filename: str, content_type: str, size: int) -> int:
        """A library item for an upload that arrived without one (the Uppy face)."""
        response = await self._call(caller, "POST", "/v1/images", {
            "filename": filename, "content_type": content_type, "size_bytes": size})
        if response.status_code == 400:
            raise InvalidInput(f"The library refused the file: {response.json().get('message', '')}")
        if response.status_code != 201:
            raise self._unexpected(response)
        return int(response.json()["image_id"].removeprefix("img_"))

    async def reserve(self, caller: Principal, reservation_id: str, size: int) -> datetime:
        """Hold `size` bytes of the caller's quota; returns when the hold lapses. Idempotent per id."""
        response = await self._call(caller, "POST", "/storage/reservations",
                                    {"reservationId": reservation_id, "bytes": size})
        if response.status_code == 426:
            raise QuotaExceeded("Storage limit exceeded")
        if response.status_code != 201:
            raise self._unexpected(response)
        return datetime.fromtimestamp(response.json()["expiresAt"] / 1000, UTC)

    async def release(self, caller: Principal, reservation_id: str) -> None:
        response = await self._call(caller, "DELETE", f"/storage/reservations/{reservation_id}")
        if response.status_code != 204:
            raise self._unexpected(response)

    async def available(self, caller: Principal) -> int:
        """Bytes the caller may still store (quota less used and reserved)."""
        response = await self._call(caller, "GET", "/storage/usage")
        if response.status_code != 200:
            raise self._unexpected(response)
        return int(response.json()["available"])
