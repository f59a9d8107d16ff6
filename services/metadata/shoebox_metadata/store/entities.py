"""CL's entities: the store space's files (items) and collections, as one tree with one id space.

Every write ticks the space's clock and appends to the entity's history in the same transaction. A
file's bytes are streamed to storage first (nothing held whole, nothing on local disk), then one
transaction records it; the database's unique index on live content decides duplicates, so two
concurrent uploads of one file can never both be stored. Objects leave storage only through
`item.deleted`, after the transaction that let go of them has committed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, InvalidInput, NotFound, Unprocessable
from shoebox_lib.events import ItemDeleted
from shoebox_lib.keys import space_original
from shoebox_lib.storage import Storage
from shoebox_metadata.clock import Clock
from shoebox_metadata.kinds import Change, CollectionType, ItemStatus, VariantStatus
from shoebox_metadata.library import repo as library_repo
from shoebox_metadata.library.announcements import THUMBNAIL_VARIANT, announce_stored
from shoebox_metadata.library.objects import Objects, object_keys_of
from shoebox_metadata.models import BUS, Collection, CollectionFile, Item, ItemVersion, Variant
from shoebox_metadata.quota import Quotas
from shoebox_metadata.store import reads, repo
from shoebox_metadata.store.intake import Received, receive
from shoebox_metadata.store.kinds import Operation
from shoebox_metadata.store.listing import EntityFilter, Listing
from shoebox_metadata.store.modes import Actor
from shoebox_metadata.store.notices import StoreNotices
from shoebox_metadata.store.probe import Probed, probe
from shoebox_metadata.store.space import STORE_SPACE
from shoebox_metadata.store.views import EntityView, VersionView, collection_view, item_view

DUPLICATE_INDEX = "uq_items_live_md5"


class Unset(StrEnum):
    UNSET = "unset"


UNSET: Final = Unset.UNSET


class OnDuplicate(StrEnum):
    EXISTING = "existing"  # answer with the entity that already holds the content (`/entities`)
    REFUSE = "refuse"  # 409 (`/entity/`, and any replacement)


@dataclass(frozen=True)
class Upload:
    """A file arriving through the API: its part's name and type as the client gave them, and its bytes."""

    filename: str | None
    content_type: str | None
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class Staged:
    """A file's bytes in storage and what its header says, not yet any entity's."""

    upload: Upload
    received: Received
    probed: Probed


@dataclass(frozen=True)
class Fields:
    """What POST and PUT set (PUT sets all of them: an omitted one is cleared)."""

    label: str | None = None
    description: str | None = None
    parent_id: int | None = None


@dataclass(frozen=True)
class Changes:
    """What a PATCH sets; UNSET leaves a field as it is, None clears it."""

    label: str | Unset | None = UNSET
    description: str | Unset | None = UNSET
    parent_id: int | Unset | None = UNSET
    is_deleted: bool | Unset = UNSET


@dataclass(frozen=True)
class Created:
    entity: EntityView
    created: bool  # False: the content was stored already, and `entity` holds it


@dataclass(frozen=True)
class Page:
    items: list[EntityView]
    total: int


@dataclass(frozen=True)
class Media:
    """An object to send: a file's original or its preview."""

    key: str
    size: int
    content_type: str | None
    filename: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _millisecond_now() -> ColumnElement[datetime]:
    """CL's times are milliseconds: kept so, the order of a listing is exactly the order of `added_date`."""
    return func.date_trunc("milliseconds", func.now())


def _is_duplicate(exc: IntegrityError) -> bool:
    return DUPLICATE_INDEX in str(exc.orig)


