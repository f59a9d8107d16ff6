"""Public links to collections and to single files: unguessable tokens that expire and can be revoked;
passwords hashed.

A viewer presents the link's token (`X-Auth-Access-Token`); for a password-protected link, also the
short-lived token `verify_password` gave them (`X-Auth-Access-Token-JWT`), signed with our secret.
"""

from __future__ import annotations

import dataclasses
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
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, Unauthenticated
from shoebox_lib.ids import share_id
from shoebox_lib.keys import link_prefix
from shoebox_metadata.clock import Clock, now_us
from shoebox_metadata.kinds import CollectionType, FileLinkRole, ItemStatus
from shoebox_metadata.library import access, reads, repo
from shoebox_metadata.library.files import Files, NewFile
from shoebox_metadata.library.membership import touch_collection
from shoebox_metadata.library.objects import Objects
from shoebox_metadata.library.reads import MembershipChange
from shoebox_metadata.library.repo import BIGINT_MAX
from shoebox_metadata.models import Collection, FileLink, Item, PublicLink

_HASHER = PasswordHash((Argon2Hasher(),))
ACCESS_JWT_SECONDS = 24 * 3600
MAX_DEVICE_LIMIT = 50
# Collections that exist for their owner's own use and are never opened to the public.
PRIVATE_TYPES = (CollectionType.UNCATEGORIZED, CollectionType.FAVORITES)


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
class LinkAccess:
    """A viewer's access through a link: the link and the collection it opens."""

    link: PublicLink
    collection: Collection


