"""Sharing a collection with another user, as a viewer or a collaborator, and ending that share."""

from __future__ import annotations

from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import Forbidden, InvalidInput, NotFound
from shoebox_metadata.clock import Clock
from shoebox_metadata.kinds import SHARE_ROLES, CollectionType, Role
from shoebox_metadata.library import access, repo
from shoebox_metadata.models import Share


class Shares:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def share(self, caller: Principal, collection_id: int, user_id: int, email: str, role: str,
                    encrypted_key: str | None) -> list[Share]:
        """Share (or re-share, with a new role or key) the caller's collection; answers its live shares."""
        if role not in SHARE_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(SHARE_ROLES)}")
        if user_id == caller.user_id:
            raise InvalidInput("A collection cannot be shared with its owner")
        async with self.db.transaction() as session:
            collection = await access.collection_to_change(session, self.clock, caller.user_id, collection_id)
            if collection.type == CollectionType.UNCATEGORIZED:
                raise Forbidden("This collection cannot be shared")
            # Clock first: ticking flushes the session, and a new share must not be flushed half-filled.
            shared_at, changed_at = await self.clock.tick(session, caller.user_id, 2)
            share = await repo.share(session, collection.id, user_id, lock=True)
            if share is None:
                share = Share(collection_id=collection.id, user_id=user_id)
                session.add(share)
            share.email, share.role, share.encrypted_key, share.is_deleted = email, Role(role), encrypted_key, False
            share.updation_time, collection.updation_time = shared_at, changed_at
            await session.flush()
            return await repo.live_shares(session, collection.id)

    async def unshare(self, caller: Principal, collection_id: int, email: str) -> list[Share]:
        async with self.db.transaction() as session:
            collection = await access.collection_to_change(session, self.clock, caller.user_id, collection_id)
            share = await repo.live_share_by_email(session, collection.id, email)
            if share is None:
                raise NotFound(f"Collection {collection_id} is not shared with {email}")
            share.is_deleted = True
            share.updation_time = await self.clock.next(session, caller.user_id)
            collection.updation_time = await self.clock.next(session, caller.user_id)
            return await repo.live_shares(session, collection.id)
