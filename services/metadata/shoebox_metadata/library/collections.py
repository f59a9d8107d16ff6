"""Collections (albums, folders): create them, list what changed, and put files in and out of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import InvalidInput, NotFound
from shoebox_metadata.clock import Clock
from shoebox_metadata.kinds import Change, CollectionType, Role
from shoebox_metadata.library import access, reads, repo
from shoebox_metadata.library.membership import FileKey, join, leave
from shoebox_metadata.library.reads import MembershipChange
from shoebox_metadata.models import Collection, Share


@dataclass(frozen=True)
class NewCollection:
    type: str = CollectionType.ALBUM
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
    """A collection as one user sees it: its live shares, their role, and their own share if it is not
    theirs (`removed` when that share has ended, so their client drops the collection)."""

    collection: Collection
    shares: list[Share]
    role: Role
    mine: Share | None = None
    removed: bool = False


class Collections:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create(self, caller: Principal, new: NewCollection) -> Collection:
        if new.type not in tuple(CollectionType):
            raise InvalidInput(f"type must be one of {', '.join(CollectionType)}")
        async with self.db.transaction() as session:
            if new.parent_id is not None:
                await access.collection_for(session, caller.user_id, new.parent_id)
            collection = Collection(
                owner_id=caller.user_id, type=CollectionType(new.type), name=new.name, parent_id=new.parent_id,
                encrypted_key=new.encrypted_key, key_decryption_nonce=new.key_decryption_nonce,
                encrypted_name=new.encrypted_name, name_decryption_nonce=new.name_decryption_nonce,
                attributes=new.attributes, magic_metadata=new.magic_metadata,
                pub_magic_metadata=new.pub_magic_metadata, app=new.app, is_deleted=False,
                updation_time=await self.clock.next(session, caller.user_id),
            )
            session.add(collection)
            await session.flush()
            return collection

    async def changed_since(self, caller: Principal, since: int) -> list[CollectionView]:
        """Owned collections and those shared with the caller that changed after `since`."""
        async with self.db.read() as session:
            changed = await repo.collections_changed_since(session, caller.user_id, since)
            shares_of = await repo.live_shares_of(session, [collection.id for collection, _ in changed])
            views = []
            for collection, share in changed:
                shares = shares_of[collection.id]
                if share is None:
                    views.append(CollectionView(collection, shares, Role.OWNER))
                else:
                    views.append(CollectionView(collection, shares, Role(share.role), mine=share,
                                                removed=share.is_deleted))
            return views

    async def diff(self, caller: Principal, collection_id: int, since: int, limit: int
                   ) -> tuple[list[MembershipChange], bool]:
        async with self.db.read() as session:
            await access.collection_for(session, caller.user_id, collection_id, roles=access.READERS)
        return await reads.membership_changes(self.db, collection_id, since, limit)

    async def add_files(self, caller: Principal, collection_id: int, keys: Sequence[FileKey]) -> None:
        """Only one's own files, into one's own collection or one shared with one as a collaborator."""
        async with self.db.transaction() as session:
            collection = await access.collection_for(session, caller.user_id, collection_id, roles=access.WRITERS)
            for key in keys:
                item = await access.own_item(session, caller.user_id, key.item_id)
                await join(session, self.clock, collection, key, caller.user_id)
                await repo.record_change(session, item, caller.user_id, Change.ADDED, {"collectionID": collection.id})

    async def move_files(self, caller: Principal, from_id: int, to_id: int, keys: Sequence[FileKey]) -> None:
        if from_id == to_id:
            raise InvalidInput("fromCollectionID and toCollectionID are the same")
        async with self.db.transaction() as session:
            source = await access.collection_for(session, caller.user_id, from_id)
            target = await access.collection_for(session, caller.user_id, to_id)
            for key in keys:
                item = await access.own_item(session, caller.user_id, key.item_id)
                if not await leave(session, self.clock, source, item.id):
                    raise NotFound(f"File {item.id} is not in collection {from_id}")
                await join(session, self.clock, target, key, caller.user_id)
                await repo.record_change(session, item, caller.user_id, Change.MOVED, {"from": from_id, "to": to_id})

    async def remove_files(self, caller: Principal, collection_id: int, item_ids: Sequence[int]) -> None:
        """The collection's owner removes any file; a collaborator only their own."""
        async with self.db.transaction() as session:
            collection = await access.collection_for(session, caller.user_id, collection_id, roles=access.WRITERS)
            owner = collection.owner_id == caller.user_id
            for item_id in item_ids:
                item = await repo.item(session, item_id)
                if item is None or (not owner and item.owner_id != caller.user_id):
                    raise NotFound(f"File {item_id} not found")
                if not await leave(session, self.clock, collection, item_id):
                    raise NotFound(f"File {item_id} is not in collection {collection_id}")
