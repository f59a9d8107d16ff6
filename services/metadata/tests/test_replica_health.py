"""What metadata does with the replicator's reports of bad, repaired and damaged copies: reads fail over to a
tier with a good copy, a damaged object is never served (each face's error shape), and the replication
figures of `/storage/replication-info` and `/storage/detailed-usage` move with every report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoebox.testing import RunningSystem
from shoebox.testing.cl_client import cl_callers, detail_of
from shoebox.testing.ente_helpers import commit, header, new_album
from shoebox.testing.flow import bearer, make_png, upload, wait_processed
from shoebox.testing.replicas import served_from
from shoebox_lib.bus import emit
from shoebox_lib.events import ObjectDamaged, Payload, ReplicaDamaged, ReplicaRepaired
from shoebox_lib.ids import parse_image_id
from shoebox_metadata.container import Container
from shoebox_metadata.library.replicas import health_of
from shoebox_metadata.models import BUS, Copy, Item

E = TypeVar("E", bound=Payload)


def container(system: RunningSystem) -> Container:
    found: Container = system.services["metadata"].app.state.container
    return found


async def apply(system: RunningSystem, handler: Callable[[AsyncSession, E], Awaitable[None]], event: E) -> None:
    """Apply a report as metadata's consumer does: in one transaction (twice, to show it is idempotent)."""
    for _ in range(2):
        async with system.services["metadata"].app.state.runtime.db.transaction() as session:
            await handler(session, event)


