"""One-time codes mailed to an address: six digits, kept only as a keyed hash, valid for minutes, good
for one sign-in, and burnt after a few wrong guesses."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from shoebox_auth.models import EnteEmailCode
from shoebox_auth.ratelimit import RateLimited
from shoebox_lib.db import Database
from shoebox_lib.errors import Gone, Unauthenticated


class IncorrectCode(Unauthenticated):
    code = "INCORRECT_OTT"  # Ente answers 401 to a wrong code


class ExpiredCode(Gone):
    code = "EXPIRED_OTT"  # and 410 when no code is active


class TooManyWrongCodes(RateLimited):
    def __init__(self) -> None:
        # Retry-After is short: the codes are burnt, and asking for a new one is the way on.
        super().__init__(1, "Too many incorrect codes; ask for a new one")


@dataclass(frozen=True)
class Redeemed:
    purpose: str


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


class OneTimeCodes:
    def __init__(self, db: Database, secret_key: str, *, ttl_seconds: int, max_wrong_attempts: int) -> None:
        self.db = db
        # Keyed: six digits are a million guesses, nothing against anyone who reads the table.
        self._key = hashlib.sha256(b"shoebox/ente/email-code\0" + secret_key.encode()).digest()
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_wrong_attempts = max_wrong_attempts

    def _hash(self, email: str, code: str) -> str:
        return hmac.new(self._key, f"{email}\0{code}".encode(), hashlib.sha256).hexdigest()

    async def issue(self, email: str, purpose: str, code: str | None = None) -> str:
        """A new active code for `email` (normalised), beside any still active. Returns it."""
        code = code or new_code()
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            # Spent and expired codes are of no further use to anyone; codes live minutes, so this is few rows.
            await session.execute(delete(EnteEmailCode).where(
                EnteEmailCode.used_at.is_not(None) | (EnteEmailCode.expires_at <= now)))
            session.add(EnteEmailCode(email=email, code_hash=self._hash(email, code), purpose=purpose,
                                      wrong_attempts=0, expires_at=now + self.ttl))
        return code

    async def redeem(self, email: str, code: str) -> Redeemed:
        """Spend the matching code (and with it every other active code of the address).

        Raises IncorrectCode, ExpiredCode (none active) or TooManyWrongCodes (they are now burnt).
        """
        now = datetime.now(UTC)
        given = self._hash(email, code.strip())
        async with self.db.transaction() as session:
            active = list((await session.execute(
                select(EnteEmailCode).where(EnteEmailCode.email == email, EnteEmailCode.used_at.is_(None),
                                            EnteEmailCode.expires_at > now)
                .order_by(EnteEmailCode.id).with_for_update()
            )).scalars())
            if not active:
                raise ExpiredCode("The code has expired or was already used; ask for a new one")
            match = None
            for row in active:  # every row compared, in constant time, whichever matches
                if hmac.compare_digest(row.code_hash, given):
                    match = row
            ids = [row.id for row in active]
            if match is not None:
                await session.execute(update(EnteEmailCode).where(EnteEmailCode.id.in_(ids)).values(used_at=now))
                return Redeemed(purpose=match.purpose)
            wrong = max(row.wrong_attempts for row in active) + 1
            burnt = wrong >= self.max_wrong_attempts
            await session.execute(update(EnteEmailCode).where(EnteEmailCode.id.in_(ids)).values(
                wrong_attempts=wrong, used_at=now if burnt else None))
        # Raised after the transaction has committed the count.
        if burnt:
            raise TooManyWrongCodes()
        raise IncorrectCode("Incorrect code")
