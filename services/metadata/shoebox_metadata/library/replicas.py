"""The health of every object's copies, as the replicator reports it, and the figures it makes per owner.

A tier's copy is *good* when nothing says otherwise: PRIMARY holds every stored object unless its copy is
recorded bad; another tier holds one only with a `copies` row (a verified copy) and no bad record. An object
with no good copy anywhere is *damaged*: never served, counted on its own and owed by no tier (there is
nothing left to copy it from). Every other object a tier lacks is *owed* to it, since it was stored, or since
that tier's copy was found bad.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    Subquery,
    Values,
    and_,
    column,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    values,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.db import Database
from shoebox_lib.errors import ShoeboxError
from shoebox_lib.settings import Tier
from shoebox_metadata.kinds import VariantStatus
from shoebox_metadata.library import repo
from shoebox_metadata.models import BadCopy, Copy, DamagedObject, Item, Variant
from shoebox_metadata.quota import COUNTED

PRIMARY: Tier = "primary"


class Damaged(ShoeboxError):
    """No tier holds a copy that hashes as it should: wrong bytes are worse than none, so nothing is served.
    409: the request is fine, the object's state refuses it, and asking again does not help."""

    status_code = 409
    code = "DAMAGED"


DAMAGED = "No good copy of this object is left; an operator has been told"


@dataclass(frozen=True)
class Health:
    bad_tiers: frozenset[str]
    damaged: bool


async def health_of(session: AsyncSession, key: str) -> Health:
    """The tiers whose copy of the object is recorded bad, and whether it is damaged: one query, on the two
    tables' primary keys."""
    bad = (select(func.array_agg(BadCopy.tier)).where(BadCopy.object_key == key, BadCopy.repaired_at.is_(None))
           .scalar_subquery())
    tiers, damaged = (await session.execute(select(bad, exists().where(DamagedObject.object_key == key)))).one()
    return Health(bad_tiers=frozenset(tiers or ()), damaged=bool(damaged))


async def mark_bad(session: AsyncSession, key: str, tier: str, item_id: int | None, found_at: datetime) -> None:
    """`replica.damaged`: reads skip the tier; a replica tier no longer holds a verified copy. Unless the copy
    was reported repaired after this was found."""
    applied = (await session.execute(
        insert(BadCopy).values(object_key=key, tier=tier, item_id=item_id, found_at=found_at)
        .on_conflict_do_update(index_elements=[BadCopy.object_key, BadCopy.tier],
                               set_={"found_at": found_at, "repaired_at": None},
                               where=BadCopy.repaired_at < found_at)
        .returning(BadCopy.tier))).scalar_one_or_none()
    if applied is not None and tier != PRIMARY:
        await session.execute(delete(Copy).where(Copy.object_key == key, Copy.tier == tier))


async def mark_repaired(session: AsyncSession, key: str, tier: str, item_id: int | None, size: int,
                        repaired_at: datetime) -> None:
    """`replica.repaired`: the tier's copy hashes right again, so the object has a good copy somewhere. Kept
    as a row of its own even when no bad report came first, so one found earlier and arriving later is
    known to be old."""
    applied = (await session.execute(
        insert(BadCopy).values(object_key=key, tier=tier, item_id=item_id, found_at=repaired_at,
                               repaired_at=repaired_at)
        .on_conflict_do_update(index_elements=[BadCopy.object_key, BadCopy.tier],
                               set_={"repaired_at": repaired_at},
                               where=func.coalesce(BadCopy.repaired_at, BadCopy.found_at) <= repaired_at)
        .returning(BadCopy.tier))).scalar_one_or_none()
    if applied is None:
        return
    await session.execute(delete(DamagedObject).where(DamagedObject.object_key == key,
                                                      DamagedObject.found_at <= repaired_at))
    if tier != PRIMARY:
        await repo.record_copy(session, key, tier, item_id, size)


async def mark_damaged(session: AsyncSession, key: str, item_id: int | None, owner_id: int | None,
                       found_at: datetime) -> None:
    """`object.damaged`: no good copy on any tier, so no tier holds a verified one either. Unless a copy was
    reported repaired after this was found."""
    repaired_since = exists().where(BadCopy.object_key == key, BadCopy.repaired_at >= found_at)
    if (await session.execute(select(repaired_since))).scalar_one():
        return
    await session.execute(insert(DamagedObject).values(object_key=key, item_id=item_id, owner_id=owner_id,
                                                       found_at=found_at).on_conflict_do_nothing())
    await session.execute(delete(Copy).where(Copy.object_key == key))


