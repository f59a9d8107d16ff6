"""Who an email belongs to: asked of auth, which owns accounts, while the sharer waits."""

from __future__ import annotations

import httpx

from shoebox_lib.auth import Principal
from shoebox_lib.calls import call_service
from shoebox_lib.errors import NotFound, UpstreamUnavailable


class Users:
    def __init__(self, http: httpx.AsyncClient, auth_url: str) -> None:
        self.http = http
        self.url = f"{auth_url.rstrip('/')}/users/public-key"

    async def resolve(self, caller: Principal, email: str) -> int:
        response = await call_service(self.http, "GET", self.url, service="account", token=caller.token,
                                      params={"email": email})
        if response.status_code == 404:
            raise NotFound(f"No Shoebox user has the email {email}")
        if response.status_code != 200:
            raise UpstreamUnavailable(f"The account service answered {response.status_code}")
        return int(response.json()["userID"])
