"""Erasing an owner's whole library when their account is deleted (auth's `user.deleted`).

Everything they kept goes: their items (deleted for good, their objects erased from every tier through
`item.deleted`), their collections, the shares they gave and were given, their links, holds and account.
What others see moves by their clocks as any change does: a collection shared with others reads as
deleted, and their files leave the collections of others, whose diffs show it once.

Rows that others' clients may still hold ids of stay as tombstones with their content cleared (items and
collections), as deleted items always do; everything else is removed. Applying it again finds nothing
left to do.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.bus import emit
from shoebox_lib.events import ItemDeleted
from shoebox_metadata.authenticator.service import forget_authenticator
from shoebox_metadata.clock import Clock
from shoebox_metadata.filedata.service import erase_file_data
from shoebox_metadata.kinds import ItemStatus
from shoebox_metadata.library import repo
from shoebox_metadata.library.membership import leave_every_collection
from shoebox_metadata.library.objects import object_keys_of
from shoebox_metadata.models import (
    BUS,
    Account,
    Collection,
    FileLink,
    Item,
    ItemVersion,
    PublicLink,
    Reservation,
    TrashEntry,
)


async def erase_owner(session: AsyncSession, clock: Clock, owner_id: int) -> None:
    """Erase everything the owner kept, in the caller's transaction (the event's inbox)."""
    # Every clock this will tick, locked in one order first.
    others_sharing = [c.owner_id for _, c in await repo.live_shares_to(session, owner_id)]
    await clock.hold(session, [owner_id, *others_sharing,
                               *await repo.owners_of_collections_holding(session, owner_id)])
    await _leave_shares_given_to(session, clock, owner_id)
    for item in await repo.items_of(session, owner_id):
        await _erase_item(session, clock, item)
    for collection in await repo.collections_of(session, owner_id):
        await delete_collection(session, clock, collection)
    owned_items = select(Item.id).where(Item.owner_id == owner_id).scalar_subquery()
    await session.execute(delete(FileLink).where(FileLink.item_id.in_(owned_items)))
    await session.execute(delete(ItemVersion).where(ItemVersion.item_id.in_(owned_items)))
    await session.execute(delete(TrashEntry).where(TrashEntry.owner_id == owner_id))
    await session.execute(delete(Reservation).where(Reservation.owner_id == owner_id))
    await forget_authenticator(session, owner_id)
    # Last: the clock ticks above made sure the row existed.
    await session.execute(delete(Account).where(Account.owner_id == owner_id))


async def _leave_shares_given_to(session: AsyncSession, clock: Clock, user_id: int) -> None:
    """The user is no longer a sharee anywhere; each such collection moves, so its owner's clients see it."""
    for share, collection in await repo.live_shares_to(session, user_id):
        share.is_deleted = True
        share.updation_time = collection.updation_time = await clock.next(session, collection.owner_id)


async def _erase_item(session: AsyncSession, clock: Clock, item: Item) -> None:
    await leave_every_collection(session, clock, item)
    variants = await repo.variants_of(session, item.id)
    keys = [*object_keys_of(item, variants), *await erase_file_data(session, clock, item)]
    item.status = ItemStatus.DELETED
    item.updation_time = await clock.next(session, item.owner_id)
    # The encrypted attributes and everything a person wrote go; the row stays so its id means nothing new.
    item.filename, item.title, item.tags, item.extracted = "", None, [], {}
    item.file_decryption_header = item.thumbnail_decryption_header = None
    item.metadata_encrypted_data = item.metadata_decryption_header = None
    item.magic_metadata = item.pub_magic_metadata = None
    if keys:
        await emit(session, BUS, ItemDeleted(item_id=item.id, owner_id=item.owner_id, object_keys=keys))


async def delete_collection(session: AsyncSession, clock: Clock, collection: Collection) -> None:
    """A tombstone its sharees' clients read as deleted; others' files in it leave it."""
    now = await clock.next(session, collection.owner_id)
    for membership in await repo.live_memberships_in(session, collection.id):
        membership.is_deleted, membership.updation_time = True, now
    for share in await repo.live_shares(session, collection.id):
        share.is_deleted, share.updation_time = True, now
    collection.is_deleted, collection.updation_time = True, now
    collection.name = collection.encrypted_name = collection.name_decryption_nonce = None
    collection.attributes = {}
    collection.magic_metadata = collection.pub_magic_metadata = collection.shared_magic_metadata = None
    await session.execute(delete(PublicLink).where(PublicLink.collection_id == collection.id))
