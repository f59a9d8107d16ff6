"""The store's queries: its entities (the space's live items and collections), their tree and history.

An entity is live while it is stored or soft-deleted; an item deleted for good, or a collection gone for
good, is no entity any more (its row stays, so its id is never given again)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_metadata.kinds import ItemStatus, VariantStatus
from shoebox_metadata.library.repo import is_id
from shoebox_metadata.models import Collection, CollectionFile, Item, ItemVersion, Variant
from shoebox_metadata.store.space import STORE_SPACE

LIVE_ITEM = (ItemStatus.STORED, ItemStatus.TRASHED)
# How deep collections nest (CL's rule); a chain walk never goes further than this and one more.
MAX_DEPTH = 10


async def item(session: AsyncSession, entity_id: int, *, lock: bool = False) -> Item | None:
    if not is_id(entity_id):
        return None
    statement = select(Item).where(Item.id == entity_id, Item.owner_id == STORE_SPACE, Item.status.in_(LIVE_ITEM))
    return (await session.execute(statement.with_for_update() if lock else statement)).scalar_one_or_none()


async def collection(session: AsyncSession, entity_id: int, *, lock: bool = False) -> Collection | None:
    if not is_id(entity_id):
        return None
    statement = select(Collection).where(Collection.id == entity_id, Collection.owner_id == STORE_SPACE,
                                         Collection.is_deleted.is_(False))
    return (await session.execute(statement.with_for_update() if lock else statement)).scalar_one_or_none()


async def live_duplicate(session: AsyncSession, md5: str, *, other_than: int | None = None) -> Item | None:
    statement = select(Item).where(Item.owner_id == STORE_SPACE, Item.md5 == md5, Item.status == ItemStatus.STORED)
    if other_than is not None:
        statement = statement.where(Item.id != other_than)
    return (await session.execute(statement.limit(1))).scalar_one_or_none()


async def parents_of(session: AsyncSession, item_ids: Sequence[int]) -> dict[int, int]:
    """The collection each item is in (a store file is in at most one)."""
    if not item_ids:
        return {}
    rows = await session.execute(select(CollectionFile.item_id, CollectionFile.collection_id).where(
        CollectionFile.item_id.in_(item_ids), CollectionFile.is_deleted.is_(False)))
    return {item_id: collection_id for item_id, collection_id in rows.all()}


async def membership(session: AsyncSession, item_id: int) -> CollectionFile | None:
    return (await session.execute(select(CollectionFile).where(
        CollectionFile.item_id == item_id, CollectionFile.is_deleted.is_(False)).with_for_update().limit(1)
    )).scalar_one_or_none()


async def children_counts(session: AsyncSession, collection_ids: Sequence[int]) -> dict[int, int]:
    """How many live entities each collection holds directly."""
    if not collection_ids:
        return {}
    sub_collections = select(Collection.parent_id.label("parent")).where(
        Collection.parent_id.in_(collection_ids), Collection.is_deleted.is_(False))
    files = select(CollectionFile.collection_id.label("parent")).join(Item, Item.id == CollectionFile.item_id).where(
        CollectionFile.collection_id.in_(collection_ids), CollectionFile.is_deleted.is_(False),
        Item.status.in_(LIVE_ITEM))
    children = union_all(sub_collections, files).subquery()
    rows = await session.execute(select(children.c.parent, func.count()).group_by(children.c.parent))
    return {int(parent): int(count) for parent, count in rows.all()}


async def ancestors(session: AsyncSession, collection_ids: Sequence[int]) -> dict[int, list[Collection]]:
    """Each collection's chain of ancestors, itself first, nearest first (bounded by the depth rule)."""
    wanted = {i for i in collection_ids if is_id(i)}
    known: dict[int, Collection] = {}
    frontier = set(wanted)
    for _ in range(MAX_DEPTH + 2):
        frontier -= known.keys()
        if not frontier:
            break
        rows = (await session.execute(select(Collection).where(
            Collection.id.in_(frontier), Collection.owner_id == STORE_SPACE))).scalars().all()
        known.update({c.id: c for c in rows})
        frontier = {c.parent_id for c in rows if c.parent_id is not None}
    chains: dict[int, list[Collection]] = {}
    for start in wanted:
        chain: list[Collection] = []
        at = known.get(start)
        while at is not None and len(chain) <= MAX_DEPTH + 1 and at not in chain:
            chain.append(at)
            at = known.get(at.parent_id) if at.parent_id is not None else None
        chains[start] = chain
    return chains


def trashed_within(chain: Sequence[Collection]) -> bool:
    return any(c.is_trashed for c in chain)


async def descendants(session: AsyncSession, collection_id: int) -> tuple[list[Collection], list[Item]]:
    """Every live collection and item below a collection, at any depth."""
    tree = select(Collection.id).where(Collection.id == collection_id).cte("tree", recursive=True)
    tree = tree.union_all(select(Collection.id).where(
        Collection.parent_id == tree.c.id, Collection.is_deleted.is_(False), Collection.owner_id == STORE_SPACE))
    collections = (await session.execute(select(Collection).where(
        Collection.id.in_(select(tree.c.id)), Collection.id != collection_id).with_for_update())).scalars().all()
    items = (await session.execute(select(Item).join(CollectionFile, CollectionFile.item_id == Item.id).where(
        CollectionFile.collection_id.in_(select(tree.c.id)), CollectionFile.is_deleted.is_(False),
        Item.status.in_(LIVE_ITEM)).with_for_update(of=Item))).scalars().all()
    return list(collections), list(items)


async def all_entities(session: AsyncSession) -> tuple[list[Collection], list[Item]]:
    collections = (await session.execute(select(Collection).where(
        Collection.owner_id == STORE_SPACE, Collection.is_deleted.is_(False)).with_for_update())).scalars().all()
    items = (await session.execute(select(Item).where(
        Item.owner_id == STORE_SPACE, Item.status.in_(LIVE_ITEM)).with_for_update())).scalars().all()
    return list(collections), list(items)


async def history(session: AsyncSession, entity_id: int) -> list[ItemVersion]:
    return list((await session.execute(
        select(ItemVersion).where(ItemVersion.item_id == entity_id).order_by(ItemVersion.id))).scalars())


async def with_label(session: AsyncSession, label: str) -> list[Collection]:
    return list((await session.execute(select(Collection).where(
        Collection.owner_id == STORE_SPACE, Collection.is_deleted.is_(False), Collection.is_trashed.is_(False),
        Collection.name == label).limit(2))).scalars())


async def with_md5(session: AsyncSession, md5: str) -> list[Item]:
    return list((await session.execute(select(Item).where(
        Item.owner_id == STORE_SPACE, Item.status == ItemStatus.STORED, Item.md5 == md5).limit(2))).scalars())



async def processing_states(session: AsyncSession, item_ids: Sequence[int]) -> dict[int, str]:
    """How far compute is with each file, as CL names it: `processing` while a variant is being made,
    `failed` if one could not be, else `completed` (a file compute does not read is complete as it is)."""
    found = {item_id: "completed" for item_id in item_ids}
    if not item_ids:
        return found
    rows = await session.execute(select(Variant.item_id, Variant.status).where(Variant.item_id.in_(item_ids)))
    for item_id, status in rows.all():
        if status == VariantStatus.PROCESSING:
            found[item_id] = "processing"
        elif status == VariantStatus.FAILED and found[item_id] != "processing":
            found[item_id] = "failed"
    return found
