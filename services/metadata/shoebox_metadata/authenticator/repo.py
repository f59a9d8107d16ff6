"""Ente Auth's queries. Each works in the caller's session; the caller owns the transaction."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_metadata.models import AuthenticatorEntity, AuthenticatorKey


async def key(session: AsyncSession, owner_id: int) -> AuthenticatorKey | None:
    return await session.get(AuthenticatorKey, owner_id)


async def add_key(session: AsyncSession, owner_id: int, encrypted_key: str, header: str, at: int) -> bool:
    """Whether the key was added (False: the owner already has one, which stays as it is)."""
    added = await session.execute(
        insert(AuthenticatorKey)
        .values(owner_id=owner_id, encrypted_key=encrypted_key, header=header, created_at=at)
        .on_conflict_do_nothing().returning(AuthenticatorKey.owner_id)
    )
    return added.first() is not None


async def remove_key(session: AsyncSession, owner_id: int) -> None:
    """The key and, by cascade, every entity under it."""
    await session.execute(delete(AuthenticatorKey).where(AuthenticatorKey.owner_id == owner_id))


async def entity(session: AsyncSession, owner_id: int, entity_id: str, *, lock: bool = False
                 ) -> AuthenticatorEntity | None:
    """The owner's entity with that id (someone else's is None, like a missing one)."""
    query = select(AuthenticatorEntity).where(AuthenticatorEntity.id == entity_id,
                                              AuthenticatorEntity.owner_id == owner_id)
    return (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()


async def changed_since(session: AsyncSession, owner_id: int, since: int, limit: int) -> list[AuthenticatorEntity]:
    """The owner's entities changed after `since`, oldest change first, deleted ones included."""
    return list((await session.execute(
        select(AuthenticatorEntity)
        .where(AuthenticatorEntity.owner_id == owner_id, AuthenticatorEntity.updated_at > since)
        .order_by(AuthenticatorEntity.updated_at).limit(limit)
    )).scalars())
