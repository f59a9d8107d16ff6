"""The library core: files (items) and collections, shares, trash and history, for every face.

End-to-end-encrypted attributes are stored exactly as sent and returned exactly. Every change moves the
changed rows' owner clock (see `clock.py`), so `sinceTime` diffs never miss or repeat a change. Knows
nothing of HTTP or of any face's shapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, Forbidden, InvalidInput, NotFound
from shoebox_lib.events import ItemDeleted, ItemStored, VariantStored
from shoebox_lib.storage import Storage
from shoebox_metadata.clock import now_us, tick
from shoebox_metadata.models import BUS, Collection, CollectionFile, Item, ItemVersion, Share, TrashEntry, Variant
from shoebox_metadata.quota import Quotas

TRASH_DAYS = 30
DAY_US = 24 * 3600 * 1_000_000
COLLECTION_TYPES = ("album", "folder", "favorites", "uncategorized")
ROLES = ("VIEWER", "COLLABORATOR")


@dataclass(frozen=True)
class Blob:
    """One encrypted object of a file (the file itself or its thumbnail), as the client describes it."""

    object_key: str
    size: int
    decryption_header: str


@dataclass(frozen=True)
class NewFile:
    collection_id: int
    encrypted_key: str
    key_decryption_nonce: str
    file: Blob
    thumbnail: Blob
    metadata_encrypted_data: str
    metadata_decryption_header: str
    magic_metadata: dict[str, Any] | None = None
    pub_magic_metadata: dict[str, Any] | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class FileInCollection:
    """What a collection's diff lists: the item and its membership row."""

    item: Item
    membership: CollectionFile


@dataclass(frozen=True)
class NewCollection:
    type: str = "album"
    name: str | None = None
    parent_id: int | None = None
    encrypted_key: str | None = None
    key_decryption_nonce: str | None = None
    encrypted_name: str | None = None
    name_decryption_nonce: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    magic_metadata: dict[str, Any] | None = None
    pub_magic_metadata: dict[str, Any] | None = None
    app: str = "photos"


@dataclass(frozen=True)
class CollectionView:
    collection: Collection
    shares: list[Share]
    role: str  # OWNER, VIEWER, COLLABORATOR, or REMOVED when the caller's share has ended
    mine: Share | None = None  # the caller's share, when the collection is someone else's


@dataclass(frozen=True)
class FileKey:
    """An item's key, encrypted under a collection's key (what add-files and move-files carry)."""

    item_id: int
    encrypted_key: str
    key_decryption_nonce: str


def reservation_of(owner_id: int, key: str) -> str | None:
    """Ente V2 uploads hold their bytes under the upload session's id, the last part of the key."""
    prefix = f"u/{owner_id}/e/"
    return key[len(prefix):] if key.startswith(prefix) and "/" not in key[len(prefix):] else None


def owns_key(owner_id: int, key: str) -> bool:
    """Objects a client may commit are those the upload signer handed out under its prefix."""
    return key.startswith(f"u/{owner_id}/")


async def presign_from_any_tier(storage: Storage, key: str, expires: int, *, filename: str | None = None,
                                attachment: bool = False) -> str:
    """A URL for the object from the first tier that has it: PRIMARY, then SECONDARY, then COLD."""
    for driver in storage.tiers.values():
        if await driver.head(key) is not None:
            return await driver.presign_get(key, expires=expires, filename=filename, attachment=attachment)
    raise NotFound("The object is missing from every tier")


def object_keys_of(item: Item, variants: Sequence[Variant] = ()) -> list[str]:
    keys = [k for k in (item.object_key, item.thumbnail_object_key) if k]
    return keys + [v.object_key for v in variants if v.object_key]


