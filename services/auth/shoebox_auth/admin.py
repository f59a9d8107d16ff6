"""User administration (CL's admin routes, and Ente's through `ente.admin`): every change that takes access
away also revokes the user's sessions, through the same event every service applies; deleting an account
also tells metadata (`user.deleted`), which erases what the account owned."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from shoebox_auth.models import BUS, EnteEmailCode, User
from shoebox_auth.passwords import hash_password
from shoebox_auth.service import AuthService
from shoebox_auth.sessions import revoke_in
from shoebox_lib.bus import emit
from shoebox_lib.db import Database
from shoebox_lib.errors import InvalidInput, NotFound
from shoebox_lib.events import UserDeleted

MAX_PERMISSIONS = 64
MAX_PERMISSION_LENGTH = 64


def check_permissions(permissions: list[str]) -> list[str]:
    """CL keeps permissions as free-form names (its SDK grants `read:jobs`, `write:jobs`) and answers with
    them as given, so any sane name is kept, in the order given, each once. The names Shoebox acts on are
    `Permission`'s; the others are carried and echoed, never interpreted. Names travel comma-joined (CL's
    form, and `PUT /users/{id}`), so a name with a comma could not come back as itself."""
    kept = list(dict.fromkeys(name.strip() for name in permissions))
    for name in kept:
        if not name:
            raise InvalidInput("A permission must not be empty")
        if len(name) > MAX_PERMISSION_LENGTH:
            raise InvalidInput(f"A permission must be at most {MAX_PERMISSION_LENGTH} characters")
        if "," in name:
            raise InvalidInput("A permission must not contain a comma")
        # isprintable() refuses control, format and separator characters other than the space.
        if not name.isprintable():
            raise InvalidInput("A permission must not contain control characters")
    if len(kept) > MAX_PERMISSIONS:
        raise InvalidInput(f"A user can have at most {MAX_PERMISSIONS} permissions")
    return kept


@dataclass(frozen=True)
class UserChanges:
    password: str | None = None
    permissions: list[str] | None = None
    is_active: bool | None = None
    is_admin: bool | None = None


class UserAdmin:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self.db = db
        self.auth = auth

    async def list_users(self, skip: int, limit: int) -> list[User]:
        async with self.db.transaction() as session:
            rows = await session.execute(select(User).order_by(User.id).offset(skip).limit(limit))
            return list(rows.scalars())

    async def create(self, username: str, password: str, *, is_admin: bool, is_active: bool,
                     permissions: list[str]) -> User:
        user = await self.auth.create_user(email=None, username=username, password=password, is_admin=is_admin,
                                           permissions=check_permissions(permissions))
        if not is_active:
            user = await self.update(user.id, UserChanges(is_active=False))
        return user

    async def update(self, user_id: int, changes: UserChanges) -> User:
        password_hash = await hash_password(changes.password) if changes.password else None
        async with self.db.transaction() as session:
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise NotFound("User not found")
            # A demoted admin's tokens still say is_admin: they go too.
            losing_access = (changes.is_active is False and user.is_active) or password_hash is not None \
                or (changes.is_admin is False and user.is_admin)
            if password_hash is not None:
                user.password_hash = password_hash
            if changes.permissions is not None:
                user.permissions = check_permissions(changes.permissions)
            if changes.is_active is not None:
                user.is_active = changes.is_active
            if changes.is_admin is not None:
                user.is_admin = changes.is_admin
            if losing_access:
                await revoke_in(session, user.id, None)
            await session.flush()
            return user

    async def delete(self, user_id: int) -> None:
        """The account and everything auth keeps of it (sessions, keys, SRP, plan: by cascade; codes mailed
        to its address), its tokens refused everywhere, and its library erased by metadata, all committed
        together."""
        async with self.db.transaction() as session:
            user = await session.get(User, user_id, with_for_update=True)
            if user is None:
                raise NotFound("User not found")
            await revoke_in(session, user_id, None)
            if user.email:
                await session.execute(delete(EnteEmailCode).where(EnteEmailCode.email == user.email.lower()))
            await session.execute(delete(User).where(User.id == user_id))
            await emit(session, BUS, UserDeleted(user_id=user_id))
