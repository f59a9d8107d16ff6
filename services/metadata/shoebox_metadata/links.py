"""Public links to collections: unguessable tokens that expire and can be revoked; passwords hashed.

A viewer presents the link's token (`X-Auth-Access-Token`); for a password-protected link, also the
short-lived token `verify_password` gave them (`X-Auth-Access-Token-JWT`), signed with our secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import Forbidden, Gone, InvalidInput, NotFound, Unauthenticated
from shoebox_metadata.clock import now_us
from shoebox_metadata.library import FileInCollection, Library
from shoebox_metadata.models import Collection, CollectionFile, FileLink, Item, PublicLink

_HASHER = PasswordHash((Argon2Hasher(),))
ACCESS_JWT_SECONDS = 24 * 3600


@dataclass(frozen=True)
class LinkSettings:
    valid_till: int | None = None
    device_limit: int | None = None
    enable_download: bool | None = None
    enable_collect: bool | None = None
    enable_join: bool | None = None
    pass_hash: str | None = None
    nonce: str | None = None
    mem_limit: int | None = None
    ops_limit: int | None = None
    disable_password: bool = False


@dataclass(frozen=True)
class Access:
    """A viewer's access through a link."""

    link: PublicLink
    collection: Collection


def guest_prefix(owner_id: int, collection_id: int) -> str:
    """Objects a guest uploads through a collection's link go under the owner's prefix, in a folder of that
    collection (the upload signer hands out keys there; it learns both from the link's info)."""
    return f"u/{owner_id}/p/{collection_id}/"


