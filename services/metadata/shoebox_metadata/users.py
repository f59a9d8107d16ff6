"""Who an email belongs to: asked of auth, which owns accounts, through its internal contract while the
sharer waits."""

from __future__ import annotations

from shoebox_lib.contracts import USER_BY_EMAIL_PATH, UserKey
from shoebox_lib.errors import NotFound
from shoebox_lib.internal import InternalClient


class Users:
    def __init__(self, auth: InternalClient) -> None:
        self.auth = auth

    async def resolve(self, email: str) -> int:
        try:
            found = await self.auth.call("GET", USER_BY_EMAIL_PATH, UserKey, params={"email": email})
        except NotFound:
            raise NotFound(f"No Shoebox user has the email {email}") from None
        user_id: int = found.user_id
        return user_id
