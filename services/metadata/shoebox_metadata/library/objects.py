"""The library's objects in storage: signed URLs from whichever tier has a good copy, and checks of what a
client says it uploaded. Key shapes come from `shoebox_lib.keys` only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shoebox_lib.db import Database
from shoebox_lib.errors import InvalidInput, NotFound
from shoebox_lib.keys import owns_key
from shoebox_lib.settings import Tier
from shoebox_lib.storage import Storage
from shoebox_lib.storage.base import StorageDriver, check_key
from shoebox_metadata.library import replicas
from shoebox_metadata.models import Item, Variant


@dataclass(frozen=True)
class Blob:
    """One encrypted object of a file (the file itself or its thumbnail), as the client describes it."""

    object_key: str
    size: int
    decryption_header: str


def object_keys_of(item: Item, variants: Sequence[Variant] = ()) -> list[str]:
    """Every object an item has: original, thumbnail, derived variants."""
    found = [k for k in (item.object_key, item.thumbnail_object_key) if k]
    return found + [v.object_key for v in variants if v.object_key]


class Objects:
    def __init__(self, db: Database, storage: Storage, presign_seconds: int) -> None:
        self.db = db
        self.storage = storage
        self.presign_seconds = presign_seconds

    @property
    def tiers(self) -> list[Tier]:
        """The storage tiers, PRIMARY first."""
        return list(self.storage.tiers)

    async def readable_tiers(self, key: str) -> list[StorageDriver]:
        """The tiers that may serve the object, PRIMARY first: every one whose copy is not recorded bad.
        `replicas.Damaged` when none is left: wrong bytes are never served."""
        async with self.db.transaction() as session:
            health = await replicas.health_of(session, key)
        left = [driver for tier, driver in self.storage.tiers.items() if tier not in health.bad_tiers]
        if health.damaged or not left:
            raise replicas.Damaged(replicas.DAMAGED)
        return left

    async def url(self, key: str, *, filename: str | None = None, attachment: bool = False) -> str:
        """A URL for the object from the first tier with a good copy: PRIMARY, then SECONDARY, then COLD."""
        for driver in await self.readable_tiers(key):
            if await driver.head(key) is not None:
                url: str = await driver.presign_get(key, expires=self.presign_seconds, filename=filename,
                                                    attachment=attachment)
                return url
        raise NotFound("The object is missing from every tier")

    async def url_of(self, item: Item, *, thumbnail: bool) -> str:
        """A URL for an (encrypted) file's object or its thumbnail."""
        key = item.thumbnail_object_key if thumbnail else item.object_key
        if not key:
            raise NotFound("This file has no such object")
        return await self.url(key)

    @staticmethod
    def handed_out(owner_id: int, blob: Blob, prefix: str | None = None) -> None:
        """The blob's key is a well-formed key under the prefix the upload signer handed out (the owner's,
        or a link's); asks no storage."""
        try:
            check_key(blob.object_key)
        except ValueError:
            raise InvalidInput("objectKey is not an object key Shoebox hands out") from None
        if not (blob.object_key.startswith(prefix) if prefix else owns_key(owner_id, blob.object_key)):
            raise InvalidInput(f"{blob.object_key} was not handed out to you")

    async def check(self, owner_id: int, blob: Blob, prefix: str | None = None) -> None:
        """The blob was handed out (see `handed_out`), exists, and has the size the client gave."""
        self.handed_out(owner_id, blob, prefix)
        found = await self.storage.primary.head(blob.object_key)
        if found is None:
            raise InvalidInput(f"Nothing was uploaded to {blob.object_key}")
        if found.size != blob.size:
            raise InvalidInput(f"{blob.object_key} has {found.size} bytes, not {blob.size}")
