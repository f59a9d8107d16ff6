"""What every Ente sign-in shares: addresses, the accounts behind them, and the answer a sign-in gives.

What a sign-in returns is a Shoebox session token (`AuthService.open_session`), handed to the client
sealed to the public key of its key attributes, the way Ente hands out its own tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import func, select, text

from shoebox_auth.ente.sealing import seal, token_header_value
from shoebox_auth.models import EnteKeyAttributes, User
from shoebox_auth.service import DEFAULT_PERMISSIONS, AuthService, Origin
from shoebox_lib.db import Database
from shoebox_lib.errors import Forbidden, InvalidInput, Unauthenticated

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Authorization:
    """A successful sign-in. Before the account has key attributes the token travels in the clear
    (`token`, as the client will send it); after, only sealed (`encrypted_token`)."""

    user_id: int
    token: str | None = None
    key_attributes: dict[str, Any] | None = None
    encrypted_token: str | None = None
    srp_m2: str | None = None


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased, as Ente does; refused unless it looks like an address."""
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 320:
        raise InvalidInput("Invalid email address")
    return email


class Accounts:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self.db = db
        self.auth = auth

    async def find(self, email: str) -> User | None:
        """The account of a normalised address."""
        async with self.db.transaction() as session:
            return (await session.execute(select(User).where(func.lower(User.email) == email))).scalar_one_or_none()

    async def verified(self, email: str, *, create: bool) -> User | None:
        """The account of a verified address, created when asked to; marked email-verified."""
        async with self.db.transaction() as session:
            # Two sign-ups of one address at once must not make two accounts (the unique index on
            # email does not see case).
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"auth:email:{email}"})
            user = (await session.execute(
                select(User).where(func.lower(User.email) == email))).scalar_one_or_none()
            if user is None:
                if not create:
                    return None
                user = User(email=email, username=None, password_hash=None, is_active=True, is_admin=False,
                            permissions=list(DEFAULT_PERMISSIONS), is_email_verified=True)
                session.add(user)
                await session.flush()
                log.info("account %d created by Ente sign-up", user.id)
            elif not user.is_email_verified:
                user.is_email_verified = True
        if not user.is_active:
            raise Forbidden("This account is disabled")
        return user

    async def active(self, user_id: int) -> User:
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
        if user is None or not user.is_active:
            raise Unauthenticated("This account is disabled or gone")
        return user

    async def key_attributes(self, user_id: int) -> dict[str, Any] | None:
        async with self.db.transaction() as session:
            row = await session.get(EnteKeyAttributes, user_id)
        return dict(row.attributes) if row else None

    async def authorize(self, user: User, origin: Origin) -> Authorization:
        """Open a session for a signed-in user and hand its token over as Ente does."""
        issued = await self.auth.open_session(user, origin)
        raw = issued.token.encode()
        attributes = await self.key_attributes(user.id)
        if attributes is None:
            return Authorization(user_id=user.id, token=token_header_value(raw))
        sealed = await anyio.to_thread.run_sync(seal, raw, attributes["publicKey"])
        return Authorization(user_id=user.id, key_attributes=attributes, encrypted_token=sealed)
