"""Storage accounting and quota: usage counts PRIMARY copies only, and every check is atomic.

Each change is one conditional UPDATE of the owner's `accounts` row (`… WHERE used + reserved + n <=
quota + bonus`), so fifty concurrent commits cannot together pass the quota: PostgreSQL serialises the
updates of one row, and each re-checks the condition against the row as the previous one left it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.db import Database
from shoebox_lib.errors import InvalidInput, QuotaExceeded
from shoebox_lib.events import UploadEnded
from shoebox_metadata.kinds import ItemStatus
from shoebox_metadata.library.repo import BIGINT_MAX
from shoebox_metadata.models import Account, Copy, Item, Reservation

RESERVATION_LIFETIME = timedelta(hours=24)
# Items whose originals count against the quota: in the library or in its trash.
COUNTED = (ItemStatus.STORED, ItemStatus.TRASHED)


@dataclass(frozen=True)
class Usage:
    used: int
    reserved: int
    quota: int
    bonus: int
    file_count: int

    @property
    def total(self) -> int:
        return self.quota + self.bonus

    @property
    def available(self) -> int:
        return max(0, self.total - self.used - self.reserved)


async def ensure_account(session: AsyncSession, owner_id: int, quota: int) -> None:
    await session.execute(insert(Account).values(
        owner_id=owner_id, quota_bytes=quota, bonus_bytes=0, used_bytes=0, reserved_bytes=0, file_count=0,
        clock_us=0,
    ).on_conflict_do_nothing())


class Quotas:
    def __init__(self, db: Database, default_quota: int) -> None:
        self.db = db
        self.default_quota = default_quota

    async def ensure(self, session: AsyncSession, owner_id: int) -> None:
        """The owner's account exists (with the default quota if it is new)."""
        await ensure_account(session, owner_id, self.default_quota)

    async def _add(self, session: AsyncSession, owner_id: int, *, used: int = 0, reserved: int = 0,
                   files: int = 0, enforce: bool) -> bool:
        """Move the counters; with `enforce`, only if the result fits the quota. True when applied."""
        await self.ensure(session, owner_id)
        query = update(Account).where(Account.owner_id == owner_id).values(
            used_bytes=Account.used_bytes + used, reserved_bytes=Account.reserved_bytes + reserved,
            file_count=Account.file_count + files,
        )
        if enforce:
            query = query.where(Account.used_bytes + Account.reserved_bytes + used + reserved
                                <= Account.quota_bytes + Account.bonus_bytes)
        return (await session.execute(query.returning(Account.owner_id))).first() is not None

    async def reserve(self, session: AsyncSession, owner_id: int, reservation_id: str, size: int) -> Reservation:
        """Hold `size` bytes for an upload; asking again with the same id answers the same reservation.

        The id is claimed first (a concurrent claim of the same id waits for this one), so a retried or
        doubled request never holds twice; an id another owner holds is refused without saying more.
        """
        if size < 0:
            raise InvalidInput("bytes must not be negative")
        claimed = (await session.execute(insert(Reservation).values(
            id=reservation_id, owner_id=owner_id, bytes=size, expires_at=datetime.now(UTC) + RESERVATION_LIFETIME,
        ).on_conflict_do_nothing().returning(Reservation.id))).first()
        if claimed is None:
            existing = await session.get(Reservation, reservation_id)
            if existing is None or existing.owner_id != owner_id or existing.bytes != size:
                raise InvalidInput("This reservation id is taken")
            return existing
        if not await self._add(session, owner_id, reserved=size, enforce=True):
            raise QuotaExceeded("Storage limit exceeded")
        reservation = await session.get(Reservation, reservation_id)
        assert reservation is not None  # claimed in this transaction
        return reservation

    async def hold(self, owner_id: int, reservation_id: str, size: int) -> Reservation:
        """`reserve` in a transaction of its own (the upload signer asks for this on its internal route)."""
        async with self.db.transaction() as session:
            return await self.reserve(session, owner_id, reservation_id, size)

    async def release(self, session: AsyncSession, owner_id: int, reservation_id: str) -> int:
        """Give back a reservation's bytes (nothing if there is none). Returns the bytes released."""
        released = (await session.execute(
            delete(Reservation).where(Reservation.id == reservation_id, Reservation.owner_id == owner_id)
            .returning(Reservation.bytes)
        )).scalar_one_or_none()
        if released:
            await self._add(session, owner_id, reserved=-released, enforce=False)
        return int(released or 0)

    async def upload_ended(self, session: AsyncSession, event: UploadEnded) -> None:
        """An upload ended without completing (aborted, failed, expired): its hold is given back. Only the
        hold of that owner: the same id held by someone else stays."""
        await self.release(session, event.owner_id, event.upload_id)

    async def store(self, session: AsyncSession, owner_id: int, size: int, *, reservation_ids: Sequence[str] = (),
                    enforce: bool = True) -> None:
        """Count a newly stored original, out of the reservations that held its bytes.

        Releasing a reservation and then checking the whole size is the same check as taking the size out
        of the reservation: the held bytes were counted until the moment they are used.
        """
        for reservation_id in reservation_ids:
            await self.release(session, owner_id, reservation_id)
        if not await self._add(session, owner_id, used=size, files=1, enforce=enforce):
            raise QuotaExceeded("Storage limit exceeded")

    async def unstore(self, session: AsyncSession, owner_id: int, size: int) -> None:
        await self._add(session, owner_id, used=-size, files=-1, enforce=False)

    async def usage(self, owner_id: int) -> Usage:
        async with self.db.transaction() as session:
            await self.ensure(session, owner_id)
            account = (await session.execute(select(Account).where(Account.owner_id == owner_id))).scalar_one()
            return Usage(used=account.used_bytes, reserved=account.reserved_bytes, quota=account.quota_bytes,
                         bonus=account.bonus_bytes, file_count=account.file_count)

    async def expire_reservations(self) -> int:
        """Release reservations of uploads nobody finished."""
        async with self.db.transaction() as session:
            stale = (await session.execute(
                delete(Reservation).where(Reservation.expires_at < datetime.now(UTC))
                .returning(Reservation.owner_id, Reservation.bytes)
            )).all()
            for owner_id, size in stale:
                await self._add(session, owner_id, reserved=-size, enforce=False)
        return len(stale)

    async def recount(self, owner_id: int) -> Usage:
        """Recalculate usage from the items themselves (stored and trashed originals count; replicas don't)."""
        async with self.db.transaction() as session:
            await self.ensure(session, owner_id)
            used, count = (await session.execute(
                select(func.coalesce(func.sum(Item.size), 0), func.count())
                .where(Item.owner_id == owner_id, Item.status.in_(COUNTED))
            )).one()
            await session.execute(update(Account).where(Account.owner_id == owner_id)
                                  .values(used_bytes=int(used or 0), file_count=int(count)))
        return await self.usage(owner_id)

    async def tier_usage(self, owner_id: int) -> dict[str, int]:
        """Bytes per tier: PRIMARY from the account, the others from the replicas the replicator reported."""
        async with self.db.transaction() as session:
            replicas = (await session.execute(
                select(Copy.tier, func.coalesce(func.sum(Copy.size), 0)).join(Item, Item.id == Copy.item_id)
                .where(Item.owner_id == owner_id, Item.status.in_(COUNTED)).group_by(Copy.tier)
            )).all()
        return {"primary": (await self.usage(owner_id)).used, **{tier: int(size) for tier, size in replicas}}

    async def set_quota(self, session: AsyncSession, owner_id: int, quota: int) -> None:
        """The owner's allowance, as an admin set it (auth's `account.quota_set`); the bonus stays."""
        if not 0 <= quota <= BIGINT_MAX:
            raise InvalidInput("Quota must be between 0 and 2^63-1")
        await self.ensure(session, owner_id)
        await session.execute(update(Account).where(Account.owner_id == owner_id).values(quota_bytes=quota))

    async def set_limits(self, owner_id: int, *, quota: int | None = None, add_bonus: int = 0) -> Usage:
        if not (0 <= (quota or 0) <= BIGINT_MAX and 0 <= add_bonus <= BIGINT_MAX):
            raise InvalidInput("Quota and bonus must be between 0 and 2^63-1")
        async with self.db.transaction() as session:
            await self.ensure(session, owner_id)
            values: dict[str, object] = {"bonus_bytes": Account.bonus_bytes + add_bonus}
            if quota is not None:
                values["quota_bytes"] = quota
            await session.execute(update(Account).where(Account.owner_id == owner_id).values(**values))
        return await self.usage(owner_id)
