"""Rate limits for signing in, kept in the database so every replica sees the same counts, with
exponential backoff once a key has failed too often (OWASP's Authentication Cheat Sheet: throttle, do not
lock out).

Each attempt is counted against three keys, so that an attacker is slowed down without being able to
lock anyone else out:

- PAIR, one account from one address: the tight limit. Guessing one account from one place backs off
  quickly; the same account from anywhere else, and other accounts from the same place (a bystander
  behind the same NAT or gateway), are untouched.
- ACCOUNT, one account from anywhere: looser, against guesses spread over many addresses. It applies
  only to addresses that have failed on that account themselves, so the owner typing the right
  password from an address of their own is never refused because of someone else's guesses, while each
  new address of an attacker gets a single guess at a hot account.
- ADDRESS, one address for any account: only where every attempt costs something whoever makes it
  (mailing a code; asking after unknown addresses' SRP attributes), never for checking a password.

A key is counted whether or not its account exists, so how the limiter answers never tells.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Callable
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
    PAIR = "pair"  # one account from one address
    ACCOUNT = "account"  # one account from anywhere
    ADDRESS = "address"  # one address, whatever the account


# Actions whose every attempt costs the same whoever makes it, so one address gets a budget of its own.
ADDRESS_LIMITED = frozenset({Action.OTT_SEND, Action.SRP_ATTRIBUTES})


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
    """What a limit counts against."""

    action: Action
    scope: Scope
    value: str

    @property
    def digest(self) -> str:
        # Hashed: the table holds no email addresses, and every key has the same size.
        return hashlib.sha256(f"{self.action}\0{self.scope}\0{self.value}".encode()).hexdigest()


def address_key(address: str) -> str:
    """IPv6 addresses are counted by /64, the block one subscriber gets: one client, one key."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


@dataclass(frozen=True)
class Attempt:
    """One try at an action: by whom (an account name, compared case-insensitively) and from where."""

    action: Action
    account: str | None
    address: str | None

    def key(self, scope: Scope) -> Key | None:
        account = (self.account or "").strip().lower() or None
        address = address_key(self.address) if self.address else None
        if scope is Scope.PAIR and account and address:
            return Key(self.action, scope, f"{account}\0{address}")
        if scope is Scope.ACCOUNT and account:
            return Key(self.action, scope, account)
        if scope is Scope.ADDRESS and address and self.action in ADDRESS_LIMITED:
            return Key(self.action, scope, address)
        return None

    def keys(self) -> list[Key]:
        return [key for scope in Scope if (key := self.key(scope)) is not None]


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


DEFAULT_POLICIES: dict[Scope, Policy] = {
    Scope.PAIR: Policy(free_failures=5, base_seconds=1, max_seconds=15 * 60, forget_after_seconds=3600),
    Scope.ACCOUNT: Policy(free_failures=20, base_seconds=1, max_seconds=15 * 60, forget_after_seconds=3600),
    # Everyone behind one NAT shares it, so it gets more room than one account does.
    Scope.ADDRESS: Policy(free_failures=20, base_seconds=1, max_seconds=15 * 60, forget_after_seconds=3600),
}


def _now() -> datetime:
    return datetime.now(UTC)


class RateLimiter:
    """`check` before an attempt, `fail` after a failed one, `succeed` after a success."""

    def __init__(self, db: Database, policies: dict[Scope, Policy] | None = None,
                 clock: Callable[[], datetime] = _now) -> None:
        self.db = db
        self.policies = policies or DEFAULT_POLICIES
        self.clock = clock

    async def retry_after(self, attempt: Attempt) -> float:
        """Seconds until the attempt may be made; 0 when nothing holds it back."""
        keys = attempt.keys()
        if not keys:
            return 0.0
        now = self.clock()
        async with self.db.transaction() as session:
            rows = {row.key: row for row in (await session.execute(
                select(RateLimit).where(RateLimit.key.in_([k.digest for k in keys]))
            )).scalars()}

        def wait(key: Key | None) -> float:
            row = rows.get(key.digest) if key else None
            if row is None or row.blocked_until is None:
                return 0.0
            return max(0.0, (row.blocked_until - now).total_seconds())

        def recent_failures(key: Key) -> int:
            row = rows.get(key.digest)
            forget = timedelta(seconds=self.policies[key.scope].forget_after_seconds)
            return row.failures if row is not None and row.updated_at >= now - forget else 0

        pair = attempt.key(Scope.PAIR)
        waits = [wait(pair), wait(attempt.key(Scope.ADDRESS))]
        # The account's limit holds back only an address that has failed on it (or an unknown address).
        if pair is None or recent_failures(pair) > 0:
            waits.append(wait(attempt.key(Scope.ACCOUNT)))
        return max(waits)

    async def check(self, attempt: Attempt) -> None:
        wait = await self.retry_after(attempt)
        if wait > 0:
            raise RateLimited(wait)

    async def is_limited(self, attempt: Attempt) -> bool:
        return await self.retry_after(attempt) > 0

    async def fail(self, attempt: Attempt) -> None:
        """Count a failure (or any attempt that spends the allowance) against each of its keys."""
        now = self.clock()
        async with self.db.transaction() as session:
            for key in sorted(set(attempt.keys()), key=lambda k: k.digest):  # one lock order: no deadlocks
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

    async def succeed(self, attempt: Attempt) -> None:
        """A success clears the pair only: the account's count runs on, or one success by its owner would
        hand a distributed attacker a fresh allowance; the address's too, where it has one."""
        pair = attempt.key(Scope.PAIR)
        if pair is not None:
            async with self.db.transaction() as session:
                await session.execute(delete(RateLimit).where(RateLimit.key == pair.digest))
