"""The library's queries, in one place: every read of items, collections, memberships, shares, trash,
links and what compute and the replicator reported, plus the few writes that are more than adding a row.

Each function works in the caller's session (the caller owns the transaction); `lock` takes the rows
`FOR UPDATE`. Pages are fetched one row past `limit`, so the caller learns whether more follow.
Quota accounting keeps its own conditional updates in `quota.py`.

Ids and times arrive from clients: an id no bigint can hold names nothing (no query is sent), and a time
past the largest bigint is the largest, so no input becomes a database error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_metadata.kinds import Change, CollectionType, ItemStatus, VariantStatus
from shoebox_metadata.models import (
    Collection,
    CollectionFile,
    Copy,
    FileLink,
    Item,
    ItemVersion,
    PublicLink,
    Share,
    TrashEntry,
    Variant,
)

Row = TypeVar("Row")

BIGINT_MAX = 2**63 - 1
ALBUM_TYPES = (CollectionType.ALBUM, CollectionType.FOLDER)  # what v1 lists as albums


def is_id(*values: int) -> bool:
    """Whether each value could be a row's id (a positive bigint)."""
    return all(0 < v <= BIGINT_MAX for v in values)


def bounded(value: int) -> int:
    """A client's time or count, within what a bigint holds (with room for the one extra row of a page)."""
    return max(-BIGINT_MAX, min(value, BIGINT_MAX - 1))


def page(rows: Sequence[Row], limit: int) -> tuple[list[Row], bool]:
    """The first `limit` rows, and whether there were more."""
    return list(rows[:limit]), len(rows) > limit


# --- items ---------------------------------------------------------------------------------------------

async def item(session: AsyncSession, item_id: int, *, lock: bool = False) -> Item | None:
    return await session.get(Item, item_id, with_for_update=lock) if is_id(item_id) else None


async def awaiting_upload(session: AsyncSession, refs: Sequence[tuple[int, int]]) -> list[int]:
    """Of these (owner, item) pairs, the ids of the items that are that owner's and still wait for an upload."""
    wanted = [(owner, item) for owner, item in refs if is_id(owner, item)]
    if not wanted:
        return []
    return list((await session.execute(select(Item.id).where(
        tuple_(Item.owner_id, Item.id).in_(wanted), Item.status == ItemStatus.UPLOAD_PENDING))).scalars())


async def item_with_object(session: AsyncSession, owner_id: int, object_key: str) -> Item | None:
    """The owner's item committed with this object (the first, should a race ever have made two)."""
    return (await session.execute(select(Item).where(
        Item.owner_id == owner_id, Item.object_key == object_key).order_by(Item.id).limit(1))).scalar_one_or_none()


async def stored_with_sha256(session: AsyncSession, owner_id: int) -> list[Item]:
    """The owner's stored items that have a SHA-256, by hash then id."""
    return list((await session.execute(
        select(Item).where(Item.owner_id == owner_id, Item.status == ItemStatus.STORED, Item.sha256.is_not(None))
        .order_by(Item.sha256, Item.id)
    )).scalars())


async def record_change(session: AsyncSession, item: Item, actor: int | None, change: Change,
                        data: dict[str, Any] | None = None) -> None:
    """Append to the item's history, at the item's clock."""
    session.add(ItemVersion(item_id=item.id, at=item.updation_time, actor_id=actor, change=change, data=data or {}))


async def variants_of(session: AsyncSession, item_id: int) -> list[Variant]:
    return list((await session.execute(
        select(Variant).where(Variant.item_id == item_id).order_by(Variant.name))).scalars())


async def variant(session: AsyncSession, item_id: int, name: str, *, lock: bool = False) -> Variant | None:
    return await session.get(Variant, (item_id, name), with_for_update=lock)


async def expect_variant(session: AsyncSession, item_id: int, name: str) -> None:
    """A variant compute will make: `processing` until it reports (kept as it is if it exists)."""
    await session.execute(insert(Variant).values(item_id=item_id, name=name, status=VariantStatus.PROCESSING)
                          .on_conflict_do_nothing())


async def copies_of(session: AsyncSession, item_id: int) -> list[Copy]:
    return list((await session.execute(
        select(Copy).where(Copy.item_id == item_id).order_by(Copy.object_key, Copy.tier))).scalars())


async def record_copy(session: AsyncSession, object_key: str, tier: str, item_id: int | None, size: int) -> None:
    await session.execute(insert(Copy).values(object_key=object_key, tier=tier, item_id=item_id, size=size)
                          .on_conflict_do_nothing())


