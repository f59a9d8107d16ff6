"""Helpers for tests of metadata's cores: the cores over a real, freshly migrated database and real
storage, without booting any service, and what a test needs around them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx
from sqlalchemy import select

from shoebox_lib.auth import Principal
from shoebox_lib.db import Database
from shoebox_lib.internal import InternalClient
from shoebox_lib.keys import upload_object
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage
from shoebox_metadata.app import MIGRATIONS
from shoebox_metadata.container import Container
from shoebox_metadata.library.collections import NewCollection
from shoebox_metadata.library.files import NewFile
from shoebox_metadata.library.objects import Blob
from shoebox_metadata.models import BUS, Collection
from shoebox_metadata.users import Users

DEFAULT_QUOTA = 10_000
ENTE_FOLDER = "e"  # where the upload signer puts Ente V2 uploads (see `shoebox_lib.keys`)


@dataclass
class Core:
    """The cores, and what a test needs around them: people, uploaded objects, the events written."""

    container: Container
    db: Database
    storage: Storage
    user_ids: count[int] = field(default_factory=lambda: count(101))

    def user(self) -> Principal:
        return Principal(user_id=next(self.user_ids), session_id=None, permissions=frozenset(), is_admin=False,
                         token="")

    async def album(self, owner: Principal) -> Collection:
        new = NewCollection(encrypted_key="k", key_decryption_nonce="n")
        return await self.container.collections.create(owner, new)

    async def uploaded(self, key: str, size: int, header: str = "h") -> Blob:
        """An object as the upload signer lets a client put it: in PRIMARY, under a key it handed out."""
        await self.storage.primary.put_bytes(key, os.urandom(size))
        return Blob(key, size, header)

    async def new_file(self, owner: Principal, collection_id: int, name: str, size: int = 100, thumb: int = 10,
                       under: str | None = None) -> NewFile:
        """A file as an Ente client commits it, its objects uploaded where the upload signer put them: as
        Ente V2 uploads of the owner's, or `under` a prefix (a link's)."""

        def key(object_name: str) -> str:
            return f"{under}{object_name}" if under else upload_object(owner.user_id, ENTE_FOLDER, object_name)

        return NewFile(collection_id=collection_id, encrypted_key="ek", key_decryption_nonce="kn",
                       file=await self.uploaded(key(name), size),
                       thumbnail=await self.uploaded(key(f"{name}-thumb"), thumb),
                       metadata_encrypted_data="md", metadata_decryption_header="mh")

    async def events(self) -> list[tuple[str, dict[str, Any]]]:
        """What the cores wrote to the outbox (subject, event data); one transaction's events in any order."""
        async with self.db.transaction() as session:
            rows = (await session.execute(select(BUS.outbox.c.subject, BUS.outbox.c.envelope)
                                          .order_by(BUS.outbox.c.created_at))).all()
        return [(subject, envelope["data"]) for subject, envelope in rows]


@asynccontextmanager
async def running_core(settings: Settings) -> AsyncIterator[Core]:
    """The cores on `settings`' database (migrated here) and storage, closed again afterwards."""
    await MIGRATIONS.upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    storage = Storage.from_settings(settings)
    await storage.start()
    # Sharing asks auth for a user by email; no core test reaches it.
    nowhere = httpx.AsyncClient(base_url="http://auth.invalid")
    users = Users(InternalClient("metadata", "auth", nowhere, settings.secret_key))
    container = Container.build(db, storage, users, default_quota=settings.default_quota_bytes,
                                presign_seconds=settings.presign_expiry_seconds, secret=settings.secret_key,
                                public_url=settings.public_url)
    try:
        yield Core(container, db, storage)
    finally:
        await nowhere.aclose()
        await storage.close()
        await db.close()


_SEED_LIBRARY = """
INSERT INTO metadata.items (owner_id, filename, content_type, declared_size, size, visibility, title, tags, status,
                            encrypted, extracted, updation_time, description, taken_at, created_at)
SELECT {owner},
       'IMG_' || lpad(n::text, 6, '0') || CASE WHEN n % 10 = 0 THEN '.mp4' ELSE '.jpg' END,
       CASE WHEN n % 10 = 0 THEN 'video/mp4' ELSE 'image/jpeg' END, 1000, 1000,
       CASE WHEN n % 50 = 0 THEN 'public' ELSE 'private' END,
       (ARRAY['beach','sunset','mountain','city','forest','river','garden','party','wedding','street'])[1 + n % 10]
         || ' w' || (n * 7919 % 5000),
       jsonb_build_array((ARRAY['family','travel','pets','food','work','friends','nature'])[1 + n % 7],
                         'k' || (n % 1000)),
       'stored', false, '{{}}', n,
       CASE WHEN n % 1000 = 0 THEN 'a zebra at the zoo' END,
       CASE WHEN n % 3 = 0 THEN NULL ELSE 1500000000000 + n::bigint * 1000000 END,
       timestamptz '2024-01-01' + n * interval '1 minute'
FROM generate_series(1, {count}) AS n
"""


def seed_library_sql(*, owner: str, count: str) -> str:
    """One INSERT … SELECT that seeds an owner's library of `count` stored images, with the parameter
    placeholders given (`:owner` for SQLAlchemy, `$1` for asyncpg): what the search's EXPLAIN test and its
    benchmark search. Ten words in the titles (each in a tenth), 5,000 numbered ones (w0…w4999, each in 20),
    a zebra in every thousandth description, seven tags and 1,000 numbered ones (k0…k999), one in ten a video,
    one in fifty public, two in three with a capture time."""
    return _SEED_LIBRARY.format(owner=owner, count=count)