class Links:
    def __init__(self, db: Database, files: Files, objects: Objects, clock: Clock, secret: str,
                 public_url: str) -> None:
        self.db = db
        self.files = files
        self.objects = objects
        self.clock = clock
        self.public_url = public_url
        self._jwt_key = hmac.new(secret.encode(), b"shoebox-public-link-access", hashlib.sha256).digest()

    # --- the owner's side ----------------------------------------------------------------------------

    async def create(self, caller: Principal, collection_id: int, settings: LinkSettings) -> PublicLink:
        async with self.db.transaction() as session:
            collection = await access.collection_to_change(session, self.clock, caller.user_id, collection_id)
            if collection.type in PRIVATE_TYPES:
                raise Forbidden("This collection cannot be shared by link")
            if await repo.active_link(session, collection.id) is not None:
                raise InvalidInput("This collection already has an active link")
            now = now_us()
            link = PublicLink(collection_id=collection.id, token=secrets.token_urlsafe(24), created_at=now,
                              updated_at=now, device_limit=0, valid_till=0, is_disabled=False, enable_download=True,
                              enable_collect=False, enable_join=False)
            session.add(link)
            await _apply(link, settings)
            await touch_collection(session, self.clock, collection)
            await session.flush()
            return link

    async def update(self, caller: Principal, collection_id: int, settings: LinkSettings) -> PublicLink:
        async with self.db.transaction() as session:
            collection = await access.collection_to_change(session, self.clock, caller.user_id, collection_id)
            link = await _active(session, collection.id)
            await _apply(link, settings)
            link.updated_at = now_us()
            await touch_collection(session, self.clock, collection)
            return link

    async def disable(self, caller: Principal, collection_id: int) -> None:
        async with self.db.transaction() as session:
            collection = await access.collection_to_change(session, self.clock, caller.user_id, collection_id)
            link = await _active(session, collection.id)
            link.is_disabled, link.updated_at = True, now_us()
            await touch_collection(session, self.clock, collection)

    async def links_of(self, collection_ids: Sequence[int]) -> dict[int, list[PublicLink]]:
        """The active links of each collection."""
        if not collection_ids:
            return {}
        async with self.db.read() as session:
            found: dict[int, list[PublicLink]] = {}
            for link in await repo.active_links_of(session, collection_ids):
                found.setdefault(link.collection_id, []).append(link)
            return found

    # --- the viewer's side ---------------------------------------------------------------------------

    async def open(self, token: str | None, access_jwt: str | None = None) -> LinkAccess:
        """What the link opens; an unknown or revoked link is 401, an expired one 410, and a password-
        protected one needs the token `verify_password` gave."""
        if not token:
            raise Unauthenticated("X-Auth-Access-Token is required")
        async with self.db.transaction() as session:
            found = await repo.link_and_collection(session, token)
        if found is None or found[0].is_disabled or found[1].is_deleted:
            raise Unauthenticated("Invalid or revoked link")
        link, collection = found
        if link.valid_till and link.valid_till < now_us():
            raise Gone("This link has expired")
        if link.password_hash is not None:
            self._check_access_jwt(link, access_jwt)
        return LinkAccess(link, collection)

    async def verify_password(self, token: str | None, pass_hash: str) -> str:
        """A short-lived token that proves the viewer knows the link's password."""
        if not token:
            raise Unauthenticated("X-Auth-Access-Token is required")
        async with self.db.transaction() as session:
            link = await repo.link_by_token(session, token)
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

    async def diff(self, grant: LinkAccess, since: int, limit: int) -> tuple[list[MembershipChange], bool]:
        return await reads.membership_changes(self.db, grant.collection.id, since, limit)

    async def file_url(self, grant: LinkAccess, item_id: int, *, thumbnail: bool) -> str:
        if not thumbnail and not grant.link.enable_download:
            raise Forbidden("Downloads are disabled for this link")
        async with self.db.transaction() as session:
            member = await repo.membership(session, grant.collection.id, item_id)
            item = await repo.item(session, item_id)
        if member is None or member.is_deleted or item is None or item.status != ItemStatus.STORED:
            raise NotFound(f"File {item_id} not found")
        return await self.objects.url_of(item, thumbnail=thumbnail)

    async def commit_as_guest(self, grant: LinkAccess, new: NewFile) -> Item:
        """A guest's upload into the link's collection: it belongs to the collection's owner, and its objects
        must be under the link's prefix (where the upload signer put them)."""
        if not grant.link.enable_collect:
            raise Forbidden("Uploads are not enabled for this link")
        if new.collection_id not in (0, grant.collection.id):
            raise InvalidInput("A guest commits into the link's collection only")
        owner_id = grant.collection.owner_id
        owner = Principal(user_id=owner_id, session_id=None, permissions=frozenset(), is_admin=False, token="")
        return await self.files.commit(owner, dataclasses.replace(new, collection_id=grant.collection.id),
                                       guest_prefix=link_prefix(owner_id, grant.collection.id))

    # --- links to one file ---------------------------------------------------------------------------

    async def create_file_link(self, caller: Principal, item_id: int, expires_in: int | None) -> FileLink:
        async with self.db.transaction() as session:
            item = await repo.item(session, item_id)
            if item is None or item.owner_id != caller.user_id or item.status != ItemStatus.STORED:
                raise NotFound("Image not found")
            now = now_us()
            link = FileLink(item_id=item.id, token=secrets.token_urlsafe(24), role=FileLinkRole.VIEWER, revoked=False,
                            expires_at=now + expires_in * 1_000_000 if expires_in else 0, created_at=now)
            session.add(link)
            await session.flush()
            return link

    async def revoke_file_link(self, caller: Principal, item_id: int, link_id: int) -> None:
        async with self.db.transaction() as session:
            found = await repo.file_link_and_item(session, link_id, item_id)
            if found is None or found[1].owner_id != caller.user_id or found[0].revoked:
                raise NotFound("Share not found")
            found[0].revoked = True

    async def open_file_link(self, token: str) -> Item:
        async with self.db.transaction() as session:
            found = await repo.file_link_by_token(session, token)
        if found is None or found[0].revoked or found[1].status != ItemStatus.STORED:
            raise NotFound("Link not found or revoked")
        if found[0].expires_at and found[0].expires_at < now_us():
            raise Gone("This link has expired")
        return found[1]

    # --- v1's links: `<public_url>/s/<token>`, to one image or to an album -------------------------------

    async def create_album_link(self, caller: Principal, album_id: int, expires_in: int | None) -> PublicLink:
        """A v1 link to the caller's album: a public link without a password, that lets its viewers download."""
        async with self.db.transaction() as session:
            collection = await access.collection_for(session, caller.user_id, album_id)
            active = await repo.active_link(session, collection.id)
        if active is not None:
            raise Conflict(f"This album already has an active link ({share_id(active.id)}): revoke it first")
        valid_till = now_us() + expires_in * 1_000_000 if expires_in else 0
        return await self.create(caller, album_id, LinkSettings(valid_till=valid_till, enable_download=True))

    async def revoke_album_link(self, caller: Principal, album_id: int, link_id: int) -> None:
        async with self.db.transaction() as session:
            collection = await access.collection_to_change(session, self.clock, caller.user_id, album_id)
            link = await repo.public_link(session, link_id)
            if link is None or link.collection_id != collection.id or link.is_disabled:
                raise NotFound("Share not found")
            link.is_disabled, link.updated_at = True, now_us()
            await touch_collection(session, self.clock, collection)

    async def open_share(self, token: str) -> Item | Collection:
        """What a v1 link opens: an image, or an album. Unknown, revoked or no longer there is 404; expired 410.
        Ente's links (a password, an end-to-end-encrypted album) are Ente's clients' to open, not a page's."""
        async with self.db.transaction() as session:
            file_link = await repo.file_link_by_token(session, token)
            album_link = None if file_link else await repo.link_and_collection(session, token)
        if file_link is not None:
            return await self.open_file_link(token)
        if album_link is None:
            raise NotFound("Link not found or revoked")
        link, collection = album_link
        if link.is_disabled or collection.is_deleted or link.password_hash is not None \
                or collection.encrypted_key is not None:
            raise NotFound("Link not found or revoked")
        if link.valid_till and link.valid_till < now_us():
            raise Gone("This link has expired")
        return collection

    async def file_link_url(self, token: str) -> str:
        """Where a link to one file leads: a signed URL of the file."""
        return await self.objects.url_of(await self.open_file_link(token), thumbnail=False)


async def _active(session: AsyncSession, collection_id: int) -> PublicLink:
    link = await repo.active_link(session, collection_id, lock=True)
    if link is None:
        raise NotFound("This collection has no active link")
    return link


async def _apply(link: PublicLink, s: LinkSettings) -> None:
    if any(v is not None and not 0 <= v <= BIGINT_MAX for v in (s.valid_till, s.mem_limit, s.ops_limit)):
        raise InvalidInput("validTill, memLimit and opsLimit must be between 0 and 2^63-1")
    if s.valid_till is not None:
        if s.valid_till and s.valid_till < now_us():
            raise InvalidInput("validTill must be in the future")
        link.valid_till = s.valid_till
    if s.device_limit is not None:
        if not 0 <= s.device_limit <= MAX_DEVICE_LIMIT:
            raise InvalidInput(f"deviceLimit must be between 0 and {MAX_DEVICE_LIMIT}")
        link.device_limit = s.device_limit
    if s.enable_download is not None:
        link.enable_download = s.enable_download
    if s.enable_collect is not None:
        link.enable_collect = s.enable_collect
    if s.enable_join is not None:
        link.enable_join = s.enable_join
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