async def own_items_page(session: AsyncSession, owner_id: int, statuses: Sequence[str], before: int | None,
                         limit: int) -> tuple[list[Item], bool]:
    """The owner's items in `statuses`, newest (highest id) first, after the cursor's id."""
    query = select(Item).where(Item.owner_id == owner_id, Item.status.in_(statuses))
    if before is not None:
        query = query.where(Item.id < before)
    rows = (await session.execute(query.order_by(Item.id.desc()).limit(bounded(limit) + 1))).scalars().all()
    return page(rows, limit)


# --- collections and memberships ----------------------------------------------------------------------

async def collection(session: AsyncSession, collection_id: int, *, lock: bool = False) -> Collection | None:
    if not is_id(collection_id):
        return None
    return await session.get(Collection, collection_id, with_for_update=lock)


async def membership(session: AsyncSession, collection_id: int, item_id: int, *, lock: bool = False
                     ) -> CollectionFile | None:
    if not is_id(collection_id, item_id):
        return None
    return await session.get(CollectionFile, (collection_id, item_id), with_for_update=lock)


async def live_memberships_of(session: AsyncSession, item_id: int) -> list[tuple[CollectionFile, Collection]]:
    """The item's current memberships, each with its collection (by owner, so clocks lock in order)."""
    rows = (await session.execute(
        select(CollectionFile, Collection).join(Collection)
        .where(CollectionFile.item_id == item_id, CollectionFile.is_deleted.is_(False))
        .order_by(Collection.owner_id, Collection.id)
    )).all()
    return [(m, c) for m, c in rows]


async def collections_holding(session: AsyncSession, item_id: int) -> list[Collection]:
    return list((await session.execute(select(Collection).join(CollectionFile).where(
        CollectionFile.item_id == item_id, CollectionFile.is_deleted.is_(False)))).scalars())


async def albums_holding(session: AsyncSession, owner_id: int, item_id: int) -> list[int]:
    """The ids of the owner's live collections the item is in."""
    return list((await session.execute(
        select(CollectionFile.collection_id).join(Collection)
        .where(CollectionFile.item_id == item_id, CollectionFile.is_deleted.is_(False),
               Collection.owner_id == owner_id, Collection.is_deleted.is_(False))
        .order_by(CollectionFile.collection_id)
    )).scalars())


async def album_page(session: AsyncSession, collection_id: int, statuses: Sequence[str],
                     after: tuple[int, int] | None, limit: int) -> tuple[list[tuple[CollectionFile, Item]], bool]:
    """A collection's live members in `statuses`, the latest added first, after the cursor's (added_at, item)."""
    query = (select(CollectionFile, Item).join(Item, Item.id == CollectionFile.item_id)
             .where(CollectionFile.collection_id == collection_id, CollectionFile.is_deleted.is_(False),
                    Item.status.in_(statuses)))
    if after is not None:
        query = query.where(tuple_(CollectionFile.added_at, CollectionFile.item_id) < tuple_(*after))
    rows = (await session.execute(query.order_by(CollectionFile.added_at.desc(), CollectionFile.item_id.desc())
                                  .limit(bounded(limit) + 1))).all()
    return page([(m, i) for m, i in rows], limit)


async def member_count(session: AsyncSession, collection_id: int, statuses: Sequence[str]) -> int:
    return int((await session.execute(
        select(func.count()).select_from(CollectionFile).join(Item, Item.id == CollectionFile.item_id)
        .where(CollectionFile.collection_id == collection_id, CollectionFile.is_deleted.is_(False),
               Item.status.in_(statuses))
    )).scalar_one())


async def own_albums_page(session: AsyncSession, owner_id: int, before: int | None, limit: int
                          ) -> tuple[list[Collection], bool]:
    """The owner's live albums and folders, newest first, after the cursor's id."""
    query = select(Collection).where(Collection.owner_id == owner_id, Collection.is_deleted.is_(False),
                                     Collection.type.in_(ALBUM_TYPES))
    if before is not None:
        query = query.where(Collection.id < before)
    rows = (await session.execute(query.order_by(Collection.id.desc()).limit(bounded(limit) + 1))).scalars().all()
    return page(rows, limit)


