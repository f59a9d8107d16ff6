"""Three tiers end to end, and the scrubber: every copy on every tier read back and hashed; a flipped bit, a
truncated copy and a lost copy, on each tier, found and rewritten from a good copy; an object with no good
copy left marked damaged, never rewritten from a bad one."""

from __future__ import annotations

import hashlib
import itertools

from prometheus_client import REGISTRY
from sqlalchemy import select

from shoebox.testing import RunningSystem
from shoebox.testing.flow import make_png, upload, wait_processed
from shoebox.testing.replicas import Damage, damage, replicator, settled
from shoebox_lib.ids import parse_image_id
from shoebox_lib.storage.s3 import S3Driver
from shoebox_replicator.models import KnownObject, ObjectCopy, ScrubProgress
from shoebox_replicator.scrubber import CopyState
from shoebox_replicator.status import replication_status


async def images(system: RunningSystem, count: int) -> list[int]:
    token = await system.user_token("keeper")
    ids = []
    for n in range(count):
        uploaded = await upload(system.client, token, make_png(24 + n, 16), filename=f"p{n}.png")
        await wait_processed(system.client, token, uploaded.image_id)
        ids.append(parse_image_id(uploaded.image_id))
    await settled(system)
    return ids


async def kept(system: RunningSystem) -> list[KnownObject]:
    _, db = replicator(system)
    async with db.transaction() as session:
        return list((await session.execute(select(KnownObject).order_by(KnownObject.object_key))).scalars())


def repairs(tier: str) -> float:
    return REGISTRY.get_sample_value("shoebox_replica_repairs_total", {"tier": tier}) or 0.0


async def test_every_object_reaches_all_three_tiers_with_the_hash_of_its_bytes(three_tiers: RunningSystem) -> None:
    system = three_tiers
    await images(system, 2)
    container, db = replicator(system)
    storage = container.copier.storage
    assert list(storage.tiers) == ["primary", "secondary", "cold"]
    objects = await kept(system)
    assert len(objects) >= 2  # the originals, and the variants compute made of them
    async with db.transaction() as session:
        copies = {(c.object_key, c.tier): c for c in (await session.execute(select(ObjectCopy))).scalars()}
    for obj in objects:
        data = await storage.primary.get_bytes(obj.object_key)
        assert obj.sha256 == hashlib.sha256(data).hexdigest()
        for tier in ("secondary", "cold"):
            assert await storage.tier(tier).get_bytes(obj.object_key) == data
            assert copies[obj.object_key, tier].sha256 == obj.sha256
    cold = storage.tier("cold")
    if system.settings.cold_s3_endpoint_url:  # COLD on its own endpoint, with its own credentials
        assert isinstance(cold, S3Driver)
        assert cold.endpoint.url == system.settings.cold_s3_endpoint_url
        assert cold.endpoint.url != system.settings.s3_endpoint_url


async def test_scrub_finds_rot_truncation_and_loss_on_every_tier_and_repairs_each(three_tiers: RunningSystem
                                                                                ) -> None:
    system = three_tiers
    await images(system, 4)
    container, db = replicator(system)
    storage = container.copier.storage
    objects = await kept(system)
    cases = list(itertools.product(storage.tiers, Damage))
    assert len(objects) >= len(cases)
    truth = {o.object_key: await storage.primary.get_bytes(o.object_key) for o in objects}
    damaged = {}
    for obj, (tier, how) in zip(objects, cases, strict=False):
        await damage(storage.tier(tier), obj.object_key, how)
        damaged[obj.object_key] = (tier, how)
        assert await _read(storage.tier(tier), obj.object_key) != truth[obj.object_key]
    before = {tier: repairs(tier) for tier in storage.tiers}

    checked = await container.scrubber.scrub_pass()

    assert checked == len(objects)
    for tier in storage.tiers:
        assert repairs(tier) - before[tier] == len(Damage)  # one of each kind, on each tier
    for obj in objects:
        for tier in storage.tiers:
            assert await storage.tier(tier).get_bytes(obj.object_key) == truth[obj.object_key], (obj, tier)
    async with db.transaction() as session:
        progress = await session.get(ScrubProgress, 1)
        assert progress is not None
        assert (progress.cursor, progress.passes >= 1) == (None, True)
    # A second pass finds nothing wrong: every copy checks out.
    for obj in objects[:3]:
        report = await container.scrubber.check(obj.object_key, repair=False)
        assert report is not None
        assert {c.tier: c.state for c in report.checks} == dict.fromkeys(storage.tiers, CopyState.GOOD)
    status = await replication_status(db, list(storage.tiers))
    assert status.damaged == []
    assert {t.tier: (t.copies, t.owed) for t in status.tiers} == {
        "secondary": (len(objects), 0), "cold": (len(objects), 0)}


async def test_an_object_with_no_good_copy_left_is_marked_damaged_and_left_alone(three_tiers: RunningSystem) -> None:
    system = three_tiers
    await images(system, 1)
    container, db = replicator(system)
    storage = container.copier.storage
    victim = (await kept(system))[0]
    for tier, how in zip(storage.tiers, (Damage.ROT, Damage.TRUNCATE, Damage.ROT), strict=True):
        await damage(storage.tier(tier), victim.object_key, how)
    left = {tier: await _read(storage.tier(tier), victim.object_key) for tier in storage.tiers}

    report = await container.scrubber.check(victim.object_key)

    assert report is not None
    assert (report.damaged, report.repaired) == (True, [])
    assert {c.tier: c.state for c in report.checks} == {
        "primary": CopyState.CORRUPT, "secondary": CopyState.TRUNCATED, "cold": CopyState.CORRUPT}
    # Nothing was rewritten from a bad copy: each tier holds what it held.
    assert {tier: await _read(storage.tier(tier), victim.object_key) for tier in storage.tiers} == left
    status = await replication_status(db, list(storage.tiers))
    assert [d.object_key for d in status.damaged] == [victim.object_key]
    assert status.damaged[0].item_id == victim.item_id


async def _read(driver: object, key: str) -> bytes | None:
    from shoebox_lib.errors import NotFound
    from shoebox_lib.storage.base import StorageDriver

    assert isinstance(driver, StorageDriver)
    try:
        return await driver.get_bytes(key)
    except NotFound:
        return None
