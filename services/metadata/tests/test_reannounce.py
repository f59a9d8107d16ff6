"""Reconciliation of a lost item.stored: an original the replicator never heard of (its event dead-lettered,
say) has no replica long after it was stored. Metadata announces it again under its first event id: the
replicator, which never applied it, copies it to every replica tier; compute, which did, queues no job twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update

from shoebox.testing import RunningSystem
from shoebox.testing.flow import make_png, upload, wait_processed
from shoebox.testing.replicas import replicator, settled
from shoebox_compute.models import Job
from shoebox_lib.bus.topology import COMPUTE_ITEM_STORED, REPLICATOR_ITEM_STORED
from shoebox_lib.ids import parse_image_id
from shoebox_lib.settings import Tier
from shoebox_metadata.container import Container
from shoebox_metadata.models import Copy, Item
from shoebox_replicator import models as replicator_models
from shoebox_replicator.models import KnownObject, ObjectCopy, PendingCopy


def metadata_of(system: RunningSystem) -> Container:
    found: Container = system.services["metadata"].app.state.container
    return found


async def copies_of(system: RunningSystem, key: str) -> set[str]:
    async with system.services["metadata"].app.state.runtime.db.transaction() as session:
        return set((await session.execute(select(Copy.tier).where(Copy.object_key == key))).scalars())


async def jobs_of(system: RunningSystem, item_id: int) -> int:
    async with system.services["compute"].app.state.runtime.db.transaction() as session:
        count: int = (await session.execute(select(func.count()).select_from(Job).where(Job.item_id == item_id))
                      ).scalar_one()
    return count


async def delivered(system: RunningSystem, durable: str) -> None:
    """The consumer has been handed and has acknowledged everything in its stream so far."""
    bus = system.services["metadata"].app.state.runtime.bus
    async with asyncio.timeout(30):
        while True:
            info = await bus.js.consumer_info(bus.stream_name("EVENTS"), durable)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
            await asyncio.sleep(0.1)


async def test_an_original_the_replicator_never_heard_of_is_announced_again(api: RunningSystem) -> None:
    token = await api.user_token("yuki")
    uploaded = await upload(api.client, token, make_png())
    await wait_processed(api.client, token, uploaded.image_id)
    await settled(api)
    item_id = parse_image_id(uploaded.image_id)
    metadata_db = api.services["metadata"].app.state.runtime.db
    async with metadata_db.transaction() as session:
        item = (await session.execute(select(Item).where(Item.id == item_id))).scalar_one()
        key, announcement = item.object_key, item.announcement_id
    assert key is not None
    assert announcement is not None
    container, db = replicator(api)
    replicas: set[Tier] = set(container.copier.targets)
    assert await copies_of(api, key) == replicas
    jobs = await jobs_of(api, item_id)

    # As if the replicator had never applied the announcement: nothing of it on either side, nor on the tiers.
    async with db.transaction() as session:
        for table in (KnownObject, ObjectCopy, PendingCopy):
            await session.execute(delete(table).where(table.object_key == key))
        inbox = replicator_models.BUS.inbox
        await session.execute(delete(inbox).where(inbox.c.consumer == REPLICATOR_ITEM_STORED.durable,
                                                  inbox.c.event_id == announcement))
    for tier in replicas:
        await container.copier.storage.tier(tier).delete(key)
    async with metadata_db.transaction() as session:
        await session.execute(delete(Copy).where(Copy.object_key == key, Copy.tier != "primary"))
        await session.execute(update(Item).where(Item.id == item_id)
                              .values(stored_at=datetime.now(UTC) - timedelta(hours=1)))

    reannouncer = metadata_of(api).reannouncer
    reannouncer.grace = timedelta(seconds=1)
    assert await reannouncer.sweep() == 1
    assert await reannouncer.sweep() == 0  # once per grace period
    async with asyncio.timeout(60):
        while await copies_of(api, key) != replicas:
            await asyncio.sleep(0.1)
    await settled(api)
    original = await container.copier.storage.tier("primary").get_bytes(key)
    for tier in replicas:
        assert await container.copier.storage.tier(tier).get_bytes(key) == original
    await delivered(api, COMPUTE_ITEM_STORED.durable)
    assert await jobs_of(api, item_id) == jobs  # compute had applied it: nothing queued twice
