"""A clustered bus: the whole system on a three-server NATS cluster with every stream at three replicas loses
no event and applies none twice when the server leading the events stream is killed (SIGKILL) under a steady
stream of uploads and started again; and the Kubernetes manifests size the streams from the cluster."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from nats.js.api import ClusterInfo
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy import func, select

from shoebox.testing import RunningSystem, run_system
from shoebox.testing.flow import Uploaded, bearer, make_png, upload, wait_processed
from shoebox.testing.replicas import settled
from shoebox_compute.broker import automatic_jobs
from shoebox_compute.models import Job
from shoebox_lib.bus import Bus
from shoebox_lib.bus.connection import nats_servers
from shoebox_lib.bus.dead_letters import DeadLetters
from shoebox_lib.bus.topology import CONSUMERS, STREAMS, stream_name
from shoebox_lib.embedded.nats_cluster import NatsCluster
from shoebox_lib.ids import parse_image_id
from shoebox_lib.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
REPLICAS = 3
# Uploads completed before the kill, while one server is down, and after it is back: counts, never times.
BEFORE, WHILE_DOWN, AFTER = 4, 8, 4


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    servers = NatsCluster(tmp_path / "nats-cluster", size=REPLICAS)
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
async def clustered(cluster: NatsCluster, system_settings: Callable[..., Settings]
                    ) -> AsyncIterator[RunningSystem]:
    cold = "c-" + system_settings().bucket_primary.removeprefix("p-")  # a second replica tier
    settings = system_settings(nats_url=cluster.url, bus_stream_replicas=REPLICAS, bucket_cold=cold)
    # The streams and a consumer exist first at one replica, as on an installation that grew into a cluster:
    # the system starting at three must move them (the consumer follows its stream).
    single = Bus(settings.model_copy(update={"bus_stream_replicas": 1}))
    await single.connect()
    await single.ensure_consumer(CONSUMERS["compute-item-stored"])
    await single.close()
    async with run_system(settings) as running:
        yield running


async def replicated_everywhere(bus: Bus, *, within: float = 60) -> None:
    """Every stream and durable consumer at REPLICAS: a leader, and every other peer caught up."""
    def current(cluster_info: ClusterInfo | None) -> bool:
        peers = (cluster_info.replicas or []) if cluster_info else []
        return bool(cluster_info and cluster_info.leader) and len(peers) == REPLICAS - 1 and all(
            p.current for p in peers)

    async with asyncio.timeout(within):
        for spec in STREAMS:
            while True:
                info = await bus.js.stream_info(bus.stream_name(spec.name))
                assert info.config.num_replicas == REPLICAS
                if current(info.cluster):
                    break
                await asyncio.sleep(0.2)
        for durable in CONSUMERS.values():
            while True:
                try:
                    consumer = await bus.js.consumer_info(bus.stream_name(durable.stream), durable.durable)
                except NotFoundError:
                    # Not made yet: a cluster that has just formed can answer its service "insufficient
                    # resources" (503), and the service tries again a second later (a CI run saw it).
                    await asyncio.sleep(0.2)
                    continue
                if current(consumer.cluster):
                    break
                await asyncio.sleep(0.2)


class Load:
    """Uploads, `lanes` at a time, until stopped; each image different (its own size)."""

    def __init__(self, system: RunningSystem, token: str, lanes: int = 2) -> None:
        self.system, self.token = system, token
        self.done: list[tuple[Uploaded, int]] = []  # each completed upload and its size
        self._stopping = asyncio.Event()
        self._next = 0
        self._lanes = [asyncio.create_task(self._lane()) for _ in range(lanes)]

    async def _lane(self) -> None:
        while not self._stopping.is_set():
            n, self._next = self._next, self._next + 1
            data = make_png(48 + n % 40, 32 + n // 40)
            self.done.append((await upload(self.system.client, self.token, data, filename=f"n{n}.png"), len(data)))

    async def until(self, count: int) -> None:
        async with asyncio.timeout(120):
            while len(self.done) < count:
                self._check()
                await asyncio.sleep(0.05)

    def _check(self) -> None:
        for lane in self._lanes:
            if lane.done():
                lane.result()  # an upload that failed fails the test, with its own error

    async def stop(self) -> list[tuple[Uploaded, int]]:
        self._stopping.set()
        await asyncio.gather(*self._lanes)
        return self.done


async def test_a_killed_server_loses_no_event_and_applies_none_twice(
        clustered: RunningSystem, cluster: NatsCluster) -> None:
    system = clustered
    metadata = system.services["metadata"].runtime
    assert metadata is not None
    bus = metadata.bus
    await replicated_everywhere(bus)
    token = await system.user_token("clio")

    load = Load(system, token)
    await load.until(BEFORE)
    events = (await bus.js.stream_info(bus.stream_name("EVENTS"))).cluster
    leader = events.leader if events else None
    assert leader is not None
    victim = cluster.index_of(leader)
    cluster.kill(victim)
    await load.until(BEFORE + WHILE_DOWN)
    cluster.restart(victim)
    await cluster.wait_healthy(victim)
    await load.until(BEFORE + WHILE_DOWN + AFTER)
    done = await load.stop()

    # No event lost: every completed upload is stored, its variants made, and copied to every replica tier
    # once (the metadata's replicas name each object once per tier, and the replicator owes nothing).
    for uploaded, _ in done:
        await wait_processed(system.client, token, uploaded.image_id)
    await settled(system)  # COLD too, which wait_processed does not wait for
    for uploaded, _ in done:
        body = (await system.client.get(f"/v1/images/{uploaded.image_id}", headers=bearer(token))).json()
        made = sum(1 for v in body["variants"] if v["status"] == "ready")
        assert made == len(body["variants"]) >= 1, body
        for tier in ("secondary", "cold"):
            copies = Counter(r["object"] for r in body["replicas"] if r["tier"] == tier)
            assert copies == {"original": 1, "variant": made}, (tier, body["replicas"])

    # None applied twice: the account counts each original once and holds nothing back, and compute queued
    # each automatic job once per image.
    usage = (await system.client.get("/storage/usage", headers=bearer(token))).json()
    assert (usage["used"], usage["fileCount"], usage["reserved"]) == (sum(size for _, size in done), len(done), 0)
    compute = system.services["compute"].runtime
    assert compute is not None
    async with compute.db.transaction() as session:
        jobs = Counter((item_id, task_type, params.get("variant")) for item_id, task_type, params in (
            await session.execute(select(Job.item_id, Job.task_type, Job.params))).all())
    expected = sorted((str(task), params.get("variant")) for task, params in automatic_jobs())
    per_item: dict[int | None, list[tuple[str, str | None]]] = {}
    for (item_id, task_type, variant), count in jobs.items():
        assert count == 1, (item_id, task_type, variant, count)
        per_item.setdefault(item_id, []).append((task_type, variant))
    assert {parse_image_id(u.image_id) for u, _ in done} == set(per_item)
    assert all(sorted(found) == expected for found in per_item.values()), per_item

    # Nothing given up on, nothing left to send, and the restarted server is a current replica again.
    assert await DeadLetters(bus).list() == []
    await outboxes_empty(system)
    await replicated_everywhere(bus)


async def outboxes_empty(system: RunningSystem, within: float = 60) -> None:
    async with asyncio.timeout(within):
        for name, service in system.services.items():
            runtime = service.runtime
            if runtime is None:
                continue
            while True:
                async with runtime.db.transaction() as session:
                    left = (await session.execute(
                        select(func.count()).select_from(runtime.tables.outbox))).scalar_one()
                if not left:
                    break
                await asyncio.sleep(0.1)
            assert not left, name


def test_a_comma_separated_nats_url_lists_every_server() -> None:
    assert nats_servers("nats://a:4222, nats://b:4222,") == ["nats://a:4222", "nats://b:4222"]
    assert nats_servers("nats://a:4222") == ["nats://a:4222"]
    config = STREAMS[0].config("shoebox", 3)
    assert (config.name, config.num_replicas) == (stream_name("shoebox", "EVENTS"), 3)
    assert Settings().bus_stream_replicas == 1
    with pytest.raises(ValidationError, match="less than or equal to 5"):
        Settings(bus_stream_replicas=7)


def _k8s(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((ROOT / "deploy/k8s" / name).read_text()))


def test_k8s_streams_are_replicated_by_the_cluster_size() -> None:
    """One size, followed everywhere: the StatefulSet's replicas, a route to each server, the replicas of
    Shoebox's streams and of MQTT's (min(size, 3)), and a disruption budget that keeps their quorum."""
    nats_docs = {(doc["kind"], doc["metadata"]["name"]): doc for doc in _k8s("20-nats.yaml")}
    size = nats_docs[("StatefulSet", "nats")]["spec"]["replicas"]
    replicas = min(size, 3)
    conf = nats_docs[("ConfigMap", "nats-config")]["data"]["nats.conf"]
    routes = re.findall(r"nats://(nats-\d+)\.nats-headless:6222", conf)
    assert routes == [f"nats-{i}" for i in range(size)]
    mqtt = re.search(r"^mqtt \{(.*?)^\}", conf, re.S | re.M)
    assert mqtt is not None
    assert re.findall(r"stream_replicas: (\d+)", mqtt.group(1)) == [str(replicas)]
    assert nats_docs[("PodDisruptionBudget", "nats")]["spec"]["maxUnavailable"] == (replicas - 1) // 2
    config = _k8s("10-config.yaml")[0]["data"]
    assert config["SHOEBOX_BUS_STREAM_REPLICAS"] == str(replicas)
    assert Settings(bus_stream_replicas=config["SHOEBOX_BUS_STREAM_REPLICAS"]).bus_stream_replicas == replicas
