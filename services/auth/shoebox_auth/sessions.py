"""Sessions: listing and revoking them. A revocation is an event every process applies (see
`shoebox_lib.auth.revocation`), so no service asks auth about a token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_auth.models import BUS, Session, User
from shoebox_auth.service import AuthService, IssuedToken
from shoebox_lib.auth import Principal
from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import NotFound, Unauthenticated
from shoebox_lib.events import SessionsRevoked


async def revoke_in(session: AsyncSession, user_id: int, session_ids: Sequence[str] | None) -> list[str]:
    """Revoke some of a user's open sessions (all with None) in the caller's transaction."""
    now = datetime.now(UTC)
    query = update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None))
    if session_ids is not None:
        query = query.where(Session.id.in_(list(session_ids)))
    revoked = list((await session.execute(query.values(revoked_at=now).returning(Session.id))).scalars())
    if revoked or session_ids is None:
        await emit(session, BUS, SessionsRevoked(user_id=user_id, session_ids=revoked,
                                                 all_sessions=session_ids is None, revoked_at=now))
    return revoked


class Sessions:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self.db = db
        self.auth = auth

    async def list_open(self, user_id: int) -> list[Session]:
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None),
                                      Session.expires_at > datetime.now(UTC))
                .order_by(Session.created_at.desc())
            )
            return list(rows.scalars())

    async def revoke(self, caller: Principal, session_id: str) -> None:
        """One of the caller's own sessions; someone else's is not found."""
        async with self.db.transaction() as session:
            if not await revoke_in(session, caller.user_id, [session_id]):
                raise NotFound("Session not found")

    async def revoke_others(self, caller: Principal) -> int:
        async with self.db.transaction() as session:
            others = select(Session.id).where(Session.user_id == caller.user_id, Session.revoked_at.is_(None),
                                              Session.id != (caller.session_id or ""))
            ids = list((await session.execute(others)).scalars())
            return len(await revoke_in(session, caller.user_id, ids)) if ids else 0

    async def revoke_current(self, caller: Principal) -> None:
        if caller.session_id is None:
            raise Unauthenticated("The token names no session")
        async with self.db.transaction() as session:
            await revoke_in(session, caller.user_id, [caller.session_id])

    async def refresh(self, caller: Principal) -> IssuedToken:
        """A fresh token for the caller's session, while the session and its user are still good."""
        ttl = timedelta(seconds=self.auth.settings.access_token_ttl_seconds)
        async with self.db.transaction() as session:
            row = await session.get(Session, caller.session_id or "", with_for_update=True)
            user = await session.get(User, caller.user_id)
            if row is None or row.user_id != caller.user_id or row.revoked_at is not None or user is None \
                    or not user.is_active:
                raise Unauthenticated("Could not validate credentials")
            now = datetime.now(UTC)
            row.last_used_at, row.expires_at = now, now + ttl
        return await self.auth.mint_token(user, row.id)
