"""Listing the store: CL's filters over both kinds of entity, newest first, a page at a time.

Counting is what makes page numbers cost: the total of a query is kept per (filters, the space's clock),
so paging through a library counts once, and any change to the space (every write ticks its clock)
counts afresh. A short lifetime bounds what changes outside the clock (compute's results) can leave stale.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, exists, false, func, literal, not_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_metadata.kinds import ItemStatus
from shoebox_metadata.models import Account, Collection, CollectionFile, Item
from shoebox_metadata.store.repo import LIVE_ITEM
from shoebox_metadata.store.space import STORE_SPACE

COUNT_CACHE_SIZE = 512
COUNT_CACHE_SECONDS = 30.0
TOP_LEVEL = 0  # CL's parent_id=0: entities in no collection


@dataclass(frozen=True)
class EntityFilter:
    search_query: str | None = None
    exclude_deleted: bool = False
    md5: str | None = None
    mime_type: str | None = None
    type: str | None = None
    width: int | None = None
    height: int | None = None
    file_size_min: int | None = None
    file_size_max: int | None = None
    date_from: int | None = None  # ms, on added_date
    date_to: int | None = None
    parent_id: int | None = None
    is_collection: bool | None = None

    @property
    def files_only(self) -> bool:
        """A filter on what only files have leaves collections out."""
        return self.is_collection is False or any(v is not None for v in (
            self.md5, self.mime_type, self.type, self.width, self.height, self.file_size_min, self.file_size_max))


@dataclass(frozen=True)
class Ref:
    id: int
    is_collection: bool


def _at(value_ms: int) -> datetime:
    seconds = max(min(value_ms / 1000, 253402300799), -62135596800)  # what a datetime can hold
    return datetime.fromtimestamp(seconds, UTC)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _files(f: EntityFilter) -> Select[int, datetime, bool]:
    in_collection = exists().where(CollectionFile.item_id == Item.id, CollectionFile.is_deleted.is_(False))
    conditions = [Item.owner_id == STORE_SPACE, Item.status.in_(
        [ItemStatus.STORED] if f.exclude_deleted else LIVE_ITEM)]
    if f.search_query:
        conditions.append(Item.title.ilike(_like(f.search_query), escape="\\"))
    for column, value in ((Item.md5, f.md5), (Item.content_type, f.mime_type), (Item.media_type, f.type),
                          (Item.width, f.width), (Item.height, f.height)):
        if value is not None:
            conditions.append(column == value)
    if f.file_size_min is not None:
        conditions.append(Item.size >= f.file_size_min)
    if f.file_size_max is not None:
        conditions.append(Item.size <= f.file_size_max)
    if f.date_from is not None:
        conditions.append(Item.created_at >= _at(f.date_from))
    if f.date_to is not None:
        conditions.append(Item.created_at < _at(f.date_to + 1))
    if f.parent_id == TOP_LEVEL:
        conditions.append(not_(in_collection))
    elif f.parent_id is not None:
        conditions.append(exists().where(CollectionFile.item_id == Item.id, CollectionFile.is_deleted.is_(False),
                                         CollectionFile.collection_id == f.parent_id))
    return select(Item.id.label("id"), Item.created_at.label("at"), literal(False).label("is_collection")).where(
        and_(*conditions))


def _collections(f: EntityFilter) -> Select[int, datetime, bool]:
    conditions = [Collection.owner_id == STORE_SPACE, Collection.is_deleted.is_(False)]
    if f.files_only:
        conditions.append(false())
    if f.exclude_deleted:
        conditions.append(Collection.is_trashed.is_(False))
    if f.search_query:
        conditions.append(Collection.name.ilike(_like(f.search_query), escape="\\"))
    if f.date_from is not None:
        conditions.append(Collection.created_at >= _at(f.date_from))
    if f.date_to is not None:
        conditions.append(Collection.created_at < _at(f.date_to + 1))
    if f.parent_id == TOP_LEVEL:
        conditions.append(Collection.parent_id.is_(None))
    elif f.parent_id is not None:
        conditions.append(Collection.parent_id == f.parent_id)
    return select(Collection.id.label("id"), Collection.created_at.label("at"),
                  literal(True).label("is_collection")).where(and_(*conditions))


def _union(f: EntityFilter) -> Select[*tuple[Any, ...]]:
    parts = []
    if f.is_collection is not True:
        parts.append(_files(f))
    if f.is_collection is not False:
        parts.append(_collections(f))  # matches nothing under a filter on what only files have
    return parts[0] if len(parts) == 1 else select(union_all(*parts).subquery())


class Listing:
    def __init__(self) -> None:
        self._counts: OrderedDict[tuple[EntityFilter, int], tuple[float, int]] = OrderedDict()

    async def page(self, session: AsyncSession, f: EntityFilter, page: int, page_size: int
                   ) -> tuple[list[Ref], int]:
        """One page of references, newest first, and the total the filter matches."""
        entities = _union(f).subquery()
        rows = await session.execute(
            select(entities.c.id, entities.c.is_collection).order_by(entities.c.at.desc(), entities.c.id.desc())
            .offset((page - 1) * page_size).limit(page_size))
        refs = [Ref(int(i), bool(c)) for i, c in rows.all()]
        return refs, await self._total(session, f, entities)

    async def _total(self, session: AsyncSession, f: EntityFilter, entities: object) -> int:
        clock = (await session.execute(select(Account.clock_us).where(Account.owner_id == STORE_SPACE))
                 ).scalar_one_or_none() or 0
        key = (f, clock)
        found = self._counts.get(key)
        if found is not None and time.monotonic() - found[0] < COUNT_CACHE_SECONDS:
            self._counts.move_to_end(key)
            return found[1]
        total = int((await session.execute(select(func.count()).select_from(entities))).scalar_one())  # type: ignore[arg-type]
        self._counts[key] = (time.monotonic(), total)
        while len(self._counts) > COUNT_CACHE_SIZE:
            self._counts.popitem(last=False)
        return total