async def a_collection_of(session: AsyncSession, owner_id: int, item_id: int) -> int | None:
    """One of the owner's collections the item is in."""
    if not is_id(item_id):
        return None
    found: int | None = (await session.execute(
        select(CollectionFile.collection_id).join(Collection)
        .where(CollectionFile.item_id == item_id, CollectionFile.is_deleted.is_(False),
               Collection.owner_id == owner_id).limit(1)
    )).scalar_one_or_none()
    return found


async def collections_changed_since(session: AsyncSession, user_id: int, since: int
                                    ) -> list[tuple[Collection, Share | None]]:
    """The user's collections changed after `since`, and those shared with them whose share or collection
    changed after it, with the user's share (None for their own)."""
    since = bounded(since)
    rows = (await session.execute(
        select(Collection, Share).outerjoin(Share, and_(Share.collection_id == Collection.id,
                                                        Share.user_id == user_id))
        .where(or_(and_(Collection.owner_id == user_id, Collection.updation_time > since),
                   and_(Share.user_id == user_id,
                        or_(Share.updation_time > since, Collection.updation_time > since))))
        .order_by(Collection.id)
    )).all()
    return [(c, s) for c, s in rows]


# --- shares --------------------------------------------------------------------------------------------

async def share(session: AsyncSession, collection_id: int, user_id: int, *, lock: bool = False) -> Share | None:
    if not is_id(collection_id, user_id):
        return None
    return await session.get(Share, (collection_id, user_id), with_for_update=lock)


async def live_shares(session: AsyncSession, collection_id: int) -> list[Share]:
    return list((await session.execute(select(Share).where(
        Share.collection_id == collection_id, Share.is_deleted.is_(False)))).scalars())


async def live_shares_of(session: AsyncSession, collection_ids: Sequence[int]) -> dict[int, list[Share]]:
    """The live shares of each of these collections, in one query (a list of albums must not cost one each)."""
    found: dict[int, list[Share]] = {collection_id: [] for collection_id in collection_ids}
    if found:
        for share in (await session.execute(select(Share).where(
                Share.collection_id.in_(found), Share.is_deleted.is_(False))
                .order_by(Share.collection_id, Share.user_id))).scalars():
            found[share.collection_id].append(share)
    return found


async def live_share_by_email(session: AsyncSession, collection_id: int, email: str) -> Share | None:
    return (await session.execute(select(Share).where(
        Share.collection_id == collection_id, Share.email == email, Share.is_deleted.is_(False))
    )).scalar_one_or_none()


async def in_collection_readable_by(session: AsyncSession, item_id: int, user_id: int) -> bool:
    """Whether the item is in a live collection the user owns or that is currently shared with them."""
    shared_with_user = select(Share.collection_id).where(Share.user_id == user_id, Share.is_deleted.is_(False))
    found = await session.execute(
        select(CollectionFile.item_id).join(Collection)
        .where(CollectionFile.item_id == item_id, CollectionFile.is_deleted.is_(False),
               Collection.is_deleted.is_(False),
               or_(Collection.owner_id == user_id, Collection.id.in_(shared_with_user))).limit(1)
    )
    return found.first() is not None


# --- trash ---------------------------------------------------------------------------------------------

async def trash_entry(session: AsyncSession, item_id: int, *, lock: bool = False) -> TrashEntry | None:
    return await session.get(TrashEntry, item_id, with_for_update=lock) if is_id(item_id) else None


async def trashed_up_to(session: AsyncSession, owner_id: int, last_updated_at: int) -> list[Item]:
    """The owner's items still in the trash whose entry changed at or before `last_updated_at`, locked."""
    return list((await session.execute(
        select(Item).join(TrashEntry, TrashEntry.item_id == Item.id)
        .where(TrashEntry.owner_id == owner_id, TrashEntry.is_deleted.is_(False),
               TrashEntry.is_restored.is_(False), TrashEntry.updated_at <= bounded(last_updated_at),
               Item.status == ItemStatus.TRASHED).with_for_update(of=Item)
    )).scalars())


async def trash_due(session: AsyncSession, now: int, limit: int) -> list[int]:
    """Items whose time in the trash is over (`delete_by` before `now`), the longest overdue first."""
    return list((await session.execute(
        select(TrashEntry.item_id).join(Item, Item.id == TrashEntry.item_id)
        .where(TrashEntry.is_deleted.is_(False), TrashEntry.is_restored.is_(False), TrashEntry.delete_by < now,
               Item.status == ItemStatus.TRASHED)
        .order_by(TrashEntry.delete_by).limit(limit)
    )).scalars())


