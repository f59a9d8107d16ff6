"""Who may read and write the store: CL's three auth modes.

- auth disabled (CL's demo mode): everyone reads and writes, set only at start;
- guest mode (read auth off): reads are open, writes need media_store_write;
- read auth on: reads need media_store_read too.

The read-auth switch persists in `space_preferences`, changes at run time, and is read through a short
cache, so a request costs no query and another process sees a change within `CACHE_SECONDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from shoebox_lib.auth.principal import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import Forbidden, Unauthenticated
from shoebox_lib.ttl_cache import TtlCache
from shoebox_metadata.clock import now_us
from shoebox_metadata.models import SpacePreference
from shoebox_metadata.store.kinds import StorePermission
from shoebox_metadata.store.space import STORE_SPACE

CACHE_SECONDS = 2.0
SET_BY_SETTINGS = "settings"


@dataclass(frozen=True)
class StoreMode:
    auth_disabled: bool
    read_auth_enabled: bool
    updated_at: int | None  # ms
    updated_by: str | None

    @property
    def guest_mode(self) -> bool:
        return self.auth_disabled or not self.read_auth_enabled

    @property
    def reads_need_auth(self) -> bool:
        return not self.auth_disabled and self.read_auth_enabled


@dataclass(frozen=True)
class Actor:
    """Who changes the store: a user, or nobody when auth is disabled."""

    user_id: int | None

    @classmethod
    def of(cls, principal: Principal | None) -> Actor:
        return cls(principal.user_id if principal else None)


class Modes:
    def __init__(self, db: Database, *, auth_disabled: bool, read_auth_enabled: bool, forced: bool) -> None:
        self.db = db
        self.auth_disabled = auth_disabled
        self._initial = read_auth_enabled
        self._forced = forced  # the variable was set: apply it at start, over what an admin last chose
        self._started = False
        self._cached = TtlCache[StoreMode](CACHE_SECONDS)

    async def current(self) -> StoreMode:
        if (cached := self._cached.get()) is not None:
            return cached
        async with self.db.transaction() as session:
            if not self._started:
                row = dict(space_id=STORE_SPACE, read_auth_enabled=self._initial,
                           updated_at=now_us() // 1000 if self._forced else None,
                           updated_by=SET_BY_SETTINGS if self._forced else None)
                statement = insert(SpacePreference).values(**row)
                await session.execute(statement.on_conflict_do_update(
                    index_elements=[SpacePreference.space_id], set_=row) if self._forced
                    else statement.on_conflict_do_nothing())
            found = (await session.execute(
                select(SpacePreference).where(SpacePreference.space_id == STORE_SPACE))).scalar_one()
            mode = self._remember(found)
        self._started = True
        return mode

    async def set_read_auth(self, enabled: bool, by: Principal) -> StoreMode:
        row = dict(space_id=STORE_SPACE, read_auth_enabled=enabled, updated_at=now_us() // 1000,
                   updated_by=str(by.user_id))
        async with self.db.transaction() as session:
            found = (await session.execute(
                insert(SpacePreference).values(**row)
                .on_conflict_do_update(index_elements=[SpacePreference.space_id], set_=row)
                .returning(SpacePreference)
            )).scalar_one()
            mode = self._remember(found)
        self._started = True
        return mode

    def _remember(self, found: SpacePreference) -> StoreMode:
        mode = StoreMode(auth_disabled=self.auth_disabled, read_auth_enabled=found.read_auth_enabled,
                         updated_at=found.updated_at, updated_by=found.updated_by)
        return self._cached.put(mode)

    async def check(self, principal: Principal | None, permission: StorePermission) -> Actor:
        """Let the caller through for `permission` in the current mode, or refuse as CL does. A token that
        was sent has been verified already, whatever the mode (see `api.deps`)."""
        mode = await self.current()
        if mode.auth_disabled or (permission is StorePermission.READ and not mode.reads_need_auth):
            return Actor.of(principal)
        if principal is None:
            raise Unauthenticated("Authentication required")
        if not principal.can(permission):
            raise Forbidden(f"Insufficient permissions. Required: {permission}")
        return Actor.of(principal)
