"""PRIMARY's copy rots: the scrubber finds it, and while the rewrite from a good copy is still under way (held
back here, as a slow disk would), views are served from another tier, byte for byte the original; once it is
repaired, they are served from PRIMARY again."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, make_png, upload, wait_processed
from shoebox.testing.replicas import Damage, damage, original_key, replicator, served_from, settled
from shoebox_lib.settings import Tier
from shoebox_lib.storage.base import StorageDriver


def hold_writes(driver: StorageDriver, gate: asyncio.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write to `driver` (a streamed one or a server-side copy) waits for `gate`."""
    for name in ("put_stream", "copy_from"):
        write = getattr(driver, name)

        async def held(*args: Any, _write: Any = write, **kwargs: Any) -> Any:
            await gate.wait()
            return await _write(*args, **kwargs)

        monkeypatch.setattr(driver, name, held)


async def test_a_rotten_primary_copy_is_read_from_another_tier_until_it_is_repaired(
        three_tiers: RunningSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    system = three_tiers
    token = await system.user_token("rhea")
    png = make_png(48, 32)
    uploaded = await upload(system.client, token, png)
    await wait_processed(system.client, token, uploaded.image_id)
    await settled(system)
    key = await original_key(system, uploaded.image_id)
    container, _ = replicator(system)
    storage = container.scrubber.storage
    await damage(storage.primary, key, Damage.ROT)
    gate = asyncio.Event()
    hold_writes(storage.primary, gate, monkeypatch)

    async def viewed() -> tuple[Tier, bytes]:
        answer = await system.client.get(f"/v1/images/{uploaded.image_id}:view", params={"variant": "original"},
                                       headers=bearer(token))
        assert answer.status_code == 200, answer.text
        url = answer.json()["url"]
        fetched = await system.client.get(url)
        assert fetched.status_code == 200
        return served_from(system, url), fetched.content

    async def served_by(tiers: set[Tier]) -> AsyncIterator[tuple[Tier, bytes]]:
        async with asyncio.timeout(60):
            while True:
                tier, data = await viewed()
                yield tier, data
                if tier in tiers:
                    return
                await asyncio.sleep(0.05)

    assert (await viewed())[0] == "primary"  # nobody knows yet
    scrub = asyncio.create_task(container.scrubber.check(key))
    try:
        async for tier, data in served_by({"secondary", "cold"}):
            if tier != "primary":
                assert data == png  # never the rotten bytes
        assert not scrub.done()  # the repair is still held back
    finally:
        gate.set()
    report = await scrub
    assert report is not None
    assert (report.repaired, report.failed, report.damaged) == (["primary"], {}, False)
    assert hashlib.sha256(await storage.primary.get_bytes(key)).hexdigest() == report.sha256
    async for _, data in served_by({"primary"}):
        assert data == png
