"""Rate limits for signing in: failures counted per account and per client address, in the database so
every replica sees the same counts, with exponential backoff once a key has failed too often.

A key is counted whether or not its account exists, so how the limiter answers never tells.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from starlette.exceptions import HTTPException

from shoebox_auth.models import RateLimit
from shoebox_lib.db import Database
from shoebox_lib.errors import ShoeboxError


class Action(StrEnum):
    """What is being tried; each action is limited on its own."""

    LOGIN = "login"  # a password
    OTT_SEND = "ott-send"  # mailing a code
    OTT = "ott"  # a mailed code
    SRP = "srp"  # an SRP exchange
    SRP_ATTRIBUTES = "srp-attributes"  # asking after an address's SRP attributes


class Scope(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


class RateLimited(HTTPException, ShoeboxError):
    """429 with `Retry-After`.

    Also a Starlette HTTPException, first in the MRO, because that is the handler of shoebox_lib that
    sends an exception's headers; it renders the body in the face of the request like any other error.
    """

    code = "TOO_MANY_REQUESTS"

    def __init__(self, retry_after: float, message: str = "Too many attempts; try again later") -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        HTTPException.__init__(self, 429, detail=message, headers={"Retry-After": str(self.retry_after)})
        self.message = message
        self.details: list[dict[str, Any]] = []


@dataclass(frozen=True)
class Key:
    """What a limit counts against: an action by one account or one address."""

    action: Action
    scope: Scope
    value: str

    @property
    def digest(self) -> str:
        # Hashed: the table holds no email addresses, and every key has the same size.
        return hashlib.sha256(f"{self.action}\0{self.scope}\0{self.value}".encode()).hexdigest()


def keys_for(action: Action, *, account: str | None, address: str | None) -> list[Key]:
    """The keys of one attempt; an account is compared case-insensitively, as sign-in names are."""
    keys = []
    if account:
        keys.append(Key(action, Scope.ACCOUNT, account.strip().lower()))
    if address:
        keys.append(Key(action, Scope.ADDRESS, address))
    return keys


@dataclass(frozen=True)
class Policy:
    free_failures: int  # failures allowed before any wait
    base_seconds: float  # the first wait; each further failure doubles it
    max_seconds: float
    forget_after_seconds: float  # a key that has not failed for this long starts again from zero

    def delay(self, failures: int) -> float:
        if failures <= self.free_failures:
            return 0.0
        return float(min(self.max_seconds, self.base_seconds * 2 ** min(failures - self.free_failures - 1, 30)))


# An address is shared by everyone behind one NAT, so it gets more room than one account does.
DEFAULT_POLICIES: dict[Scope, Policy] = {
    Scope.ACCOUNT: Policy(free_failures=5, base_seconds=1, max_seconds=15 * 60, forget_after_seconds=3600),
    Scope.ADDRESS: Policy(free_failures=20, base_seconds=1, max_seconds=15 * 60, forget_after_seconds=3600),
}


def _now() -> datetime:
    return datetime.now(UTC)


class RateLimiter:
    """`check` before an attempt, `fail` after a failed one, `reset` after a success."""

    def __init__(self, db: Database, policies: dict[Scope, Policy] | None = None,
                 clock: Callable[[], datetime] = _now) -> None:
        self.db = db
        self.policies = policies or DEFAULT_POLICIES
        self.clock = clock

    async def retry_after(self, keys: Iterable[Key]) -> float:
        """Seconds until every key may try again; 0 when none is blocked."""
        keys = list(keys)
        if not keys:
            return 0.0
        now = self.clock()
        async with self.db.transaction() as session:
            until = (await session.execute(
                select(RateLimit.blocked_until).where(RateLimit.key.in_([k.digest for k in keys]),
                                                      RateLimit.blocked_until > now)
            )).scalars().all()
        return max(((u - now).total_seconds() for u in until if u is not None), default=0.0)

    async def check(self, keys: Iterable[Key]) -> None:
        wait = await self.retry_after(keys)
        if wait > 0:
            raise RateLimited(wait)

    async def is_limited(self, keys: Iterable[Key]) -> bool:
        return await self.retry_after(keys) > 0

    async def fail(self, keys: Iterable[Key]) -> None:
        """Count a failure (or any attempt that spends the allowance) against every key."""
        now = self.clock()
        async with self.db.transaction() as session:
            for key in sorted(set(keys), key=lambda k: k.digest):  # one lock order: no deadlocks
                policy = self.policies[key.scope]
                await session.execute(insert(RateLimit).values(key=key.digest, failures=0, updated_at=now)
                                      .on_conflict_do_nothing(index_elements=[RateLimit.key]))
                row = (await session.execute(
                    select(RateLimit).where(RateLimit.key == key.digest).with_for_update()
                )).scalar_one()
                stale = row.updated_at < now - timedelta(seconds=policy.forget_after_seconds)
                row.failures = 1 if stale else row.failures + 1
                delay = policy.delay(row.failures)
                row.blocked_until = now + timedelta(seconds=delay) if delay else None
                row.updated_at = now
            # Keys nobody has failed on for a day are forgotten, so the table stays small.
            await session.execute(delete(RateLimit).where(RateLimit.updated_at < now - timedelta(days=1)))

    async def reset(self, keys: Iterable[Key]) -> None:
        digests = [k.digest for k in keys]
        if digests:
            async with self.db.transaction() as session:
                await session.execute(delete(RateLimit).where(RateLimit.key.in_(digests)))
