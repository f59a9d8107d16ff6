"""The faults, each done for real to the running topology: a process killed with SIGKILL, the NATS and
PostgreSQL servers stopped and started again on their data and port, a tier's disk filled and freed, auth
gone while another service restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from dataclasses import dataclass, field
from enum import StrEnum

import httpx

from shoebox.chaos.topology import ServiceProcess, Topology
from shoebox.services import SERVICES
from shoebox.testing.flow import bearer
from shoebox.testing.outage import DiskOutage

# How long a killed process stays dead before it is started again: long enough for the load to hit the hole.
DEAD_SECONDS = 1.0


class FaultKind(StrEnum):
    KILL = "kill -9"
    NATS_DOWN = "NATS down"
    POSTGRES_DOWN = "PostgreSQL down"
    TIER_FULL = "SECONDARY full"
    AUTH_DOWN_RESTART = "auth down, metadata restarted"


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    seconds: float = 0.0  # how long an outage lasts; for kills, the pause between one kill and the next
    kills: int = 0

    @property
    def label(self) -> str:
        if self.kind is FaultKind.KILL:
            return f"{self.kind} x{self.kills}"
        return f"{self.kind} {self.seconds:g} s"


@dataclass
class Injected:
    """What happened during the fault (seconds from its start), and what went wrong that no later check
    would see."""

    seconds: float = 0.0
    events: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def note(self, event: str) -> None:
        self.events.append(f"{time.monotonic() - self.started:.1f} s: {event}")


async def inject(topology: Topology, fault: Fault, rng: random.Random, token: str) -> Injected:
    injected = Injected()
    loop = asyncio.get_running_loop()
    started = loop.time()
    if fault.kind is FaultKind.KILL:
        await _kills(topology, fault, rng, injected)
    elif fault.kind is FaultKind.NATS_DOWN:
        await asyncio.to_thread(topology.nats.stop)
        await asyncio.sleep(fault.seconds)
        await asyncio.to_thread(topology.nats.start)
    elif fault.kind is FaultKind.POSTGRES_DOWN:
        await asyncio.to_thread(topology.postgres.stop)
        await asyncio.sleep(fault.seconds)
        await asyncio.to_thread(topology.postgres.start)
    elif fault.kind is FaultKind.TIER_FULL:
        await _tier_full(topology, fault, injected)
    elif fault.kind is FaultKind.AUTH_DOWN_RESTART:
        await _auth_down_restart(topology, fault, rng, token, injected)
    injected.seconds = loop.time() - started
    return injected


async def _tier_full(topology: Topology, fault: Fault, injected: Injected) -> None:
    """SECONDARY's disk filled to the last byte, then the space freed. Where no disk of its own could be
    mounted (not root), the tier is made unwritable instead, and said so; under CI that is a failure."""
    disk = topology.full_disk
    if disk is None:
        injected.note(f"SECONDARY made unwritable instead of full: {topology.no_full_disk}")
        if os.environ.get("CI"):
            injected.problems.append(f"CI must fill a real disk: {topology.no_full_disk}")
        outage = DiskOutage(topology.tier_root(topology.config.bucket_secondary))
        outage.down()
        await asyncio.sleep(fault.seconds)
        outage.up()
        return
    took = await asyncio.to_thread(disk.fill)
    injected.note(f"SECONDARY full ({took / 2**20:.0f} MiB written to fill it)")
    if await _secondary_check(topology, failing=True):
        injected.note("replicator's /healthz: storage.secondary failing")
    else:
        injected.problems.append("replicator's /healthz did not see SECONDARY full")
    await asyncio.sleep(max(0.0, fault.seconds - (time.monotonic() - injected.started)))
    await asyncio.to_thread(disk.free)
    injected.note("SECONDARY space freed")


async def _secondary_check(topology: Topology, *, failing: bool, within: float = 10) -> bool:
    """Whether every replicator process's /healthz comes to call SECONDARY failing (or not) within `within`
    seconds (its write probe runs at most once a second here)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as client:
        for process in topology.processes["replicator"]:
            while True:
                with contextlib.suppress(httpx.TransportError, ValueError, KeyError):
                    checks = (await client.get(f"{process.url}/healthz")).json()["checks"]
                    if str(checks["storage.secondary"]).startswith("failing") is failing:
                        break
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(0.2)
    return True


def _targets(fault: Fault, rng: random.Random, topology: Topology) -> list[ServiceProcess]:
    """Every service in turn (in a random order), a random one of its processes each time."""
    order = list(SERVICES)
    rng.shuffle(order)
    return [rng.choice(topology.processes[order[n % len(order)]]) for n in range(fault.kills)]


async def _kills(topology: Topology, fault: Fault, rng: random.Random, injected: Injected) -> None:
    """One kill after another, `fault.seconds` apart; a killed process is started again at once and comes up
    while the next is killed. A process is only killed once the others of its service are up, so every
    service keeps one process serving (what two replicas promise; both gone is an outage)."""
    restarted: list[ServiceProcess] = []
    for process in _targets(fault, rng, topology):
        for sibling in topology.processes[process.service]:
            if sibling is not process:
                await sibling.wait_up()
        await process.wait_up()  # a process still starting after its last kill is not worth killing yet
        process.kill()
        injected.note(f"killed {process.name}")
        await asyncio.sleep(DEAD_SECONDS)
        process.start()
        restarted.append(process)
        await asyncio.sleep(fault.seconds)
    for process in restarted:
        await process.wait_up()
        injected.note(f"{process.name} up")


async def _auth_down_restart(topology: Topology, fault: Fault, rng: random.Random, token: str,
                             injected: Injected) -> None:
    for auth in topology.processes["auth"]:
        auth.kill()
    metadata = rng.choice(topology.processes["metadata"])
    metadata.kill()
    injected.note(f"auth killed; killed {metadata.name}")
    await asyncio.sleep(DEAD_SECONDS)
    metadata.start()
    try:
        await metadata.wait_up("/ping")
        injected.note(f"{metadata.name} answers")
        # The restarted process has only the keys it kept on disk to check a token with.
        if not await _accepts(metadata, token):
            injected.problems.append(f"{metadata.name}, restarted while auth was down, refused a valid token")
        injected.note(f"{metadata.name} took the token")
        # Auth stays down for the fault's length at least, however long the restart took.
        await asyncio.sleep(max(0.0, fault.seconds - (time.monotonic() - injected.started)))
    finally:
        for auth in topology.processes["auth"]:
            auth.start()
        for auth in topology.processes["auth"]:
            await auth.wait_up()
        injected.note("auth up")


async def _accepts(process: ServiceProcess, token: str, within: float = 30) -> bool:
    """Whether the process answers an authenticated read with 200 (it may need a moment after /ping)."""
    async with httpx.AsyncClient(timeout=5) as client:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                response = await client.get(f"{process.url}/v1/images", headers=bearer(token))
                if response.status_code == 200:
                    return True
                if response.status_code == 401:
                    return False
            except httpx.TransportError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.5)
