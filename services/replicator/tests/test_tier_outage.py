"""A tier down for a minute while 200 images are uploaded, then back: uploads and reads go on, /healthz says
degraded and names the tier, and once it is back every copy arrives, verified, with nothing dead-lettered.
COLD is down as a disk that is gone (filesystem) and as an endpoint that refuses connections (S3). The files
are of a type compute leaves alone, so what is timed is replication, not thumbnailing."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from shoebox.testing import RunningSystem, run_system
from shoebox.testing.flow import fetch_variant, upload, wait_processed
from shoebox.testing.outage import DiskOutage, EndpointOutage
from shoebox.testing.replicas import missing_copies, replicator, settled
from shoebox_lib.settings import Settings

OUTAGE_SECONDS = 60
UPLOADS = 200


@dataclass
class Down:
    system: RunningSystem
    start: Callable[[], Any]
    end: Callable[[], Any]


@pytest.fixture(params=["disk-gone", "endpoint-refuses"])
async def cold_goes_down(request: pytest.FixtureRequest, system_settings: Callable[..., Settings]
                         ) -> AsyncIterator[Down]:
    if request.param == "disk-gone":
        settings = system_settings(bucket_cold="c-" + system_settings().bucket_primary.removeprefix("p-"))
        async with run_system(settings) as system:
            disk = DiskOutage(Path(replicator(system)[0].copier.storage.tier("cold").root))  # type: ignore[attr-defined]
            yield Down(system, disk.down, disk.up)
        return
    overrides = dict(request.getfixturevalue("s3_cold_elsewhere_settings"))
    proxy = EndpointOutage(overrides["cold_s3_endpoint_url"])
    await proxy.up()
    overrides["cold_s3_endpoint_url"] = proxy.url
    try:
        async with run_system(system_settings(**overrides)) as system:
            yield Down(system, proxy.down, proxy.up)
    finally:
        await proxy.down()


async def _maybe(result: Any) -> None:
    if asyncio.iscoroutine(result):
        await result


def _failed_tries(tier: str) -> float:
    return REGISTRY.get_sample_value("shoebox_replica_failed_tries_total",
                                     {"tier": tier, "queue": "pending_copies"}) or 0.0


async def _dead_letters(system: RunningSystem) -> int:
    bus = system.services["replicator"].app.state.runtime.bus
    info = await bus.js.stream_info(f"{system.settings.bus_prefix.upper()}_DEAD")
    return int(info.state.messages)


async def test_a_tier_down_for_a_minute_during_200_uploads_catches_up_with_nothing_lost(cold_goes_down: Down
                                                                                       ) -> None:
    system = cold_goes_down.system
    container, db = replicator(system)
    token = await system.user_token("through-outage")
    tried_before = _failed_tries("cold")

    await _maybe(cold_goes_down.start())
    went_down = time.monotonic()
    health = await system.client.get("/healthz")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "degraded"
    assert health.json()["services"]["replicator"]["checks"]["storage.cold"].startswith("failing")

    sem = asyncio.Semaphore(8)

    files = [os.urandom(4096 + 97 * n) for n in range(UPLOADS)]

    async def one(n: int) -> str:
        async with sem:
            return (await upload(system.client, token, files[n], filename=f"o{n}.bin",
                                 content_type="application/octet-stream")).image_id

    ids = await asyncio.gather(*(one(n) for n in range(UPLOADS)))
    # Reads and the other tiers go on meanwhile: a file uploaded during the outage is copied to SECONDARY and
    # served.
    await wait_processed(system.client, token, ids[0])
    assert await fetch_variant(system.client, token, ids[0], "original") == files[0]
    await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - went_down)))
    assert await missing_copies(db, ["cold"]) > 0  # COLD holds nothing new yet…
    assert _failed_tries("cold") > tried_before  # …and its copies were tried and failed, not given up

    await _maybe(cold_goes_down.end())
    await settled(system, within=240)

    assert await missing_copies(db, ["secondary", "cold"]) == 0
    storage = container.copier.storage
    for key in [o async for o in _some_keys(db, 25)]:
        data = await storage.primary.get_bytes(key)
        assert await storage.tier("cold").get_bytes(key) == data
    assert await _dead_letters(system) == 0
    assert (await system.client.get("/healthz")).json()["status"] == "ok"


async def _some_keys(db: Any, count: int) -> AsyncIterator[str]:
    from sqlalchemy import select

    from shoebox_replicator.models import KnownObject

    async with db.transaction() as session:
        keys = list((await session.execute(select(KnownObject.object_key).order_by(KnownObject.object_key)
                                           .limit(count))).scalars())
    for key in keys:
        yield key