class Entities:
    def __init__(self, db: Database, objects: Objects, quotas: Quotas, clock: Clock, *, max_upload: int,
                 quota_bytes: int, notices: StoreNotices | None = None) -> None:
        self.db = db
        self.objects = objects
        self.notices = notices or StoreNotices(None)
        self.storage: Storage = objects.storage
        self.quotas = quotas
        self.clock = clock
        self.max_upload = max_upload
        self.quota_bytes = quota_bytes
        self.listing = Listing()
        self._space_ready = False

    # --- reading ----------------------------------------------------------------------------------------

    async def get(self, entity_id: int, *, version: int | None = None) -> EntityView:
        view = await reads.entity(self.db, entity_id)
        if view is None:
            raise NotFound("Entity not found")
        if version is None:
            return view
        async with self.db.read() as session:
            history = await repo.history(session, entity_id)
        if not 1 <= version <= len(history):
            raise NotFound(f"Version {version} of entity {entity_id} not found")
        return view.as_of(history[version - 1].data)

    async def versions(self, entity_id: int) -> list[VersionView]:
        async with self.db.transaction() as session:
            await self._find(session, entity_id)
            history = await repo.history(session, entity_id)
        return [VersionView(
            version=n, transaction_id=entry.id,
            end_transaction_id=history[n].id if n < len(history) else None,
            operation_type=Operation.INSERT if n == 1 else Operation.UPDATE,
            label=entry.data.get("label"), description=entry.data.get("description"),
            updated_date=entry.data.get("updated_date"),
        ) for n, entry in enumerate(history, start=1)]

    async def search(self, f: EntityFilter, page: int, page_size: int, *, version: int | None = None) -> Page:
        async with self.db.transaction() as session:
            refs, total = await self.listing.page(session, f, page, page_size)
            rows: list[Item | Collection] = []
            items = {i.id: i for i in (await session.execute(select(Item).where(
                Item.id.in_([r.id for r in refs if not r.is_collection])))).scalars()}
            collections = {c.id: c for c in (await session.execute(select(Collection).where(
                Collection.id.in_([r.id for r in refs if r.is_collection])))).scalars()}
            for ref in refs:
                row = collections.get(ref.id) if ref.is_collection else items.get(ref.id)
                if row is not None:
                    rows.append(row)
            views = await self._render(session, rows)
            if version is not None:
                histories = {v.id: await repo.history(session, v.id) for v in views}
                views = [v.as_of(histories[v.id][version - 1].data) for v in views
                         if 1 <= version <= len(histories[v.id])]
        return Page(views, total)

    async def lookup(self, *, md5: str | None, label: str | None) -> EntityView:
        if not md5 and not label:
            raise InvalidInput("Must provide either md5 or label parameter")
        async with self.db.transaction() as session:
            found: Sequence[Item | Collection] = (
                await repo.with_md5(session, md5) if md5 else await repo.with_label(session, label or ""))
            if not found:
                raise NotFound("No matching entity found")
            if len(found) > 1:
                raise Conflict("More than one entity matches")
            return (await self._render(session, [found[0]]))[0]

    async def media(self, entity_id: int) -> Media:
        async with self.db.transaction() as session:
            item = await self._file(session, entity_id)
        if item.object_key is None or item.size is None:
            raise NotFound("Media file not found")
        return Media(item.object_key, item.size, item.content_type, item.filename or None)

    async def preview(self, entity_id: int) -> Media:
        async with self.db.transaction() as session:
            item = await self._file(session, entity_id)
            variant = await library_repo.variant(session, item.id, THUMBNAIL_VARIANT)
        if variant is None or variant.status != VariantStatus.READY or not variant.object_key:
            raise NotFound("Preview file not found")
        return Media(variant.object_key, int(variant.size or 0), variant.content_type, None)

    async def open(self, media: Media, start: int, end: int) -> AsyncIterator[bytes]:
        """The object's bytes [start, end), from the first tier with a good copy (PRIMARY, then the copies);
        a damaged object is refused (`replicas.Damaged`)."""
        for driver in await self.objects.readable_tiers(media.key):
            if await driver.head(media.key) is not None:
                return driver.get_stream(media.key, start=start, end=end)
        raise NotFound("Media file not found")

    async def processing(self) -> bool:
        """Whether compute still owes the store something: a variant of a live file is being made."""
        async with self.db.transaction() as session:
            return bool((await session.execute(select(exists().where(
                Variant.item_id == Item.id, Variant.status == VariantStatus.PROCESSING,
                Item.owner_id == STORE_SPACE, Item.status.in_(repo.LIVE_ITEM))))).scalar())

    # --- creating ---------------------------------------------------------------------------------------

    async def create_collection(self, actor: Actor, fields: Fields) -> EntityView:
        async with self.db.transaction() as session:
            await self._ensure_space(session)
            await self._parent(session, fields.parent_id)
            now = await self.clock.next(session, STORE_SPACE)
            collection = Collection(
                owner_id=STORE_SPACE, type=CollectionType.FOLDER, name=fields.label, description=fields.description,
                parent_id=fields.parent_id, added_by=actor.user_id, updated_by=actor.user_id, attributes={},
                updation_time=now, is_trashed=False, created_at=_millisecond_now(),
            )
            session.add(collection)
            await session.flush()
            return await self._record(session, collection, actor, Change.CREATED)

    async def check_parent(self, parent_id: int | None) -> None:
        """Refuse a parent before any byte of a file is read, when the form has named it already."""
        async with self.db.transaction() as session:
            await self._parent(session, parent_id)

    async def stage(self, upload: Upload) -> Staged:
        """Stream a file to storage and read its header; `create_file` or `replace` then commit it, and
        whoever stops before that calls `discard`."""
        key = space_original(STORE_SPACE, uuid.uuid4().hex)
        received = await receive(self.storage, key, upload.chunks, limit=self.max_upload,
                                 content_type=upload.content_type)
        try:
            probed = await probe(received.head, size=received.size, filename=upload.filename,
                                 declared_type=upload.content_type,
                                 read_range=lambda offset, length: self._read_range(key, offset, length))
        except BaseException:
            await self.storage.primary.delete(key)
            raise
        return Staged(upload, received, probed)

    async def discard(self, staged: Staged | None) -> None:
        """A staged object that no committed row references goes at once."""
        if staged is not None:
            await self.storage.primary.delete(staged.received.object_key)

    async def create_file(self, actor: Actor, fields: Fields, staged: Staged, on_duplicate: OnDuplicate
                          ) -> Created:
        """Commit a staged file as a new entity; the staged object is the caller's to discard on failure,
        except when this answers with an existing entity (then it is discarded here)."""
        received = staged.received
        try:
            async with self.db.transaction() as session:
                await self._ensure_space(session)
                parent = await self._parent(session, fields.parent_id)
                now = await self.clock.next(session, STORE_SPACE)
                item = Item(owner_id=STORE_SPACE, declared_size=received.size, status=ItemStatus.STORED, tags=[],
                            extracted={}, title=fields.label, description=fields.description,
                            added_by=actor.user_id, updated_by=actor.user_id, updation_time=now,
                            created_at=_millisecond_now())
                self._fill(item, staged)
                session.add(item)
                await session.flush()
                if parent is not None:
                    await self._join(session, parent, item, now, actor)
                await self.quotas.store(session, STORE_SPACE, received.size)
                await announce_stored(session, item)
                created = Created(await self._record(session, item, actor, Change.CREATED), True)
            await self.notices.file_stored(created.entity.id, created.entity.md5, created.entity.overall_status)
            return created
        except IntegrityError as exc:
            if not _is_duplicate(exc):
                raise
            if on_duplicate is OnDuplicate.REFUSE:
                raise Conflict(f"Duplicate: this file is stored already (md5 {received.md5})") from None
        await self.discard(staged)
        async with self.db.transaction() as session:
            existing = await repo.live_duplicate(session, received.md5)
            if existing is None:  # deleted in the meantime: nothing to point at
                raise Conflict("Duplicate: this file was being stored by another upload; try again")
            return Created((await self._render(session, [existing]))[0], False)

    # --- changing ---------------------------------------------------------------------------------------

    async def replace(self, actor: Actor, entity_id: int, *, is_collection: bool, fields: Fields,
                      staged: Staged | None) -> EntityView:
        """PUT: every field at once, and for a file optionally its content (the staged object is the
        caller's to discard on failure)."""
        try:
            async with self.db.transaction() as session:
                row = await self._find(session, entity_id, lock=True)
                if isinstance(row, Collection) != is_collection:
                    raise InvalidInput(f"is_collection cannot change: entity {entity_id} "
                                       f"{'is' if isinstance(row, Collection) else 'is not'} a collection")
                if isinstance(row, Collection) and staged is not None:
                    raise Unprocessable("A collection cannot have a file")
                now = await self.clock.next(session, STORE_SPACE)
                await self._move(session, row, fields.parent_id, now, actor)
                if isinstance(row, Collection):
                    row.name, row.description = fields.label, fields.description
                else:
                    row.title, row.description = fields.label, fields.description
                    if staged is not None:
                        await self._replace_content(session, row, staged)
                row.updated_by, row.updation_time = actor.user_id, now
                replaced = await self._record(session, row, actor, Change.UPDATED)
        except IntegrityError as exc:
            if not _is_duplicate(exc):
                raise
            raise Conflict("Duplicate: another entity holds this content") from None
        if staged is not None:
            await self.notices.file_stored(replaced.id, replaced.md5, replaced.overall_status)
        return replaced

    async def patch(self, actor: Actor, entity_id: int, changes: Changes) -> EntityView:
        try:
            async with self.db.transaction() as session:
                row = await self._find(session, entity_id, lock=True)
                now = await self.clock.next(session, STORE_SPACE)
                if not isinstance(changes.parent_id, Unset):
                    await self._move(session, row, changes.parent_id, now, actor)
                if not isinstance(changes.label, Unset):
                    if isinstance(row, Collection):
                        row.name = changes.label
                    else:
                        row.title = changes.label
                if not isinstance(changes.description, Unset):
                    row.description = changes.description
                if not isinstance(changes.is_deleted, Unset):
                    if isinstance(row, Collection):
                        row.is_trashed = changes.is_deleted
                    else:
                        if not changes.is_deleted and row.status == ItemStatus.TRASHED and row.md5 and \
                                await repo.live_duplicate(session, row.md5, other_than=row.id):
                            raise Conflict("Duplicate: another entity holds this content now; it cannot be restored")
                        row.status = ItemStatus.TRASHED if changes.is_deleted else ItemStatus.STORED
                row.updated_by, row.updation_time = actor.user_id, now
                return await self._record(session, row, actor, Change.UPDATED)
        except IntegrityError as exc:
            if not _is_duplicate(exc):
                raise
            raise Conflict("Duplicate: another entity holds this content now; it cannot be restored") from None

    # --- deleting ---------------------------------------------------------------------------------------

    async def delete(self, entity_id: int) -> None:
        """Delete for good an entity soft-deleted first; a collection takes everything below it along."""
        async with self.db.transaction() as session:
            row = await self._find(session, entity_id, lock=True)
            trashed = row.is_trashed if isinstance(row, Collection) else row.status == ItemStatus.TRASHED
            if not trashed:
                raise InvalidInput("Entity must be soft-deleted (is_deleted=true) before it is deleted")
            await self.clock.next(session, STORE_SPACE)
            if isinstance(row, Collection):
                collections, items = await repo.descendants(session, row.id)
                await self._erase(session, [row, *collections], items)
            else:
                await self._erase(session, [], [row])

    async def delete_all(self) -> None:
        async with self.db.transaction() as session:
            await self.clock.next(session, STORE_SPACE)
            collections, items = await repo.all_entities(session)
            await self._erase(session, collections, items)

    # --- the parts --------------------------------------------------------------------------------------

    async def _ensure_space(self, session: AsyncSession) -> None:
        """The space's allowance comes from the settings (applied once per process)."""
        if not self._space_ready:
            await self.quotas.set_quota(session, STORE_SPACE, self.quota_bytes)
            self._space_ready = True

    async def _find(self, session: AsyncSession, entity_id: int, *, lock: bool = False) -> Item | Collection:
        found: Item | Collection | None = await repo.item(session, entity_id, lock=lock)
        if found is None:
            found = await repo.collection(session, entity_id, lock=lock)
        if found is None:
            raise NotFound("Entity not found")
        return found

    async def _file(self, session: AsyncSession, entity_id: int) -> Item:
        found = await self._find(session, entity_id)
        if isinstance(found, Collection):
            raise InvalidInput("Entity is a collection")
        return found

    async def _parent(self, session: AsyncSession, parent_id: int | None) -> Collection | None:
        """The collection a new or moved entity goes into: one that exists, is not deleted, and not too deep."""
        if parent_id is None:
            return None
        parent = await repo.collection(session, parent_id)
        if parent is None:
            if await repo.item(session, parent_id) is not None:
                raise Unprocessable(f"Parent entity {parent_id} is not a collection")
            raise Unprocessable(f"Parent entity {parent_id} not found")
        chain = (await repo.ancestors(session, [parent.id]))[parent.id]
        if repo.trashed_within(chain):
            raise Unprocessable(f"Parent entity {parent_id} is deleted")
        if len(chain) >= repo.MAX_DEPTH:
            raise Unprocessable(f"Collections nest at most {repo.MAX_DEPTH} deep")
        return parent

    async def _move(self, session: AsyncSession, row: Item | Collection, parent_id: int | None, now: int,
                    actor: Actor) -> None:
        if isinstance(row, Collection):
            if parent_id == row.parent_id:
                return
            parent = await self._parent(session, parent_id)
            if parent is not None:
                chain = (await repo.ancestors(session, [parent.id]))[parent.id]
                if any(c.id == row.id for c in chain):
                    raise Unprocessable("A collection cannot be moved into itself or below itself")
                if len(chain) + await self._height(session, row) > repo.MAX_DEPTH:
                    raise Unprocessable(f"Collections nest at most {repo.MAX_DEPTH} deep")
            row.parent_id = parent_id
            return
        current = await repo.membership(session, row.id)
        if (current.collection_id if current else None) == parent_id:
            return
        parent = await self._parent(session, parent_id)
        if current is not None:
            current.is_deleted, current.updation_time = True, now
        if parent is not None:
            await self._join(session, parent, row, now, actor)

    @staticmethod
    async def _height(session: AsyncSession, collection: Collection) -> int:
        """How many levels of collections a collection makes, itself included."""
        height, level = 1, [collection.id]
        while level and height <= repo.MAX_DEPTH:
            level = list((await session.execute(select(Collection.id).where(
                Collection.parent_id.in_(level), Collection.is_deleted.is_(False)))).scalars())
            height += 1 if level else 0
        return height

    @staticmethod
    async def _join(session: AsyncSession, parent: Collection, item: Item, now: int, actor: Actor) -> None:
        """Put a file in a collection, reviving the row of an earlier stay there if it had one."""
        earlier = await session.get(CollectionFile, (parent.id, item.id), with_for_update=True)
        if earlier is not None:
            earlier.is_deleted, earlier.updation_time = False, now
            return
        session.add(CollectionFile(collection_id=parent.id, item_id=item.id, is_deleted=False, updation_time=now,
                                   added_by=actor.user_id if actor.user_id is not None else STORE_SPACE,
                                   added_at=now))

    async def _read_range(self, key: str, offset: int, length: int) -> bytes:
        chunks = self.storage.primary.get_stream(key, start=offset, end=offset + length)
        return b"".join([chunk async for chunk in chunks])

    @staticmethod
    def _fill(item: Item, staged: Staged) -> None:
        upload, received, probed = staged.upload, staged.received, staged.probed
        item.filename = (upload.filename or "")[:1024]
        item.content_type = probed.mime_type[:255]
        item.size, item.declared_size = received.size, received.size
        item.sha256, item.md5 = received.sha256, received.md5
        item.object_key, item.stored_at = received.object_key, _now()
        item.media_type, item.extension = probed.media_type, (probed.extension or None)
        item.width, item.height, item.duration, item.taken_at = (probed.width, probed.height, probed.duration,
                                                                  probed.taken_at)

    async def _replace_content(self, session: AsyncSession, item: Item, staged: Staged) -> None:
        """New bytes for a file: the old objects go (after commit), compute makes the new ones' variants."""
        variants = await library_repo.variants_of(session, item.id)
        old_keys = object_keys_of(item, variants)
        old_size = item.size or 0
        await session.execute(delete(Variant).where(Variant.item_id == item.id))
        self._fill(item, staged)
        await session.flush()  # the duplicate rule is checked here
        await self.quotas.unstore(session, STORE_SPACE, old_size)
        await self.quotas.store(session, STORE_SPACE, staged.received.size)
        if old_keys:
            await emit(session, BUS, ItemDeleted(item_id=item.id, owner_id=STORE_SPACE, object_keys=old_keys))
        await announce_stored(session, item)

    async def _erase(self, session: AsyncSession, collections: Sequence[Collection], items: Sequence[Item]) -> None:
        now = await self.clock.next(session, STORE_SPACE)
        for item in items:
            variants = await library_repo.variants_of(session, item.id)
            keys = object_keys_of(item, variants)
            await session.execute(delete(CollectionFile).where(CollectionFile.item_id == item.id))
            await self.quotas.unstore(session, STORE_SPACE, item.size or 0)
            item.status, item.updation_time = ItemStatus.DELETED, now
            item.title = item.description = None
            item.filename, item.tags, item.extracted = "", [], {}
            if keys:
                await emit(session, BUS, ItemDeleted(item_id=item.id, owner_id=STORE_SPACE, object_keys=keys))
        for collection in collections:
            collection.is_deleted, collection.updation_time = True, now
            collection.name = collection.description = None
        gone = [*(i.id for i in items), *(c.id for c in collections)]
        if gone:
            await session.execute(delete(ItemVersion).where(ItemVersion.item_id.in_(gone)))

    async def _record(self, session: AsyncSession, row: Item | Collection, actor: Actor, change: Change
                      ) -> EntityView:
        """The entity as it now is, appended to its history (what `?version=` and `/versions` read)."""
        await session.flush()
        await session.refresh(row)
        view = (await self._render(session, [row]))[0]
        session.add(ItemVersion(item_id=row.id, at=view.updated_date or 0, actor_id=actor.user_id, change=change,
                                data=view.snapshot()))
        return view

    async def _render(self, session: AsyncSession, rows: Sequence[Item | Collection]) -> list[EntityView]:
        items = [r for r in rows if isinstance(r, Item)]
        collections = [r for r in rows if isinstance(r, Collection)]
        parents = await repo.parents_of(session, [i.id for i in items])
        counts = await repo.children_counts(session, [c.id for c in collections])
        states = await repo.processing_states(session, [i.id for i in items])
        above = {*parents.values(), *(c.parent_id for c in collections if c.parent_id is not None)}
        chains = await repo.ancestors(session, list(above))

        def indirectly(parent_id: int | None) -> bool:
            return parent_id is not None and repo.trashed_within(chains.get(parent_id, []))

        views: list[EntityView] = []
        for row in rows:
            if isinstance(row, Collection):
                views.append(collection_view(row, children=counts.get(row.id, 0),
                                             indirectly_deleted=indirectly(row.parent_id)))
            else:
                parent = parents.get(row.id)
                views.append(item_view(row, parent_id=parent, indirectly_deleted=indirectly(parent),
                                       overall_status=states.get(row.id)))
        return views
