"""Ente Auth's rules, as the real server has them: one key per user, codes only once the key exists,
updates only of live codes, deletes that leave a tombstone, and a diff by change time.

Every change of an entity takes the owner's change clock first (`clock.py`): its time is unique among
the owner's changes and changes commit in the order of their times, so a client that pages the diff by
the newest `updatedAt` it has seen (as `ente export` and the Auth apps do) gets every change exactly
once, also while other devices are writing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, InvalidInput, NotFound, ShoeboxError
from shoebox_metadata.authenticator import repo
from shoebox_metadata.clock import Clock, now_us
from shoebox_metadata.models import AuthenticatorEntity, AuthenticatorKey

MAX_DIFF_LIMIT = 5000  # the real server's bound on one page


class AuthKeyNotCreated(ShoeboxError):
    status_code = 400
    code = "AUTH_KEY_NOT_CREATED"


@dataclass(frozen=True)
class Sealed:
    """What the client encrypted, as it sent it."""

    encrypted_data: str
    header: str


class Authenticator:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create_key(self, caller: Principal, encrypted_key: str, header: str) -> None:
        async with self.db.transaction() as session:
            if not await repo.add_key(session, caller.user_id, encrypted_key, header, now_us()):
                raise Conflict("Key already exists")

    async def key(self, caller: Principal) -> AuthenticatorKey:
        async with self.db.transaction() as session:
            found = await repo.key(session, caller.user_id)
        if found is None:
            raise NotFound("No authenticator key has been created")
        return found

    async def create_entity(self, caller: Principal, sealed: Sealed) -> AuthenticatorEntity:
        async with self.db.transaction() as session:
            at = await self.clock.next(session, caller.user_id)
            await self._require_key(session, caller.user_id)
            entity = AuthenticatorEntity(id=str(uuid.uuid4()), owner_id=caller.user_id,
                                         encrypted_data=sealed.encrypted_data, header=sealed.header,
                                         is_deleted=False, created_at=at, updated_at=at)
            session.add(entity)
        return entity

    async def update_entity(self, caller: Principal, entity_id: str, sealed: Sealed) -> None:
        async with self.db.transaction() as session:
            at = await self.clock.next(session, caller.user_id)
            await self._require_key(session, caller.user_id)
            entity = await repo.entity(session, caller.user_id, entity_id, lock=True)
            if entity is None:
                raise NotFound("Authenticator entity not found")
            if entity.is_deleted:
                raise InvalidInput("entity is already deleted", code="BAD_REQUEST")
            if (entity.encrypted_data, entity.header) == (sealed.encrypted_data, sealed.header):
                return  # the same update again (a retry) is no new change
            entity.encrypted_data, entity.header, entity.updated_at = sealed.encrypted_data, sealed.header, at

    async def delete_entity(self, caller: Principal, entity_id: str) -> None:
        """Keeps a tombstone for the diff. An unknown (or someone else's) id is no error, as on the real server."""
        async with self.db.transaction() as session:
            at = await self.clock.next(session, caller.user_id)
            entity = await repo.entity(session, caller.user_id, entity_id, lock=True)
            if entity is None or entity.is_deleted:
                return
            entity.is_deleted, entity.encrypted_data, entity.header, entity.updated_at = True, None, None, at

    async def diff(self, caller: Principal, since: int, limit: int) -> list[AuthenticatorEntity]:
        if not 1 <= limit <= MAX_DIFF_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_DIFF_LIMIT}", code="BAD_REQUEST")
        async with self.db.transaction() as session:
            return await repo.changed_since(session, caller.user_id, since, limit)

    @staticmethod
    async def _require_key(session: AsyncSession, owner_id: int) -> None:
        if await repo.key(session, owner_id) is None:
            raise AuthKeyNotCreated("AuthKey is not created")


async def forget_authenticator(session: AsyncSession, owner_id: int) -> None:
    """Remove the owner's Auth key and every code, in the caller's transaction (an account's deletion)."""
    await repo.remove_key(session, owner_id)