class Library:
    def __init__(self, db: Database, storage: Storage, quotas: Quotas, presign_seconds: int) -> None:
        self.db = db
        self.storage = storage
        self.quotas = quotas
        self.presign_seconds = presign_seconds

    # --- building blocks -----------------------------------------------------------------------------

    async def _tick(self, session: AsyncSession, owner_id: int, count: int = 1) -> list[int]:
        return await tick(session, owner_id, count, default_quota=self.quotas.default_quota)

    async def _history(self, session: AsyncSession, item: Item, actor: int | None, change: str,
                       data: dict[str, Any] | None = None) -> None:
        session.add(ItemVersion(item_id=item.id, at=item.updation_time, actor_id=actor, change=change,
                                data=data or {}))

    async def _touch(self, session: AsyncSession, item: Item) -> None:
        """The item changed: move its clock and its memberships' clocks, so every diff shows it."""
        item.updation_time = (await self._tick(session, item.owner_id))[0]
        memberships = (await session.execute(
            select(CollectionFile, Collection.owner_id).join(Collection)
            .where(CollectionFile.item_id == item.id, CollectionFile.is_deleted.is_(False))
            .order_by(Collection.owner_id)
        )).all()
        for membership, owner_id in memberships:
            membership.updation_time = (await self._tick(session, owner_id))[0]

    async def _own_item(self, session: AsyncSession, caller: Principal, item_id: int, *,
                        statuses: tuple[str, ...] = ("stored",)) -> Item:
        item = await session.get(Item, item_id, with_for_update=True)
        if item is None or item.owner_id != caller.user_id or item.status not in statuses:
            raise NotFound(f"File {item_id} not found")
        return item

    async def _role_in(self, session: AsyncSession, caller: Principal, collection: Collection) -> str | None:
        if collection.owner_id == caller.user_id:
            return "OWNER"
        share = await session.get(Share, (collection.id, caller.user_id))
        return share.role if share is not None and not share.is_deleted else None

    async def _collection(self, session: AsyncSession, caller: Principal, collection_id: int,
                          *, roles: tuple[str, ...] = ("OWNER",), lock: bool = False) -> Collection:
        collection = await session.get(Collection, collection_id, with_for_update=lock)
        if collection is None or collection.is_deleted or await self._role_in(session, caller, collection) not in roles:
            raise NotFound(f"Collection {collection_id} not found")
        return collection

    async def _readable_item(self, session: AsyncSession, caller: Principal, item_id: int) -> Item:
        """The caller's own item, or one in a collection shared with them."""
        item = await session.get(Item, item_id)
        if item is not None and item.status == "stored":
            if item.owner_id == caller.user_id:
                return item
            shared = await session.execute(
                select(CollectionFile.item_id).join(Share, Share.collection_id == CollectionFile.collection_id)
                .where(CollectionFile.item_id == item_id, CollectionFile.is_deleted.is_(False),
                       Share.user_id == caller.user_id, Share.is_deleted.is_(False)).limit(1)
            )
            if shared.first() is not None:
                return item
        raise NotFound(f"File {item_id} not found")

    async def _join(self, session: AsyncSession, collection: Collection, key: FileKey, actor: int) -> CollectionFile:
        """Put an item in a collection (again), with its key for that collection."""
        now = (await self._tick(session, collection.owner_id))[0]
        membership = await session.get(CollectionFile, (collection.id, key.item_id), with_for_update=True)
        if membership is None:
            membership = CollectionFile(collection_id=collection.id, item_id=key.item_id, added_by=actor,
                                        added_at=now)
            session.add(membership)
        membership.encrypted_key, membership.key_decryption_nonce = key.encrypted_key, key.key_decryption_nonce
        membership.is_deleted, membership.updation_time = False, now
        return membership

    async def _leave(self, session: AsyncSession, collection: Collection, item_id: int) -> bool:
        membership = await session.get(CollectionFile, (collection.id, item_id), with_for_update=True)
        if membership is None or membership.is_deleted:
            return False
        membership.is_deleted = True
        membership.updation_time = (await self._tick(session, collection.owner_id))[0]
        return True

    async def _check_blob(self, caller: Principal, blob: Blob, prefix: str | None = None) -> None:
        if not (blob.object_key.startswith(prefix) if prefix else owns_key(caller.user_id, blob.object_key)):
            raise InvalidInput(f"{blob.object_key} was not handed out to you")
        found = await self.storage.primary.head(blob.object_key)
        if found is None:
            raise InvalidInput(f"Nothing was uploaded to {blob.object_key}")
        if found.size != blob.size:
            raise InvalidInput(f"{blob.object_key} has {found.size} bytes, not {blob.size}")

    # --- files ------------------------------------------------------------------------------------------

    async def commit(self, caller: Principal, new: NewFile, *, guest_prefix: str | None = None) -> Item:
        """Record an uploaded (encrypted) file: both objects must exist with their sizes; quota enforced.

        A guest (a public link with uploads enabled) commits as the collection's owner, with objects
        under the prefix the upload signer gave that link.
        """
        if new.file.object_key == new.thumbnail.object_key:
            raise InvalidInput("The file and its thumbnail must be different objects")
        async with self.db.transaction() as session:
            existing = (await session.execute(select(Item).where(
                Item.owner_id == caller.user_id, Item.object_key == new.file.object_key))).scalar_one_or_none()
            if existing is not None:
                return existing  # a retried commit answers the same file
        await asyncio.gather(self._check_blob(caller, new.file, guest_prefix),
                             self._check_blob(caller, new.thumbnail, guest_prefix))
        async with self.db.transaction() as session:
            collection = await self._collection(session, caller, new.collection_id, roles=("OWNER", "COLLABORATOR"))
            total = new.file.size + new.thumbnail.size
            held = [reservation_of(caller.user_id, b.object_key) for b in (new.file, new.thumbnail)]
            await self.quotas.store(session, caller.user_id, total, reservation_ids=[r for r in held if r])
            item = Item(
                owner_id=caller.user_id, filename="", content_type=None, declared_size=total, size=total,
                sha256=new.sha256, status="stored", object_key=new.file.object_key, encrypted=True, tags=[],
                extracted={}, visibility="private", file_decryption_header=new.file.decryption_header,
                thumbnail_object_key=new.thumbnail.object_key, thumbnail_size=new.thumbnail.size,
                thumbnail_decryption_header=new.thumbnail.decryption_header,
                metadata_encrypted_data=new.metadata_encrypted_data,
                metadata_decryption_header=new.metadata_decryption_header, magic_metadata=new.magic_metadata,
                pub_magic_metadata=new.pub_magic_metadata, updation_time=(await self._tick(session, caller.user_id))[0],
            )
            session.add(item)
            await session.flush()
            await self._join(session, collection, FileKey(item.id, new.encrypted_key, new.key_decryption_nonce),
                             caller.user_id)
            await self._history(session, item, caller.user_id, "created", {"collectionID": collection.id})
            await emit(session, BUS, ItemStored(item_id=item.id, owner_id=item.owner_id,
                                                object_key=new.file.object_key, size=new.file.size, encrypted=True))
            await emit(session, BUS, VariantStored(item_id=item.id, owner_id=item.owner_id, variant="thumbnail",
                                                   object_key=new.thumbnail.object_key, size=new.thumbnail.size))
            return item

    async def update_file(self, caller: Principal, item_id: int, *, metadata: tuple[str, str] | None,
                          file_header: str | None, thumbnail_header: str | None) -> Item:
        """Replace an item's encrypted metadata and headers (its objects stay)."""
        async with self.db.transaction() as session:
            item = await self._own_item(session, caller, item_id)
            if metadata is not None:
                item.metadata_encrypted_data, item.metadata_decryption_header = metadata
            if file_header is not None:
                item.file_decryption_header = file_header
            if thumbnail_header is not None:
                item.thumbnail_decryption_header = thumbnail_header
            await self._touch(session, item)
            await self._history(session, item, caller.user_id, "updated")
            return item

    async def set_magic_metadata(self, caller: Principal, updates: Sequence[tuple[int, dict[str, Any]]], *,
                                 public: bool) -> None:
        """Versioned: the client sends the version it read; a stale one is a conflict, never an overwrite."""
        async with self.db.transaction() as session:
            for item_id, magic in updates:
                item = await self._own_item(session, caller, item_id)
                current = item.pub_magic_metadata if public else item.magic_metadata
                current_version = int((current or {}).get("version", 0))
                if int(magic.get("version", 0)) != current_version:
                    raise Conflict(f"File {item_id}: magic metadata version {magic.get('version')} is stale "
                                   f"(current is {current_version})")
                stored = {**magic, "version": current_version + 1}
                if public:
                    item.pub_magic_metadata = stored
                else:
                    item.magic_metadata = stored
                await self._touch(session, item)
                await self._history(session, item, caller.user_id, "pub-magic" if public else "magic",
                                    {"version": stored["version"]})

    async def replace_thumbnail(self, caller: Principal, item_id: int, thumbnail: Blob) -> Item:
        """A new thumbnail object: checked like a commit, counted, and the old object removed."""
        await self._check_blob(caller, thumbnail)
        async with self.db.transaction() as session:
            item = await self._own_item(session, caller, item_id)
            if thumbnail.object_key in (item.object_key, item.thumbnail_object_key):
                raise InvalidInput("The new thumbnail must be a new object")
            old_key, old_size = item.thumbnail_object_key, int(item.thumbnail_size or 0)
            await self.quotas.unstore(session, item.owner_id, old_size)
            await self.quotas.store(session, item.owner_id, thumbnail.size)
            item.thumbnail_object_key, item.thumbnail_size = thumbnail.object_key, thumbnail.size
            item.thumbnail_decryption_header = thumbnail.decryption_header
            item.size = int(item.size or 0) - old_size + thumbnail.size
            await self._touch(session, item)
            await self._history(session, item, caller.user_id, "thumbnail", {"objectKey": thumbnail.object_key})
            await emit(session, BUS, VariantStored(item_id=item.id, owner_id=item.owner_id, variant="thumbnail",
                                                   object_key=thumbnail.object_key, size=thumbnail.size))
            if old_key:
                await emit(session, BUS, ItemDeleted(item_id=item.id, owner_id=item.owner_id, object_keys=[old_key]))
            return item

    async def files(self, caller: Principal, item_ids: Sequence[int]) -> list[Item]:
        async with self.db.transaction() as session:
            return [await self._readable_item(session, caller, i) for i in item_ids]

    async def duplicates(self, caller: Principal) -> list[list[Item]]:
        """The caller's stored files grouped by SHA-256, groups of two or more."""
        async with self.db.transaction() as session:
            rows = (await session.execute(
                select(Item).where(Item.owner_id == caller.user_id, Item.status == "stored", Item.sha256.is_not(None))
                .order_by(Item.sha256, Item.id)
            )).scalars().all()
        groups: dict[str, list[Item]] = {}
        for item in rows:
            groups.setdefault(str(item.sha256), []).append(item)
        return [group for group in groups.values() if len(group) > 1]

    async def signed_url(self, caller: Principal | None, item: Item, *, thumbnail: bool) -> str:
        key = item.thumbnail_object_key if thumbnail else item.object_key
        if not key:
            raise NotFound("This file has no such object")
        return await presign_from_any_tier(self.storage, key, self.presign_seconds)

    async def download_url(self, caller: Principal, item_id: int, *, thumbnail: bool) -> str:
        async with self.db.transaction() as session:
            item = await self._readable_item(session, caller, item_id)
        return await self.signed_url(caller, item, thumbnail=thumbnail)

    # --- trash ------------------------------------------------------------------------------------------

    async def trash(self, caller: Principal, entries: Sequence[tuple[int, int]]) -> None:
        """Move files to the trash: out of every collection, kept for TRASH_DAYS, restorable."""
        async with self.db.transaction() as session:
            for item_id, collection_id in entries:
                item = await self._own_item(session, caller, item_id)
                collection = await self._collection(session, caller, collection_id)
                member = await session.get(CollectionFile, (collection.id, item.id))
                if member is None or member.is_deleted:
                    raise NotFound(f"File {item_id} is not in collection {collection_id}")
                memberships = (await session.execute(select(Collection).join(CollectionFile).where(
                    CollectionFile.item_id == item.id, CollectionFile.is_deleted.is_(False)))).scalars().all()
                for owner_collection in memberships:
                    await self._leave(session, owner_collection, item.id)
                item.status = "trashed"
                now = (await self._tick(session, caller.user_id))[0]
                item.updation_time = now
                entry = await session.get(TrashEntry, item.id, with_for_update=True)
                if entry is None:
                    entry = TrashEntry(item_id=item.id, owner_id=caller.user_id, created_at=now)
                    session.add(entry)
                entry.collection_id, entry.is_deleted, entry.is_restored = collection.id, False, False
                entry.delete_by, entry.updated_at = now_us() + TRASH_DAYS * DAY_US, now
                await self._history(session, item, caller.user_id, "trashed", {"collectionID": collection.id})

    async def memberships(self, caller: Principal, item_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(item, collection) for each of the caller's items, in one collection it is in."""
        found = []
        async with self.db.transaction() as session:
            for item_id in item_ids:
                collection_id = (await session.execute(
                    select(CollectionFile.collection_id).join(Collection)
                    .where(CollectionFile.item_id == item_id, CollectionFile.is_deleted.is_(False),
                           Collection.owner_id == caller.user_id).limit(1)
                )).scalar_one_or_none()
                if collection_id is None:
                    raise NotFound(f"File {item_id} not found")
                found.append((item_id, collection_id))
        return found

    async def restore(self, caller: Principal, item_ids: Sequence[int], collection_id: int | None = None) -> None:
        """Back from the trash into the collection it was trashed from (or another of the caller's)."""
        async with self.db.transaction() as session:
            for item_id in item_ids:
                item = await self._own_item(session, caller, item_id, statuses=("trashed",))
                entry = await session.get(TrashEntry, item.id, with_for_update=True)
                assert entry is not None
                target = await self._collection(session, caller, collection_id or entry.collection_id or 0)
                previous = await session.get(CollectionFile, (entry.collection_id or 0, item.id))
                if previous is None:
                    raise InvalidInput(f"File {item_id} has no key for collection {target.id}")
                await self._join(session, target, FileKey(item.id, previous.encrypted_key or "",
                                                          previous.key_decryption_nonce or ""), caller.user_id)
                item.status = "stored"
                item.updation_time = (await self._tick(session, caller.user_id))[0]
                entry.is_restored, entry.updated_at = True, (await self._tick(session, caller.user_id))[0]
                await self._history(session, item, caller.user_id, "restored", {"collectionID": target.id})

    async def delete_forever(self, caller: Principal, item_ids: Sequence[int]) -> int:
        """Only trashed files. Their objects leave every tier once this transaction has committed."""
        async with self.db.transaction() as session:
            for item_id in item_ids:
                item = await self._own_item(session, caller, item_id, statuses=("trashed",))
                await self._erase(session, item, caller.user_id)
        return len(item_ids)

    async def _erase(self, session: AsyncSession, item: Item, actor: int) -> None:
        entry = await session.get(TrashEntry, item.id, with_for_update=True)
        if entry is not None:
            entry.is_deleted, entry.updated_at = True, (await self._tick(session, item.owner_id))[0]
        variants = (await session.execute(select(Variant).where(Variant.item_id == item.id))).scalars().all()
        item.status = "deleted"
        item.updation_time = (await self._tick(session, item.owner_id))[0]
        await self.quotas.unstore(session, item.owner_id, int(item.size or 0))
        await self._history(session, item, actor, "deleted")
        await emit(session, BUS, ItemDeleted(item_id=item.id, owner_id=item.owner_id,
                                             object_keys=object_keys_of(item, variants)))

    async def empty_trash(self, caller: Principal, last_updated_at: int) -> int:
        async with self.db.transaction() as session:
            items = (await session.execute(
                select(Item).join(TrashEntry, TrashEntry.item_id == Item.id)
                .where(TrashEntry.owner_id == caller.user_id, TrashEntry.is_deleted.is_(False),
                       TrashEntry.is_restored.is_(False), TrashEntry.updated_at <= last_updated_at,
                       Item.status == "trashed").with_for_update(of=Item)
            )).scalars().all()
            for item in items:
                await self._erase(session, item, caller.user_id)
        return len(items)

    async def trash_diff(self, caller: Principal, since: int, limit: int) -> tuple[list[tuple[TrashEntry, Item]], bool]:
        async with self.db.transaction() as session:
            rows = (await session.execute(
                select(TrashEntry, Item).join(Item, Item.id == TrashEntry.item_id)
                .where(TrashEntry.owner_id == caller.user_id, TrashEntry.updated_at > since)
                .order_by(TrashEntry.updated_at).limit(limit + 1)
            )).all()
        return [(entry, item) for entry, item in rows[:limit]], len(rows) > limit

    # --- collections ------------------------------------------------------------------------------------

    async def create_collection(self, caller: Principal, new: NewCollection) -> Collection:
        if new.type not in COLLECTION_TYPES:
            raise InvalidInput(f"type must be one of {', '.join(COLLECTION_TYPES)}")
        async with self.db.transaction() as session:
            if new.parent_id is not None:
                await self._collection(session, caller, new.parent_id)
            collection = Collection(
                owner_id=caller.user_id, type=new.type, name=new.name, parent_id=new.parent_id,
                encrypted_key=new.encrypted_key, key_decryption_nonce=new.key_decryption_nonce,
                encrypted_name=new.encrypted_name, name_decryption_nonce=new.name_decryption_nonce,
                attributes=new.attributes, magic_metadata=new.magic_metadata,
                pub_magic_metadata=new.pub_magic_metadata, app=new.app, is_deleted=False,
                updation_time=(await self._tick(session, caller.user_id))[0],
            )
            session.add(collection)
            await session.flush()
            return collection

    async def collections_since(self, caller: Principal, since: int) -> list[CollectionView]:
        """Owned collections and those shared with the caller that changed after `since`."""
        async with self.db.transaction() as session:
            mine_or_shared = (await session.execute(
                select(Collection, Share).outerjoin(Share, and_(Share.collection_id == Collection.id,
                                                                Share.user_id == caller.user_id))
                .where(or_(and_(Collection.owner_id == caller.user_id, Collection.updation_time > since),
                           and_(Share.user_id == caller.user_id,
                                or_(Share.updation_time > since, Collection.updation_time > since))))
                .order_by(Collection.id)
            )).all()
            views = []
            for collection, share in mine_or_shared:
                shares = (await session.execute(select(Share).where(
                    Share.collection_id == collection.id, Share.is_deleted.is_(False)))).scalars().all()
                role = "OWNER" if share is None else share.role
                views.append(CollectionView(collection, list(shares), role if share is None or not share.is_deleted
                                            else "REMOVED", mine=share))
            return views

    async def collection_diff(self, caller: Principal, collection_id: int, since: int, limit: int
                              ) -> tuple[list[FileInCollection], bool]:
        async with self.db.transaction() as session:
            await self._collection(session, caller, collection_id, roles=("OWNER", *ROLES))
            rows = (await session.execute(
                select(CollectionFile, Item).join(Item, Item.id == CollectionFile.item_id)
                .where(CollectionFile.collection_id == collection_id, CollectionFile.updation_time > since)
                .order_by(CollectionFile.updation_time).limit(limit + 1)
            )).all()
        return [FileInCollection(item, membership) for membership, item in rows[:limit]], len(rows) > limit

    async def add_files(self, caller: Principal, collection_id: int, keys: Sequence[FileKey]) -> None:
        """Only one's own files, into one's own collection or one shared with one as a collaborator."""
        async with self.db.transaction() as session:
            collection = await self._collection(session, caller, collection_id, roles=("OWNER", "COLLABORATOR"))
            for key in keys:
                item = await self._own_item(session, caller, key.item_id)
                await self._join(session, collection, key, caller.user_id)
                await self._history(session, item, caller.user_id, "added", {"collectionID": collection.id})

    async def move_files(self, caller: Principal, from_id: int, to_id: int, keys: Sequence[FileKey]) -> None:
        if from_id == to_id:
            raise InvalidInput("fromCollectionID and toCollectionID are the same")
        async with self.db.transaction() as session:
            source = await self._collection(session, caller, from_id)
            target = await self._collection(session, caller, to_id)
            for key in keys:
                item = await self._own_item(session, caller, key.item_id)
                if not await self._leave(session, source, item.id):
                    raise NotFound(f"File {item.id} is not in collection {from_id}")
                await self._join(session, target, key, caller.user_id)
                await self._history(session, item, caller.user_id, "moved", {"from": from_id, "to": to_id})

    async def remove_files(self, caller: Principal, collection_id: int, item_ids: Sequence[int]) -> None:
        """The collection's owner removes any file; a collaborator only their own."""
        async with self.db.transaction() as session:
            collection = await self._collection(session, caller, collection_id, roles=("OWNER", "COLLABORATOR"))
            owner = collection.owner_id == caller.user_id
            for item_id in item_ids:
                item = await session.get(Item, item_id)
                if item is None or (not owner and item.owner_id != caller.user_id):
                    raise NotFound(f"File {item_id} not found")
                if not await self._leave(session, collection, item_id):
                    raise NotFound(f"File {item_id} is not in collection {collection_id}")

    async def share(self, caller: Principal, collection_id: int, user_id: int, email: str, role: str,
                    encrypted_key: str | None) -> list[Share]:
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        if user_id == caller.user_id:
            raise InvalidInput("A collection cannot be shared with its owner")
        async with self.db.transaction() as session:
            collection = await self._collection(session, caller, collection_id, lock=True)
            if collection.type == "uncategorized":
                raise Forbidden("This collection cannot be shared")
            # Clock first: ticking flushes the session, and a new share must not be flushed half-filled.
            shared_at, changed_at = await self._tick(session, caller.user_id, 2)
            share = await session.get(Share, (collection.id, user_id), with_for_update=True)
            if share is None:
                share = Share(collection_id=collection.id, user_id=user_id)
                session.add(share)
            share.email, share.role, share.encrypted_key, share.is_deleted = email, role, encrypted_key, False
            share.updation_time, collection.updation_time = shared_at, changed_at
            await session.flush()
            return list((await session.execute(select(Share).where(
                Share.collection_id == collection.id, Share.is_deleted.is_(False)))).scalars())

    async def unshare(self, caller: Principal, collection_id: int, email: str) -> list[Share]:
        async with self.db.transaction() as session:
            collection = await self._collection(session, caller, collection_id, lock=True)
            share = (await session.execute(select(Share).where(
                Share.collection_id == collection.id, Share.email == email, Share.is_deleted.is_(False))
            )).scalar_one_or_none()
            if share is None:
                raise NotFound(f"Collection {collection_id} is not shared with {email}")
            share.is_deleted = True
            share.updation_time = (await self._tick(session, caller.user_id))[0]
            collection.updation_time = (await self._tick(session, caller.user_id))[0]
            return list((await session.execute(select(Share).where(
                Share.collection_id == collection.id, Share.is_deleted.is_(False)))).scalars())

    async def touch_collection(self, session: AsyncSession, collection: Collection) -> None:
        collection.updation_time = (await self._tick(session, collection.owner_id))[0]
