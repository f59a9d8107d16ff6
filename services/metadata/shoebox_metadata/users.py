"""Who an email belongs to: asked of auth, which owns accounts, while the sharer waits."""

from __future__ import annotations

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shoebox_lib.auth import Principal
from shoebox_lib.errors import NotFound, UpstreamUnavailable


class Users:
    def __init__(self, http: httpx.AsyncClient, auth_url: str) -> None:
        self.http = http
        self.url = f"{auth_url.rstrip('/')}/users/public-key"

    async def resolve(self, caller: Principal, email: str) -> int:
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(3), wait=wait_exponential(0.1, max=1),
                                               retry=retry_if_exception_type(httpx.TransportError), reraise=True):
                with attempt:
                    response = await self.http.get(self.url, params={"email": email},
                                                   headers={"Authorization": f"Bearer {caller.token}"})
        except httpx.TransportError as exc:
            raise UpstreamUnavailable("The account service cannot be reached; try again") from exc
        if response.status_code == 404:
            raise NotFound(f"No Shoebox user has the email {email}")
        if response.status_code != 200:
            raise UpstreamUnavailable(f"The account service answered {response.status_code}")
        return int(response.json()["userID"])
