"""A chaos run: the load started, a fault injected under it, the load stopped (its uploads under way
finished), then the checks polled until they all hold; one report row per fault."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from shoebox.chaos.checks import converge
from shoebox.chaos.faults import Fault, FaultKind, inject
from shoebox.chaos.load import Completed, Endpoints, Uploader, sign_in
from shoebox.chaos.report import Row
from shoebox.chaos.topology import Topology

log = logging.getLogger("shoebox.chaos")


@dataclass(frozen=True)
class Plan:
    faults: tuple[Fault, ...]
    rate: float  # uploads started per second
    warmup_seconds: float  # load before the fault, so it strikes uploads under way
    converge_within: float  # seconds after the fault for every check to hold
    upload_deadline: float  # how long the client keeps trying one upload


BOUNDED = Plan(
    faults=(Fault(FaultKind.KILL, seconds=1.0, kills=5), Fault(FaultKind.NATS_DOWN, 10),
            Fault(FaultKind.POSTGRES_DOWN, 10), Fault(FaultKind.TIER_FULL, 10),
            Fault(FaultKind.AUTH_DOWN_RESTART, 10)),
    rate=2.0, warmup_seconds=3.0, converge_within=120.0, upload_deadline=120.0)

FULL = Plan(
    faults=(Fault(FaultKind.KILL, seconds=3.0, kills=12), Fault(FaultKind.NATS_DOWN, 30),
            Fault(FaultKind.NATS_DOWN, 120), Fault(FaultKind.POSTGRES_DOWN, 15), Fault(FaultKind.POSTGRES_DOWN, 120),
            Fault(FaultKind.TIER_FULL, 30), Fault(FaultKind.AUTH_DOWN_RESTART, 30)),
    rate=3.0, warmup_seconds=5.0, converge_within=300.0, upload_deadline=300.0)


@dataclass
class Session:
    """One topology, one user, and every upload completed on it so far (each check covers them all)."""

    topology: Topology
    plan: Plan
    token: str
    rng: random.Random = field(default_factory=lambda: random.Random(15))
    completed: list[Completed] = field(default_factory=list)

    @classmethod
    async def open(cls, topology: Topology, plan: Plan) -> Session:
        settings = topology.config
        assert settings.admin_password is not None
        token = await sign_in(_endpoints(topology), settings.admin_email, settings.admin_password, "chaos")
        return cls(topology, plan, token)

    async def run(self, fault: Fault) -> Row:
        uploader = Uploader(_endpoints(self.topology), self.token, rate=self.plan.rate,
                            upload_deadline=self.plan.upload_deadline)
        uploader.start()
        try:
            await asyncio.sleep(self.plan.warmup_seconds)
            injected = await inject(self.topology, fault, self.rng, self.token)
        finally:
            ended = time.monotonic()
            result = await uploader.stop()
        self.completed.extend(result.completed)
        verdict, _ = await converge(self.topology, self.completed,
                                    within=self.plan.converge_within - (time.monotonic() - ended))
        convergence = time.monotonic() - ended if verdict.ok else None
        own = {c.image_id for c in result.completed}
        row = Row(fault=fault.label, seconds=injected.seconds, attempted=result.attempted,
                  completed=len(result.completed), verified=len(own & verdict.verified),
                  lost=len(own - verdict.verified), duplicated=verdict.duplicated,
                  dead_letters=verdict.dead_letters, convergence=convergence, gave_up=dict(result.gave_up),
                  problems=[*injected.problems, *verdict.problems()])
        log.info("%s: %s; %s", fault.label, row, "; ".join(injected.events))
        return row


def _endpoints(topology: Topology) -> Endpoints:
    return Endpoints(auth=topology.url("auth"), metadata=topology.url("metadata"), uploads=topology.url("uploads"))


async def run_plan(plan: Plan, *, keep: bool = False) -> list[Row]:
    rows = []
    async with Topology(keep=keep) as topology:
        session = await Session.open(topology, plan)
        for fault in plan.faults:
            rows.append(await session.run(fault))
    return rows
