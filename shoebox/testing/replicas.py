"""Reaching the replicator of a running system in tests: its cores, waiting for copies, and damaging copies
as disks and providers do (a flipped bit, a truncated file, a lost object)."""

from __future__ import annotations

import asyncio
import os
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import func, select, text

from shoebox.testing import RunningSystem
from shoebox_lib.db import Database
from shoebox_lib.ids import parse_image_id
from shoebox_lib.settings import Tier
from shoebox_lib.storage.base import StorageDriver
from shoebox_lib.storage.filesystem import FilesystemDriver
from shoebox_metadata.models import Item
from shoebox_replicator.container import Container
from shoebox_replicator.models import KnownObject, ObjectCopy, PendingCopy


def served_from(system: RunningSystem, url: str) -> Tier:
    """The tier whose bucket a URL metadata handed out reads (in its path, or as its host on virtual-host S3)."""
    parts = urlsplit(url)
    tiers: dict[Tier, StorageDriver] = system.services["metadata"].app.state.container.objects.storage.tiers
    found: list[Tier] = [tier for tier, driver in tiers.items()
             if f"/{driver.bucket}/" in parts.path or parts.netloc.startswith(f"{driver.bucket}.")]
    assert len(found) == 1, url
    return found[0]


async def original_key(system: RunningSystem, image_id: str) -> str:
    """The object key of an item's original (its variants are kept under keys of their own)."""
    async with system.services["metadata"].app.state.runtime.db.transaction() as session:
        return str((await session.execute(select(Item.object_key).where(Item.id == parse_image_id(image_id))))
                   .scalar_one())


def replicator(system: RunningSystem) -> tuple[Container, Database]:
    state = system.services["replicator"].app.state
    return state.container, state.runtime.db


async def owed_copies(db: Database) -> int:
    async with db.transaction() as session:
        count: int = (await session.execute(select(func.count()).select_from(PendingCopy))).scalar_one()
    return count


async def missing_copies(db: Database, tiers: list[Tier]) -> int:
    """Objects times replica tiers without a verified copy."""
    async with db.transaction() as session:
        objects = (await session.execute(select(func.count()).select_from(KnownObject))).scalar_one()
        made = (await session.execute(select(func.count()).select_from(ObjectCopy)
                                      .where(ObjectCopy.tier.in_(tiers)))).scalar_one()
    return int(objects * len(tiers) - made)


async def settled(system: RunningSystem, *, within: float = 120) -> None:
    """Wait until no copy is owed and every object kept has a verified copy on every replica tier."""
    container, db = replicator(system)
    targets = container.copier.targets
    try:
        async with asyncio.timeout(within):
            while await owed_copies(db) or await missing_copies(db, targets):
                await asyncio.sleep(0.1)
    except TimeoutError:
        async with db.transaction() as session:
            owed = (await session.execute(select(PendingCopy).limit(5))).scalars().all()
            left = [(o.object_key, o.tier, o.attempts, o.due_at.isoformat(), o.held_by, o.last_error) for o in owed]
            # A session left open in a transaction holds its row locks, and the worker skips locked copies.
            holders = (await session.execute(text(
                "SELECT pid, state, now() - xact_start, left(query, 200) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"))).all()
        raise AssertionError(f"copies still owed after {within} s ({await owed_copies(db)} queued, "
                             f"{await missing_copies(db, targets)} missing), for example {left}; "
                             f"open transactions: {[tuple(h) for h in holders]}") from None


class Damage(StrEnum):
    ROT = "rot"  # one bit flipped in place, the size and everything around it unchanged
    TRUNCATE = "truncate"
    LOSE = "lose"


async def damage(driver: StorageDriver, key: str, how: Damage) -> None:
    """On the filesystem the file itself is changed in place, behind the driver's back, as a failing disk
    would; on S3 the object is replaced, the only way a client can change one."""
    data = await driver.get_bytes(key)
    if how is Damage.LOSE:
        await driver.delete(key)
        return
    changed = data[: len(data) // 2] if how is Damage.TRUNCATE else (
        data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0x10]) + data[len(data) // 2 + 1:])
    if isinstance(driver, FilesystemDriver):
        path = driver.root / key
        await asyncio.to_thread(_rewrite_in_place, path, changed)
    else:
        await driver.put_bytes(key, changed)


def _rewrite_in_place(path: os.PathLike[str], data: bytes) -> None:
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate(len(data))