@dataclass(frozen=True)
class TierFigures:
    tier: str
    copies: int  # objects with a good copy on this tier
    copied_bytes: int
    owed: int  # objects still owed a (good) copy here, damaged ones aside
    owed_bytes: int
    lag_seconds: int  # how long the longest-owed object has been owed; 0 when none is
    bad: int  # copies recorded bad and not repaired yet


@dataclass(frozen=True)
class ReplicationFigures:
    objects: int  # the owner's stored objects: originals, thumbnails and variants
    bytes: int
    damaged: int  # objects with no good copy left
    tiers: dict[str, TierFigures]


def _owner_objects(owner_id: int) -> Subquery:
    """Every object the owner's kept items have, with its size and since when it is stored."""
    kept = and_(Item.owner_id == owner_id, Item.status.in_(COUNTED))  # in the library or in its trash
    since = func.coalesce(Item.stored_at, Item.created_at)
    # An Ente file's `size` counts its thumbnail too (what its quota is charged).
    original_size = func.coalesce(Item.size, 0) - func.coalesce(Item.thumbnail_size, 0)
    return union_all(
        select(Item.object_key.label("key"), original_size.label("size"), since.label("since"))
        .where(kept, Item.object_key.is_not(None)),
        select(Item.thumbnail_object_key, func.coalesce(Item.thumbnail_size, 0), since)
        .where(kept, Item.thumbnail_object_key.is_not(None)),
        select(Variant.object_key, func.coalesce(Variant.size, 0), Variant.updated_at)
        .join(Item, Item.id == Variant.item_id)
        .where(kept, Variant.object_key.is_not(None), Variant.status == VariantStatus.READY),
    ).subquery("objects")


class Replication:
    """The figures `/storage/replication-info` and `/storage/detailed-usage` answer from."""

    def __init__(self, db: Database, tiers: Sequence[str]) -> None:
        self.db = db
        self.tiers = list(tiers)

    async def figures(self, owner_id: int) -> ReplicationFigures:
        """Two aggregate queries: the owner's objects and damage, then every tier's copies over them."""
        objs = _owner_objects(owner_id)
        tiers = values(column("tier", String), name="tiers").data([(t,) for t in self.tiers])
        damaged = DamagedObject.object_key.is_not(None)
        good = and_(BadCopy.object_key.is_(None), ~damaged,
                    or_(tiers.c.tier == literal(PRIMARY), Copy.object_key.is_not(None)))
        owed = and_(~good, ~damaged)
        owed_since = func.min(func.coalesce(BadCopy.found_at, objs.c.since)).filter(owed)
        async with self.db.transaction() as session:
            total, size, broken = (await session.execute(
                select(func.count(), func.coalesce(func.sum(objs.c.size), 0), func.count(DamagedObject.object_key))
                .select_from(objs).outerjoin(DamagedObject, DamagedObject.object_key == objs.c.key)
            )).one()
            rows = (await session.execute(
                select(
                    tiers.c.tier,
                    func.count().filter(good),
                    func.coalesce(func.sum(func.coalesce(Copy.size, objs.c.size)).filter(good), 0),
                    func.count().filter(owed),
                    func.coalesce(func.sum(objs.c.size).filter(owed), 0),
                    func.coalesce(func.floor(func.extract("epoch", func.now() - owed_since)), 0).cast(BigInteger),
                    func.count(BadCopy.object_key),
                )
                .select_from(tiers.join(objs, true()).outerjoin(Copy, _on_tier(Copy, objs, tiers))
                             .outerjoin(BadCopy, and_(_on_tier(BadCopy, objs, tiers), BadCopy.repaired_at.is_(None)))
                             .outerjoin(DamagedObject, DamagedObject.object_key == objs.c.key))
                .group_by(tiers.c.tier)
            )).all()
        # An owner with no objects has no rows: every tier's figures are then zero.
        found = {row[0]: TierFigures(row[0], *(int(v) for v in row[1:])) for row in rows}
        return ReplicationFigures(
            objects=int(total), bytes=int(size), damaged=int(broken),
            tiers={tier: found.get(tier) or TierFigures(tier, 0, 0, 0, 0, 0, 0) for tier in self.tiers})


def _on_tier(table: type[Copy] | type[BadCopy], objs: Subquery, tiers: Values) -> ColumnElement[bool]:
    return and_(table.object_key == objs.c.key, table.tier == tiers.c.tier)
