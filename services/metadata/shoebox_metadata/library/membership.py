"""Items in collections, and the clocks a change moves: every changed row gets a fresh value of its
owner's clock (see `clock.py`), so `sinceTime` diffs never miss or repeat a change.

A collection's `updation_time` moves with every change to its contents, in the same transaction and to
the very value its membership row got (as Ente's server does): real clients list collections changed
since their last sync, fetch file diffs only for those, and then take the collection's time as their
file sync point. So it is never older than a membership of the collection, and never left behind."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_metadata.clock import Clock
from shoebox_metadata.library import repo
from shoebox_metadata.models import Collection, CollectionFile, Item


@dataclass(frozen=True)
class FileKey:
    """An item's key, encrypted under a collection's key (what add-files and move-files carry)."""

    item_id: int
    encrypted_key: str
    key_decryption_nonce: str


async def join(session: AsyncSession, clock: Clock, collection: Collection, key: FileKey, actor: int
               ) -> CollectionFile:
    """Put an item in a collection (again), with its key for that collection."""
    now = await clock.next(session, collection.owner_id)
    membership = await repo.membership(session, collection.id, key.item_id, lock=True)
    if membership is None:
        membership = CollectionFile(collection_id=collection.id, item_id=key.item_id, added_by=actor, added_at=now)
        session.add(membership)
    membership.encrypted_key, membership.key_decryption_nonce = key.encrypted_key, key.key_decryption_nonce
    membership.is_deleted, membership.updation_time = False, now
    collection.updation_time = now
    return membership


async def leave(session: AsyncSession, clock: Clock, collection: Collection, item_id: int) -> bool:
    """Take an item out of a collection; False when it was not in it."""
    membership = await repo.membership(session, collection.id, item_id, lock=True)
    if membership is None or membership.is_deleted:
        return False
    membership.is_deleted = True
    membership.updation_time = collection.updation_time = await clock.next(session, collection.owner_id)
    return True


async def leave_every_collection(session: AsyncSession, clock: Clock, item: Item) -> list[Collection]:
    """Take an item out of every collection it is in (anyone's); the collections it left."""
    memberships = await repo.live_memberships_of(session, item.id)
    await clock.hold(session, [item.owner_id, *(c.owner_id for _, c in memberships)])
    for membership, collection in memberships:
        membership.is_deleted = True
        membership.updation_time = collection.updation_time = await clock.next(session, collection.owner_id)
    return [c for _, c in memberships]


async def touch_item(session: AsyncSession, clock: Clock, item: Item) -> None:
    """The item changed: move its clock, its memberships' and their collections', so every diff shows it."""
    memberships = await repo.live_memberships_of(session, item.id)
    await clock.hold(session, [item.owner_id, *(c.owner_id for _, c in memberships)])
    item.updation_time = await clock.next(session, item.owner_id)
    for membership, collection in memberships:
        membership.updation_time = collection.updation_time = await clock.next(session, collection.owner_id)


async def touch_collection(session: AsyncSession, clock: Clock, collection: Collection) -> None:
    collection.updation_time = await clock.next(session, collection.owner_id)
