"""kill -9 of the replicator (`shoebox serve replicator`, its own process) in the middle of copying a
200 MiB object: the half-made copy is never counted, nor visible under the object's key; started again, the
replicator takes the copy up once its lease has passed and makes it whole and verified."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from shoebox.services import migrate_all
from shoebox.testing import clean_environment, running, shoebox_command, wait_healthy
from shoebox_lib.db import Database
from shoebox_lib.embedded import free_port
from shoebox_lib.events import ItemStored
from shoebox_lib.settings import Settings
from shoebox_lib.storage import Storage
from shoebox_lib.storage.filesystem import INTERNAL_DIR, FilesystemDriver
from shoebox_replicator.copier import Copier
from shoebox_replicator.models import ObjectCopy, PendingCopy

MiB = 1024 * 1024
SIZE = 200 * MiB
KEY = "u/1/i/1/big-original"


@pytest.fixture(params=["filesystem", "s3-cold-elsewhere"])
def settings(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Settings:
    if request.param == "filesystem":
        return make_settings(bucket_cold="c-" + make_settings().bucket_primary.removeprefix("p-"))
    return make_settings(**request.getfixturevalue("s3_cold_elsewhere_settings"))


def environment(settings: Settings) -> dict[str, str]:
    env = clean_environment(
        # Slow enough to be caught in the middle (200 MiB to each tier at 20 MiB/s shared), and a lease short
        # enough that the copy comes round again soon after the kill.
        SHOEBOX_REPLICATOR_BACKFILL_BYTES_PER_SECOND=str(20 * MiB),
        SHOEBOX_REPLICATOR_COPY_LEASE_SECONDS="3",
    )
    for name, value in settings.model_dump(exclude_defaults=True).items():
        if value is not None:
            env[f"SHOEBOX_{name.upper()}"] = str(value)
    return env


async def _random_stream(digest: Any) -> AsyncIterator[bytes]:
    for _ in range(SIZE // MiB):
        chunk = os.urandom(MiB)
        digest.update(chunk)
        yield chunk


async def _copies(db: Database) -> list[ObjectCopy]:
    async with db.transaction() as session:
        return list((await session.execute(select(ObjectCopy).where(ObjectCopy.object_key == KEY))).scalars())


async def _half_made(storage: Storage) -> bool:
    """Bytes of the copy are on their way to COLD: a spooled file growing, or a multipart upload open."""
    cold = storage.tier("cold")
    if isinstance(cold, FilesystemDriver):
        spool = cold.root / INTERNAL_DIR / "tmp"
        return any(p.stat().st_size > 0 for p in spool.glob("*.tmp"))
    return bool(await cold.list_multipart_uploads(initiated_before=datetime.now(UTC) + timedelta(hours=1)))


async def test_a_replicator_killed_mid_copy_never_counts_the_partial_copy(settings: Settings, tmp_path: Path
                                                                          ) -> None:
    await migrate_all(settings)
    db, storage = Database(settings.database_url), Storage.from_settings(settings)
    await storage.start()
    try:
        digest = hashlib.sha256()
        await storage.primary.put_stream(KEY, _random_stream(digest))
        expected = digest.hexdigest()
        async with db.transaction() as session:
            await Copier(storage).replicate(session, ItemStored(item_id=1, owner_id=1, object_key=KEY, size=SIZE,
                                                                sha256=expected))
            await session.execute(update(PendingCopy).values(backfill=True))  # moved at the backfill's rate
        env, log = environment(settings), tmp_path / "replicator.log"

        def replicator() -> Any:
            port = free_port()
            serve = shoebox_command("serve", "replicator", "--host", "127.0.0.1", "--port", str(port))
            return running(serve, log, env), f"http://127.0.0.1:{port}"

        first, url = replicator()
        with first as proc:
            await wait_healthy(url, proc, log, within=60)
            async with asyncio.timeout(120):
                while not await _half_made(storage):
                    assert proc.poll() is None, log.read_text()[-3000:]
                    await asyncio.sleep(0.2)
            proc.kill()
            proc.wait(10)
        assert [c.tier for c in await _copies(db) if c.tier == "cold"] == []
        assert await storage.tier("cold").head(KEY) is None  # nothing half-made under the key

        second, url = replicator()
        with second as proc:
            await wait_healthy(url, proc, log, within=60)
            async with asyncio.timeout(240):
                while {c.tier for c in await _copies(db)} != {"secondary", "cold"}:
                    assert proc.poll() is None, log.read_text()[-3000:]
                    await asyncio.sleep(0.5)
        for copy in await _copies(db):
            assert (copy.sha256, copy.size) == (expected, SIZE)
        got = hashlib.sha256()
        async for chunk in storage.tier("cold").get_stream(KEY):
            got.update(chunk)
        assert got.hexdigest() == expected
    finally:
        await storage.close()
        await db.close()
