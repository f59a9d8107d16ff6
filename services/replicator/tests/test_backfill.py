"""A tier added to a library of 500 objects is backfilled in the background, at the backfill's rate, and
the backfill goes on where it stopped after a restart in the middle: every object ends with one verified
copy there, and none queued twice."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from shoebox.testing import run_system
from shoebox.testing.replicas import replicator, settled
from shoebox_lib.events import ItemStored
from shoebox_lib.settings import Settings
from shoebox_metadata.testing import seed_library_sql
from shoebox_replicator.models import BackfillProgress, ObjectCopy

OBJECTS = 500
OWNER = 4242
SIZE = 1024
RATE = 100 * SIZE  # bytes per second: the backfill of 500 KiB takes about five seconds


async def cold_copies(db: object) -> list[ObjectCopy]:
    from shoebox_lib.db import Database

    assert isinstance(db, Database)
    async with db.transaction() as session:
        return list((await session.execute(select(ObjectCopy).where(ObjectCopy.tier == "cold"))).scalars())


async def test_a_tier_added_later_is_backfilled_and_a_restart_midway_resumes_it(
        three_tier_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    before = three_tier_settings(bucket_cold=None)
    data: dict[str, bytes] = {}
    async with run_system(before) as system:
        container, db = replicator(system)
        storage = container.copier.storage
        assert list(storage.tiers) == ["primary", "secondary"]
        metadata_db = system.services["metadata"].app.state.runtime.db
        async with metadata_db.transaction() as session:
            await session.execute(text(seed_library_sql(owner=":owner", count=":count")),
                                  {"owner": OWNER, "count": OBJECTS})
            item_ids = list((await session.execute(text("SELECT id FROM metadata.items WHERE owner_id = :o "
                                                        "ORDER BY id"), {"o": OWNER})).scalars())
        sem = asyncio.Semaphore(16)

        async def put(item_id: int) -> None:
            key, body = f"u/{OWNER}/i/{item_id}/original", os.urandom(SIZE)
            data[key] = body
            async with sem:
                await storage.primary.put_bytes(key, body)

        await asyncio.gather(*(put(i) for i in item_ids))
        async with db.transaction() as session:
            for item_id in item_ids:
                key = f"u/{OWNER}/i/{item_id}/original"
                await container.copier.replicate(session, ItemStored(
                    item_id=item_id, owner_id=OWNER, object_key=key, size=SIZE,
                    sha256=hashlib.sha256(data[key]).hexdigest()))
        await settled(system)

    monkeypatch.setenv("SHOEBOX_REPLICATOR_BACKFILL_BYTES_PER_SECOND", str(RATE))
    after = three_tier_settings()
    assert after.bucket_cold
    async with run_system(after) as system:
        _, db = replicator(system)
        async with asyncio.timeout(60):
            while len(await cold_copies(db)) < OBJECTS // 4:
                await asyncio.sleep(0.05)
    stopped_at = datetime.now(UTC)
    midway = await _copies_of(after)
    assert OBJECTS // 4 <= len(midway) < OBJECTS  # stopped in the middle, at the backfill's rate

    async with run_system(after) as system:
        container, db = replicator(system)
        await settled(system)
        copies = await cold_copies(db)
        assert len(copies) == OBJECTS
        cold = container.copier.storage.tier("cold")
        for copy in copies:
            assert copy.sha256 == hashlib.sha256(data[copy.object_key]).hexdigest()
        for key in list(data)[:: OBJECTS // 20]:
            assert await cold.get_bytes(key) == data[key]
        # The copies made before the restart were kept, not made again.
        done_before = {c.object_key: c.copied_at for c in midway}
        for copy in copies:
            if copy.object_key in done_before:
                assert copy.copied_at == done_before[copy.object_key] <= stopped_at
        async with db.transaction() as session:
            progress = await session.get(BackfillProgress, "cold")
            assert progress is not None
            assert (progress.queued, progress.done_at is not None) == (OBJECTS, True)
            secondary = (await session.execute(select(func.count()).select_from(ObjectCopy)
                                               .where(ObjectCopy.tier == "secondary"))).scalar_one()
        assert secondary == OBJECTS


async def _copies_of(settings: Settings) -> list[ObjectCopy]:
    from shoebox_lib.db import Database

    db = Database(settings.database_url)
    try:
        return await cold_copies(db)
    finally:
        await db.close()
