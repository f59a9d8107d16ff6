"""Each owner's change clock: microseconds, strictly increasing, one tick per changed row.

Delta sync (`sinceTime`) is exact because of two properties: every change of an owner's data gets a
distinct clock value, and those values are handed out under the owner's `accounts` row lock, held until
the transaction commits — so changes commit in clock order, and a client that has seen clock value t has
seen every change at or before t.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_metadata.models import Account
from shoebox_metadata.quota import ensure_account


def now_us() -> int:
    return time.time_ns() // 1000


async def tick(session: AsyncSession, owner_id: int, count: int = 1, *, default_quota: int) -> list[int]:
    """`count` fresh clock values for the owner, in increasing order (creating the account if new)."""
    await ensure_account(session, owner_id, default_quota)
    last = (await session.execute(
        update(Account).where(Account.owner_id == owner_id)
        .values(clock_us=func.greatest(Account.clock_us + count, now_us()))
        .returning(Account.clock_us)
    )).scalar_one()
    return list(range(last - count + 1, last + 1))


class Clock:
    """The owners' clocks, creating an owner's account (with the default quota) on its first change."""

    def __init__(self, default_quota: int) -> None:
        self.default_quota = default_quota

    async def tick(self, session: AsyncSession, owner_id: int, count: int = 1) -> list[int]:
        return await tick(session, owner_id, count, default_quota=self.default_quota)

    async def next(self, session: AsyncSession, owner_id: int) -> int:
        return (await self.tick(session, owner_id))[0]

    async def hold(self, session: AsyncSession, owner_ids: Iterable[int]) -> None:
        """Lock several owners' clocks up front, by ascending id, for a change that ticks more than one
        (a file in someone else's album): two such changes then never wait on each other in a cycle."""
        for owner_id in sorted(set(owner_ids)):
            await ensure_account(session, owner_id, self.default_quota)
            await session.execute(select(Account.owner_id).where(Account.owner_id == owner_id).with_for_update())