async def replication(system: RunningSystem, token: str) -> dict[str, Any]:
    response = await system.client.get("/storage/replication-info", headers=header(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def until_replicated(system: RunningSystem, token: str, objects: int) -> dict[str, Any]:
    """The replicator runs in the system: wait until every tier holds a verified copy of every object."""
    async with asyncio.timeout(60):
        while True:
            info = await replication(system, token)
            if info["objects"] == objects and all(t["objects"] == objects for t in info["by_tier"].values()):
                return info
            await asyncio.sleep(0.05)


def figures(info: dict[str, Any], tier: str) -> tuple[int, int, int, int, int]:
    """A tier's (objects, verified bytes, owed objects, owed bytes, bad copies)."""
    t = info["by_tier"][tier]
    return t["objects"], t["verified_bytes"], t["owed_objects"], t["owed_bytes"], t["bad_copies"]


async def test_ente_reads_fail_over_and_the_figures_follow_every_report(system: RunningSystem) -> None:
    token = await system.user_token("hale")
    album = await new_album(system, token)
    file = await commit(system, token, album, size=100, thumb=10)
    core = container(system)
    reports = core.reports
    async with system.services["metadata"].app.state.runtime.db.transaction() as session:
        item = (await session.execute(select(Item).where(Item.id == file["id"]))).scalar_one()
    key, thumb = str(item.object_key), str(item.thumbnail_object_key)
    replicas = [t for t in core.objects.tiers if t != "primary"]
    info = await until_replicated(system, token, 2)
    assert (info["objects"], info["bytes"], info["damaged_objects"]) == (2, 110, 0)
    for tier in core.objects.tiers:
        assert figures(info, tier) == (2, 110, 0, 0, 0), tier
    assert info["replication_lag_seconds"] == 0

    async def download() -> str:
        response = await system.client.get(f"/files/download/{file['id']}", headers=header(token))
        assert response.status_code == 307, response.text
        return str(response.headers["location"])

    assert served_from(system, await download()) == "primary"

    # PRIMARY's copy of the file is bad: reads come from the next tier, which holds a verified copy.
    await apply(system, reports.replica_damaged, ReplicaDamaged(object_key=key, tier="primary", item_id=item.id))
    assert served_from(system, await download()) == replicas[0]
    info = await replication(system, token)
    assert figures(info, "primary") == (1, 10, 1, 100, 1)
    assert figures(info, replicas[0]) == (2, 110, 0, 0, 0)
    assert isinstance(info["by_tier"]["primary"]["replication_lag_seconds"], int)

    # Repaired: PRIMARY serves again, and owes nothing.
    await apply(system, reports.replica_repaired,
                ReplicaRepaired(object_key=key, tier="primary", size=100, item_id=item.id))
    assert served_from(system, await download()) == "primary"
    assert figures(await replication(system, token), "primary") == (2, 110, 0, 0, 0)

    # A replica's copy of the thumbnail is bad: that tier holds no verified copy of it until it is repaired.
    await apply(system, reports.replica_damaged, ReplicaDamaged(object_key=thumb, tier=replicas[0], item_id=item.id))
    detailed = (await system.client.get("/storage/detailed-usage", headers=header(token))).json()
    secondary = detailed["tier_breakdown"][replicas[0]]
    assert (secondary["usage"], secondary["objects"], secondary["verified_bytes"], secondary["owed_objects"],
            secondary["owed_bytes"], secondary["bad_copies"]) == (100, 1, 100, 1, 10, 1)
    assert detailed["tier_breakdown"]["primary"]["objects"] == 2
    assert detailed["quota_usage"]["used"] == 110  # the quota counts PRIMARY, whatever the replicas hold
    await apply(system, reports.replica_repaired,
                ReplicaRepaired(object_key=thumb, tier=replicas[0], size=10, item_id=item.id))
    assert figures(await replication(system, token), replicas[0]) == (2, 110, 0, 0, 0)

    # No good copy of the file left anywhere (reported on the bus, as the replicator does): never served.
    async with system.services["metadata"].app.state.runtime.db.transaction() as session:
        await emit(session, BUS, ObjectDamaged(object_key=key, item_id=item.id, owner_id=item.owner_id))
    async with asyncio.timeout(30):
        while (await replication(system, token))["damaged_objects"] != 1:
            await asyncio.sleep(0.05)
    refused = await system.client.get(f"/files/download/{file['id']}", headers=header(token))
    assert refused.status_code == 409
    answer = refused.json()
    assert (answer["code"], answer["message"]) == (
        "DAMAGED", "No good copy of this object is left; an operator has been told")
    assert set(answer) == {"code", "message", "requestId"}  # Ente's shape, not v1's envelope
    preview = await system.client.get(f"/files/preview/{file['id']}", headers=header(token))
    assert preview.status_code == 307  # the thumbnail is a good object of its own
    info = await replication(system, token)
    for tier in core.objects.tiers:  # a damaged object is owed by no tier: there is nothing to copy it from
        assert figures(info, tier) == (1, 10, 0, 0, 0), tier
    detailed = (await system.client.get("/storage/detailed-usage", headers=header(token))).json()
    assert detailed["replication_summary"]["damaged_objects"] == 1

    # A good copy restored by an operator and reported repaired: the object is served again.
    await apply(system, reports.replica_repaired,
                ReplicaRepaired(object_key=key, tier="primary", size=100, item_id=item.id))
    assert served_from(system, await download()) == "primary"
    info = await replication(system, token)
    assert info["damaged_objects"] == 0
    assert figures(info, "primary") == (2, 110, 0, 0, 0)
    assert figures(info, replicas[0]) == (1, 10, 1, 100, 0)  # owed its copy again


async def test_reports_arriving_out_of_order_leave_the_newest_in_force(system: RunningSystem) -> None:
    """Each kind of report has its own consumer, so a repair can be applied before the damage it mends."""
    token = await system.user_token("otto")
    album = await new_album(system, token)
    file = await commit(system, token, album, size=100, thumb=10)
    core = container(system)
    async with system.services["metadata"].app.state.runtime.db.transaction() as session:
        item = (await session.execute(select(Item).where(Item.id == file["id"]))).scalar_one()
    key, replica = str(item.object_key), next(t for t in core.objects.tiers if t != "primary")
    await until_replicated(system, token, 2)

    async def health() -> tuple[frozenset[str], bool]:
        async with system.services["metadata"].app.state.runtime.db.transaction() as session:
            found = await health_of(session, key)
        return found.bad_tiers, found.damaged

    for tier in ("primary", replica):
        damaged = ReplicaDamaged(object_key=key, tier=tier, item_id=item.id)
        repaired = ReplicaRepaired(object_key=key, tier=tier, size=100, item_id=item.id)
        await apply(system, core.reports.replica_repaired, repaired)
        await apply(system, core.reports.replica_damaged, damaged)  # found before the repair: old news
        assert await health() == (frozenset(), False), tier
        again = ReplicaDamaged(object_key=key, tier=tier, item_id=item.id)  # found bad again, after the repair
        await apply(system, core.reports.replica_damaged, again)
        assert await health() == (frozenset({tier}), False), tier
        await apply(system, core.reports.replica_repaired,
                    ReplicaRepaired(object_key=key, tier=tier, size=100, item_id=item.id))
    assert figures(await replication(system, token), replica)[:3] == (2, 110, 0)

    lost = ObjectDamaged(object_key=key, item_id=item.id, owner_id=item.owner_id)
    await apply(system, core.reports.replica_repaired,
                ReplicaRepaired(object_key=key, tier="primary", size=100, item_id=item.id))
    await apply(system, core.reports.object_damaged, lost)  # found before a good copy came back
    assert await health() == (frozenset(), False)
    assert (await system.client.get(f"/files/download/{file['id']}", headers=header(token))).status_code == 307


async def test_v1_views_fail_over_and_refuse_a_damaged_original(system: RunningSystem) -> None:
    token = await system.user_token("ines")
    uploaded = await upload(system.client, token, make_png(40, 30))
    body = await wait_processed(system.client, token, uploaded.image_id)
    item_id = parse_image_id(uploaded.image_id)
    reports = container(system).reports
    async with system.services["metadata"].app.state.runtime.db.transaction() as session:
        key = str((await session.execute(select(Item.object_key).where(Item.id == item_id))).scalar_one())
    replica = next(t for t in container(system).objects.tiers if t != "primary")
    objects = 1 + sum(1 for v in body["variants"] if v["status"] == "ready")
    size = int(body["original"]["size_bytes"])
    before = await until_replicated(system, token, objects)

    async def view(variant: str = "original") -> httpx.Response:
        return await system.client.get(f"/v1/images/{uploaded.image_id}:view", params={"variant": variant},
                                       headers=bearer(token))

    await apply(system, reports.replica_damaged, ReplicaDamaged(object_key=key, tier="primary", item_id=item_id))
    viewed = await view()
    assert viewed.status_code == 200, viewed.text
    assert served_from(system, viewed.json()["url"]) == replica
    await apply(system, reports.replica_repaired,
                ReplicaRepaired(object_key=key, tier="primary", size=size, item_id=item_id))
    assert served_from(system, (await view()).json()["url"]) == "primary"
    assert figures(await replication(system, token), "primary") == figures(before, "primary")

    await apply(system, reports.object_damaged, ObjectDamaged(object_key=key, item_id=item_id, owner_id=None))
    for route in (":view", ":download"):
        refused = await system.client.get(f"/v1/images/{uploaded.image_id}{route}", headers=bearer(token))
        assert refused.status_code == 409
        answer = refused.json()
        assert (answer["error"], answer["message"], answer["details"]) == (
            "DAMAGED", "No good copy of this object is left; an operator has been told", [])
        assert answer["requestId"]
    assert (await view("thumb")).status_code == 200
    info = await replication(system, token)
    assert info["damaged_objects"] == 1
    assert figures(info, replica)[:3] == (objects - 1, figures(before, replica)[1] - size, 0)
    shown = (await system.client.get(f"/v1/images/{uploaded.image_id}", headers=bearer(token))).json()
    assert [r for r in shown["replicas"] if r["object"] == "original"] == []  # no tier holds a verified copy



async def test_cl_media_streams_from_a_good_copy_and_refuses_a_damaged_one(system: RunningSystem) -> None:
    store = (await cl_callers(system, prefix="health")).editor
    png = make_png(32, 24)
    entity = await store.upload(png, filename="p.png", content_type="image/png")
    key, reports = str(entity.file_path), container(system).reports
    storage, db = container(system).objects.storage, system.services["metadata"].app.state.runtime.db
    replica = next(t for t in storage.tiers if t != "primary")
    async with asyncio.timeout(60):
        while True:
            async with db.transaction() as session:
                if await session.get(Copy, (key, replica)) is not None:
                    break
            await asyncio.sleep(0.05)

    # PRIMARY's copy rots and the scrubber says so: the media comes, exact, from the replica.
    await storage.primary.put_bytes(key, b"rotten" + png[6:])
    await apply(system, reports.replica_damaged, ReplicaDamaged(object_key=key, tier="primary", item_id=entity.id))
    assert await store.download(entity.id) == png
    await storage.primary.put_bytes(key, png)  # put right again, so the system's own scrubber finds nothing

    await apply(system, reports.object_damaged, ObjectDamaged(object_key=key, item_id=entity.id, owner_id=None))
    refused = await store.get_media(entity.id)
    assert refused.status_code == 409
    assert detail_of(refused) == "No good copy of this object is left; an operator has been told"