class Links:
    def __init__(self, db: Database, library: Library, secret: str, public_url: str) -> None:
        self.db = db
        self.library = library
        self.public_url = public_url
        self._jwt_key = hmac.new(secret.encode(), b"shoebox-public-link-access", hashlib.sha256).digest()

    async def create(self, caller: Principal, collection_id: int, settings: LinkSettings) -> PublicLink:
        async with self.db.transaction() as session:
            collection = await self.library._collection(session, caller, collection_id, lock=True)
            if collection.type in ("uncategorized", "favorites"):
                raise Forbidden("This collection cannot be shared by link")
            existing = (await session.execute(select(PublicLink).where(
                PublicLink.collection_id == collection.id, PublicLink.is_disabled.is_(False)))).scalar_one_or_none()
            if existing is not None:
                raise InvalidInput("This collection already has an active link")
            now = now_us()
            link = PublicLink(collection_id=collection.id, token=secrets.token_urlsafe(24), created_at=now,
                              updated_at=now, device_limit=0, valid_till=0, is_disabled=False, enable_download=True,
                              enable_collect=False, enable_join=False)
            session.add(link)
            await self._apply(link, settings)
            await self.library.touch_collection(session, collection)
            await session.flush()
            return link

    async def update(self, caller: Principal, collection_id: int, settings: LinkSettings) -> PublicLink:
        async with self.db.transaction() as session:
            collection = await self.library._collection(session, caller, collection_id, lock=True)
            link = await self._active(session, collection.id)
            await self._apply(link, settings)
            link.updated_at = now_us()
            await self.library.touch_collection(session, collection)
            return link

    async def disable(self, caller: Principal, collection_id: int) -> None:
        async with self.db.transaction() as session:
            collection = await self.library._collection(session, caller, collection_id, lock=True)
            link = await self._active(session, collection.id)
            link.is_disabled, link.updated_at = True, now_us()
            await self.library.touch_collection(session, collection)

    async def _active(self, session: AsyncSession, collection_id: int) -> PublicLink:
        link = (await session.execute(select(PublicLink).where(
            PublicLink.collection_id == collection_id, PublicLink.is_disabled.is_(False))
            .with_for_update())).scalar_one_or_none()
        if link is None:
            raise NotFound("This collection has no active link")
        return link

    async def _apply(self, link: PublicLink, s: LinkSettings) -> None:
        if s.valid_till is not None:
            if s.valid_till and s.valid_till < now_us():
                raise InvalidInput("validTill must be in the future")
            link.valid_till = s.valid_till
        if s.device_limit is not None:
            if not 0 <= s.device_limit <= 50:
                raise InvalidInput("deviceLimit must be between 0 and 50")
            link.device_limit = s.device_limit
        for name in ("enable_download", "enable_collect", "enable_join"):
            if getattr(s, name) is not None:
                setattr(link, name, getattr(s, name))
        given = [s.pass_hash, s.nonce, s.mem_limit, s.ops_limit]
        if any(v is not None for v in given) and not all(v is not None for v in given):
            raise InvalidInput("passHash, nonce, memLimit and opsLimit come together")
        if s.pass_hash is not None:
            if s.disable_password:
                raise InvalidInput("A password cannot be set and disabled at once")
            link.password_hash = await anyio.to_thread.run_sync(_HASHER.hash, s.pass_hash)
            link.nonce, link.mem_limit, link.ops_limit = s.nonce, s.mem_limit, s.ops_limit
        elif s.disable_password:
            link.password_hash = link.nonce = link.mem_limit = link.ops_limit = None

    async def links_of(self, collection_ids: Sequence[int]) -> dict[int, list[PublicLink]]:
        if not collection_ids:
            return {}
        async with self.db.transaction() as session:
            rows = (await session.execute(select(PublicLink).where(
                PublicLink.collection_id.in_(list(collection_ids)), PublicLink.is_disabled.is_(False)))).scalars()
            found: dict[int, list[PublicLink]] = {}
            for link in rows:
                found.setdefault(link.collection_id, []).append(link)
            return found

    # --- the viewer's side ------------------------------------------------------------------------

    async def open(self, token: str | None, access_jwt: str | None = None) -> Access:
        if not token:
            raise Unauthenticated("X-Auth-Access-Token is required")
        async with self.db.transaction() as session:
            row = (await session.execute(
                select(PublicLink, Collection).join(Collection, Collection.id == PublicLink.collection_id)
                .where(PublicLink.token == token)
            )).first()
        if row is None or row[0].is_disabled or row[1].is_deleted:
            raise Unauthenticated("Invalid or revoked link")
        link, collection = row
        if link.valid_till and link.valid_till < now_us():
            raise Gone("This link has expired")
        if link.password_hash is not None:
            self._check_access_jwt(link, access_jwt)
        return Access(link, collection)

    async def verify_password(self, token: str | None, pass_hash: str) -> str:
        if not token:
            raise Unauthenticated("X-Auth-Access-Token is required")
        async with self.db.transaction() as session:
            link = (await session.execute(select(PublicLink).where(PublicLink.token == token))).scalar_one_or_none()
        if link is None or link.is_disabled:
            raise Unauthenticated("Invalid or revoked link")
        if link.password_hash is None:
            raise InvalidInput("This link has no password")
        if not await anyio.to_thread.run_sync(_HASHER.verify, pass_hash, link.password_hash):
            raise Unauthenticated("Incorrect password")
        now = int(time.time())
        return jwt.encode({"lid": link.id, "ph": link.password_hash[-16:], "iat": now,
                           "exp": now + ACCESS_JWT_SECONDS}, self._jwt_key, algorithm="HS256")

    def _check_access_jwt(self, link: PublicLink, value: str | None) -> None:
        if not value:
            raise Unauthenticated("This link needs its password: X-Auth-Access-Token-JWT is required")
        try:
            claims = jwt.decode(value, self._jwt_key, algorithms=["HS256"])
        except jwt.PyJWTError:
            raise Unauthenticated("Invalid password token") from None
        # A changed password invalidates the tokens the old one gave.
        if claims.get("lid") != link.id or claims.get("ph") != (link.password_hash or "")[-16:]:
            raise Unauthenticated("Invalid password token")

    def guest(self, access: Access) -> tuple[Principal, str]:
        """Who a guest upload belongs to (the collection's owner) and where its objects must be."""
        if not access.link.enable_collect:
            raise Forbidden("Uploads are not enabled for this link")
        owner = Principal(user_id=access.collection.owner_id, session_id=None, permissions=frozenset(),
                          is_admin=False, token="")
        return owner, guest_prefix(access.collection.owner_id, access.collection.id)

    async def diff(self, access: Access, since: int, limit: int) -> tuple[list[FileInCollection], bool]:
        async with self.db.transaction() as session:
            rows = (await session.execute(
                select(CollectionFile, Item).join(Item, Item.id == CollectionFile.item_id)
                .where(CollectionFile.collection_id == access.collection.id, CollectionFile.updation_time > since)
                .order_by(CollectionFile.updation_time).limit(limit + 1)
            )).all()
        return [FileInCollection(item, membership) for membership, item in rows[:limit]], len(rows) > limit

    async def file_url(self, access: Access, item_id: int, *, thumbnail: bool) -> str:
        if not thumbnail and not access.link.enable_download:
            raise Forbidden("Downloads are disabled for this link")
        async with self.db.transaction() as session:
            member = await session.get(CollectionFile, (access.collection.id, item_id))
            item = await session.get(Item, item_id)
        if member is None or member.is_deleted or item is None or item.status != "stored":
            raise NotFound(f"File {item_id} not found")
        return await self.library.signed_url(None, item, thumbnail=thumbnail)

    # --- links to one file ---------------------------------------------------------------------------

    async def create_file_link(self, caller: Principal, item_id: int, expires_in: int | None) -> FileLink:
        async with self.db.transaction() as session:
            item = await session.get(Item, item_id)
            if item is None or item.owner_id != caller.user_id or item.status != "stored":
                raise NotFound("Image not found")
            now = now_us()
            link = FileLink(item_id=item.id, token=secrets.token_urlsafe(24), role="viewer", revoked=False,
                            expires_at=now + expires_in * 1_000_000 if expires_in else 0, created_at=now)
            session.add(link)
            await session.flush()
            return link

    async def revoke_file_link(self, caller: Principal, item_id: int, link_id: int) -> None:
        async with self.db.transaction() as session:
            row = (await session.execute(select(FileLink, Item).join(Item, Item.id == FileLink.item_id).where(
                FileLink.id == link_id, FileLink.item_id == item_id))).first()
            if row is None or row[1].owner_id != caller.user_id:
                raise NotFound("Share not found")
            row[0].revoked = True

    async def open_file_link(self, token: str) -> Item:
        async with self.db.transaction() as session:
            row = (await session.execute(select(FileLink, Item).join(Item, Item.id == FileLink.item_id)
                                         .where(FileLink.token == token))).first()
        if row is None or row[0].revoked or row[1].status != "stored":
            raise NotFound("Link not found")
        if row[0].expires_at and row[0].expires_at < now_us():
            raise Gone("This link has expired")
        return row[1]
