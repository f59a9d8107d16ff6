"""Who may read and write what: one's own items, the items of the collections one may read (one's own and
those shared with one, as Ente's server lets anyone who can read an album read its files), and one's role
in a collection.

Anything the caller may not see answers exactly like something that does not exist (404), so ids reveal
nothing about other people's libraries.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.errors import NotFound
from shoebox_metadata.clock import Clock
from shoebox_metadata.kinds import ItemStatus, Role
from shoebox_metadata.library import repo
from shoebox_metadata.models import Collection, Item

OWNER_ONLY: tuple[Role, ...] = (Role.OWNER,)
WRITERS: tuple[Role, ...] = (Role.OWNER, Role.COLLABORATOR)
READERS: tuple[Role, ...] = (Role.OWNER, Role.VIEWER, Role.COLLABORATOR)


async def own_item(session: AsyncSession, user_id: int, item_id: int, *,
                   statuses: tuple[ItemStatus, ...] = (ItemStatus.STORED,)) -> Item:
    """The user's own item in one of `statuses`, locked for the change the caller is about to make."""
    item = await repo.item(session, item_id, lock=True)
    if item is None or item.owner_id != user_id or item.status not in statuses:
        raise NotFound(f"File {item_id} not found")
    return item


async def readable_item(session: AsyncSession, user_id: int, item_id: int) -> Item:
    """The user's own stored item, or one in a collection they may read: their own (where a collaborator
    may have put it) or one shared with them."""
    item = await repo.item(session, item_id)
    if item is not None and item.status == ItemStatus.STORED and (
            item.owner_id == user_id or await repo.in_collection_readable_by(session, item_id, user_id)):
        return item
    raise NotFound(f"File {item_id} not found")


async def role_in(session: AsyncSession, user_id: int, collection: Collection) -> Role | None:
    """The user's role in the collection, or None when they have none (or their share has ended)."""
    if collection.owner_id == user_id:
        return Role.OWNER
    share = await repo.share(session, collection.id, user_id)
    return Role(share.role) if share is not None and not share.is_deleted else None


async def collection_for(session: AsyncSession, user_id: int, collection_id: int, *,
                         roles: tuple[Role, ...] = OWNER_ONLY, lock: bool = False) -> Collection:
    """A live collection in which the user holds one of `roles`."""
    collection = await repo.collection(session, collection_id, lock=lock)
    if collection is None or collection.is_deleted or await role_in(session, user_id, collection) not in roles:
        raise NotFound(f"Collection {collection_id} not found")
    return collection


async def collection_to_change(session: AsyncSession, clock: Clock, user_id: int, collection_id: int) -> Collection:
    """The user's own live collection, locked for a change. The owner's clock is taken first, as every change
    of a collection's contents takes it before the collection's row, so two changes never wait on each other
    in a cycle."""
    await clock.hold(session, [user_id])
    return await collection_for(session, user_id, collection_id, lock=True)


async def own_image(session: AsyncSession, user_id: int, item_id: int) -> Item:
    """The user's own item in any state but deleted (a v1 image, also before its upload)."""
    item = await repo.item(session, item_id)
    if item is None or item.owner_id != user_id or item.status == ItemStatus.DELETED:
        raise NotFound("Image not found")
    return item