async def trash_since(session: AsyncSession, owner_id: int, since: int, limit: int
                      ) -> tuple[list[tuple[TrashEntry, Item]], bool]:
    rows = (await session.execute(
        select(TrashEntry, Item).join(Item, Item.id == TrashEntry.item_id)
        .where(TrashEntry.owner_id == owner_id, TrashEntry.updated_at > bounded(since))
        .order_by(TrashEntry.updated_at).limit(bounded(limit) + 1)
    )).all()
    return page([(e, i) for e, i in rows], limit)


# --- public links --------------------------------------------------------------------------------------

async def active_link(session: AsyncSession, collection_id: int, *, lock: bool = False) -> PublicLink | None:
    query = select(PublicLink).where(PublicLink.collection_id == collection_id, PublicLink.is_disabled.is_(False))
    return (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()


async def active_links_of(session: AsyncSession, collection_ids: Sequence[int]) -> list[PublicLink]:
    return list((await session.execute(select(PublicLink).where(
        PublicLink.collection_id.in_(list(collection_ids)), PublicLink.is_disabled.is_(False)))).scalars())


async def public_link(session: AsyncSession, link_id: int) -> PublicLink | None:
    return await session.get(PublicLink, link_id, with_for_update=True) if is_id(link_id) else None


async def link_by_token(session: AsyncSession, token: str) -> PublicLink | None:
    return (await session.execute(select(PublicLink).where(PublicLink.token == token))).scalar_one_or_none()


async def link_and_collection(session: AsyncSession, token: str) -> tuple[PublicLink, Collection] | None:
    row = (await session.execute(
        select(PublicLink, Collection).join(Collection, Collection.id == PublicLink.collection_id)
        .where(PublicLink.token == token)
    )).first()
    return (row[0], row[1]) if row is not None else None


async def file_link_and_item(session: AsyncSession, link_id: int, item_id: int) -> tuple[FileLink, Item] | None:
    if not is_id(link_id, item_id):
        return None
    row = (await session.execute(select(FileLink, Item).join(Item, Item.id == FileLink.item_id).where(
        FileLink.id == link_id, FileLink.item_id == item_id))).first()
    return (row[0], row[1]) if row is not None else None


async def file_link_by_token(session: AsyncSession, token: str) -> tuple[FileLink, Item] | None:
    row = (await session.execute(select(FileLink, Item).join(Item, Item.id == FileLink.item_id)
                                 .where(FileLink.token == token))).first()
    return (row[0], row[1]) if row is not None else None


# --- an owner's whole library (when their account is deleted) -------------------------------------------

async def items_of(session: AsyncSession, owner_id: int) -> list[Item]:
    """Every item of the owner not yet deleted for good, locked."""
    return list((await session.execute(
        select(Item).where(Item.owner_id == owner_id, Item.status != ItemStatus.DELETED)
        .order_by(Item.id).with_for_update()
    )).scalars())


async def collections_of(session: AsyncSession, owner_id: int) -> list[Collection]:
    """The owner's live collections, locked."""
    return list((await session.execute(
        select(Collection).where(Collection.owner_id == owner_id, Collection.is_deleted.is_(False))
        .order_by(Collection.id).with_for_update()
    )).scalars())


async def live_memberships_in(session: AsyncSession, collection_id: int) -> list[CollectionFile]:
    return list((await session.execute(select(CollectionFile).where(
        CollectionFile.collection_id == collection_id, CollectionFile.is_deleted.is_(False)))).scalars())


async def live_shares_to(session: AsyncSession, user_id: int) -> list[tuple[Share, Collection]]:
    """The live shares others gave the user, each with its collection (by the collection's owner)."""
    rows = (await session.execute(
        select(Share, Collection).join(Collection, Collection.id == Share.collection_id)
        .where(Share.user_id == user_id, Share.is_deleted.is_(False))
        .order_by(Collection.owner_id, Collection.id)
    )).all()
    return [(s, c) for s, c in rows]


async def owners_of_collections_holding(session: AsyncSession, owner_id: int) -> list[int]:
    """Who owns a collection in which one of the owner's items currently is (the owner included)."""
    return list((await session.execute(
        select(Collection.owner_id).distinct().join(CollectionFile).join(Item, Item.id == CollectionFile.item_id)
        .where(Item.owner_id == owner_id, CollectionFile.is_deleted.is_(False))
    )).scalars())
